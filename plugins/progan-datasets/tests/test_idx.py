"""The idx reader: exact round trips, plain and gzip, and a DataError naming the file for each defect."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from progan.errors import DataError
from progan_datasets.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_images_round_trip(tmp_path: Path, write_idx, images: np.ndarray, name: str) -> None:
    loaded = read_idx(write_idx(tmp_path / name, images), magic=IMAGES_MAGIC)
    assert loaded.dtype == np.uint8 and loaded.flags.writeable
    np.testing.assert_array_equal(loaded, images)


def test_labels_round_trip(tmp_path: Path, write_idx) -> None:
    labels = np.array([3, 0, 9, 9, 1], np.uint8)
    path = write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    np.testing.assert_array_equal(read_idx(path, magic=LABELS_MAGIC), labels)


def test_gzip_detected_by_content_not_name(tmp_path: Path, write_idx, images: np.ndarray) -> None:
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images).rename(tmp_path / "train-images-idx3-ubyte")
    np.testing.assert_array_equal(read_idx(path, magic=IMAGES_MAGIC), images)


def test_labels_file_given_as_images(tmp_path: Path, write_idx) -> None:
    path = write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: wrong magic number 0x00000801.*it holds labels"):
        read_idx(path, magic=IMAGES_MAGIC)


def test_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x89PNG" + bytes(100))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: wrong magic number 0x89504e47, expected 0x00000803"):
        read_idx(path, magic=IMAGES_MAGIC)


def test_truncated_data(tmp_path: Path, write_idx, images: np.ndarray) -> None:
    path = write_idx(tmp_path / "train-images-idx3-ubyte", images)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated: the header says \(5, 28, 28\)"):
        read_idx(path, magic=IMAGES_MAGIC)


def test_truncated_header(tmp_path: Path, write_idx, images: np.ndarray) -> None:
    path = write_idx(tmp_path / "train-images-idx3-ubyte", images)
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated: 10 bytes"):
        read_idx(path, magic=IMAGES_MAGIC)


def test_truncated_gzip(tmp_path: Path, write_idx, images: np.ndarray) -> None:
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: corrupt or truncated gzip data"):
        read_idx(path, magic=IMAGES_MAGIC)


def test_trailing_bytes(tmp_path: Path, write_idx, images: np.ndarray) -> None:
    path = write_idx(tmp_path / "train-images-idx3-ubyte", images)
    path.write_bytes(path.read_bytes() + bytes(7))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: 7 bytes follow"):
        read_idx(path, magic=IMAGES_MAGIC)
