"""The idx file format of MNIST, Fashion-MNIST and EMNIST, plain or gzip-compressed."""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from progan.errors import DataError

# Magic number = two zero bytes, the element type (0x08: unsigned byte) and the number of dimensions.
IMAGES_MAGIC = 0x00000803  # uint8 [N, rows, cols]
LABELS_MAGIC = 0x00000801  # uint8 [N]
_KIND = {IMAGES_MAGIC: "images (*-images-idx3-ubyte)", LABELS_MAGIC: "labels (*-labels-idx1-ubyte)"}
_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The content of ``path``, decompressed when it is gzip data (told by its content, not its name)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); check the path and its permissions") from exc
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip data ({exc}); download the file again") from exc


def read_idx(path: Path, *, magic: int) -> np.ndarray:
    """The uint8 array of the idx file ``path``, whose header must carry ``magic``."""
    data = read_bytes(path)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    found = int.from_bytes(data[:4], "big")
    if len(data) >= 4 and found != magic:
        hint = f"it holds {_KIND[found]}" if found in _KIND else "it is not an idx file of that kind"
        raise DataError(f"{path}: wrong magic number 0x{found:08x}, expected 0x{magic:08x} for idx {_KIND[magic]}; {hint}")
    if len(data) < header:
        raise DataError(f"{path}: truncated: {len(data)} bytes, fewer than its {header}-byte idx header; download the file again")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size, body = math.prod(dims), len(data) - header
    if body < size:
        raise DataError(f"{path}: truncated: the header says {dims} ({size} bytes) but {body} follow; download the file again")
    if body > size:
        raise DataError(f"{path}: {body - size} bytes follow the {dims} data its header describes; the file is corrupt")
    # A copy, so that the array is writable (torch.from_numpy warns on read-only buffers).
    return np.frombuffer(data, np.uint8, count=size, offset=header).reshape(dims).copy()
