"""Safetensors files: atomic writes, one validated reader, optimizer and RNG state as tensors + JSON.

No pickle anywhere: tensors go in the safetensors body, everything else in its string metadata.
See docs/formats.md for the tensor names and metadata keys.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import struct
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import safetensors.torch
import torch

from progan.errors import CheckpointError

CHECKPOINT_FORMAT = "progan-checkpoint"
EXPORT_FORMAT = "progan-generator"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit; refuse larger before reading


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one, never a part.

    A failed write (full disk, no permission) removes its temporary file, leaves the old file as
    it was and raises CheckpointError naming the path and the fix.  A kill -9 can leave a
    ``.NAME.*.tmp`` file behind; :func:`remove_stale_tmp` clears those when a run resumes.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise write_error(path, exc) from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


TMP_SUFFIX = ".tmp"


def write_error(path: str | Path, exc: OSError) -> CheckpointError:
    """One line for a failed write: the path, the reason and the fix."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fix = "free disk space or choose another --out"
    else:
        fix = "make the folder writable or choose another --out"
    return CheckpointError(f"{path}: cannot write ({reason}); {fix}")


def remove_stale_tmp(folder: str | Path) -> int:
    """Delete the temporary files an interrupted :func:`write_atomic` left in ``folder``; returns how many."""
    removed = 0
    for stale in Path(folder).glob(f".*{TMP_SUFFIX}"):
        if stale.is_file():
            stale.unlink(missing_ok=True)
            removed += 1
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """A safetensors file with string metadata, written atomically."""
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    metadata = {**metadata, CHECKSUM_KEY: tensors_digest(cpu)}
    write_atomic(path, safetensors.torch.save(cpu, metadata=metadata))


CHECKSUM_KEY = "tensors_sha256"  # over names, dtypes, shapes and bytes: catches bit rot the header checks cannot


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of the tensors in name order (name, dtype, shape, then the raw bytes)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def read(path: str | Path, *, formats: tuple[str, ...] = (CHECKPOINT_FORMAT, EXPORT_FORMAT)) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a progan safetensors file, validated before anything is trusted."""
    path = Path(path)
    metadata = read_progan_metadata(path, formats=formats)
    try:
        tensors = safetensors.torch.load_file(str(path))
    except Exception as exc:  # safetensors raises SafetensorError / OSError for damaged bodies
        raise CheckpointError(f"{path}: damaged safetensors body ({exc}); use an earlier checkpoint") from None
    expected = metadata.get(CHECKSUM_KEY)
    if expected is not None and tensors_digest(tensors) != expected:
        raise CheckpointError(f"{path}: tensor data does not match its checksum (the file is damaged); use an earlier checkpoint")
    return tensors, metadata


def read_progan_metadata(path: str | Path, *, formats: tuple[str, ...] = (CHECKPOINT_FORMAT, EXPORT_FORMAT)) -> dict[str, str]:
    """The metadata of a progan file of one of ``formats`` and a version this progan reads; no tensors are loaded."""
    path = Path(path)
    metadata = read_metadata(path)
    found = metadata.get("format")
    if found not in formats:
        raise CheckpointError(f"{path}: not a progan file of kind {' or '.join(formats)} (format is {found!r})")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise CheckpointError(f"{path}: metadata 'format_version' is missing or not an integer") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version} is newer than this progan reads ({FORMAT_VERSION}); upgrade progan")
    return metadata


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file, checking the header's size and JSON first."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise CheckpointError(f"{path}: file is truncated ({size} bytes); use an earlier checkpoint")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > MAX_HEADER_BYTES or header_len > size - 8:
                raise CheckpointError(f"{path}: corrupt safetensors header (claims {header_len} bytes, file has {size}); use an earlier checkpoint")
            header = json.loads(handle.read(header_len))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a folder; give a .safetensors file (or a run folder to --resume)") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{path}: corrupt safetensors header (not JSON); use an earlier checkpoint") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header ('__metadata__' is not a table); use an earlier checkpoint")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets) and offsets[0] <= offsets[1]):
            raise CheckpointError(f"{path}: corrupt safetensors header (entry {name[:80]!r} has no valid data_offsets); use an earlier checkpoint")
        end = max(end, offsets[1])
    if 8 + header_len + end > size:
        raise CheckpointError(f"{path}: file is truncated (tensors need {8 + header_len + end} bytes, file has {size}); use an earlier checkpoint")
    return {str(k): str(v) for k, v in metadata.items()}


def json_field(metadata: Mapping[str, str], key: str, path: str | Path) -> Any:
    try:
        return json.loads(metadata[key])
    except KeyError:
        raise CheckpointError(f"{path}: metadata key {key!r} is missing") from None
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: metadata key {key!r} is not valid JSON") from None


# -- modules, optimizers, RNGs as tensors ---------------------------------------------------------


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{name}": t for name, t in module.state_dict().items()}


def load_module(prefix: str, module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Load ``prefix.*`` tensors into ``module``, naming missing/unexpected keys and shape mismatches."""
    own = module.state_dict()
    found = {name[len(prefix) + 1 :]: t for name, t in tensors.items() if name.startswith(prefix + ".")}
    missing, unexpected = sorted(set(own) - set(found)), sorted(set(found) - set(own))
    if missing or unexpected:
        detail = "; ".join(p for p in (f"missing {missing[:3]}" if missing else "", f"unexpected {unexpected[:3]}" if unexpected else "") if p)
        raise CheckpointError(f"{path}: tensors for {prefix} do not fit the network its config builds ({detail})")
    for name, tensor in found.items():
        if tensor.shape != own[name].shape:
            raise CheckpointError(
                f"{path}: tensor {prefix}.{name} has shape {tuple(tensor.shape)} but the config builds {tuple(own[name].shape)}"
            )
    module.load_state_dict(found)


def optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """The optimizer's per-parameter state as tensors, and its param groups as JSON-ready data."""
    state = optimizer.state_dict()
    tensors = {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            tensors[f"{prefix}.{index}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, state["param_groups"]


def load_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor], groups: list[dict]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = tensor
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The global torch, numpy and python RNG states (tensors and JSON)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    tensors = {"rng.torch": torch.get_rng_state(), "rng.numpy_keys": torch.from_numpy(keys.astype(np.int64))}
    return tensors, {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [version, list(internal), gauss]}


def set_rng_state(tensors: Mapping[str, torch.Tensor], state: Mapping[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    kind, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, tensors["rng.numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
