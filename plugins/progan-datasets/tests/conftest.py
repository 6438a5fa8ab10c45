"""Shared fixture: writing idx files of known content."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Callable

import numpy as np
import pytest


@pytest.fixture
def write_idx() -> Callable[[Path, np.ndarray], Path]:
    """A writer of uint8 arrays as idx files, gzip-compressed when the name ends in .gz."""

    def write(path: Path, array: np.ndarray) -> Path:
        header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
        data = header + array.astype(np.uint8).tobytes()
        path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
        return path

    return write
