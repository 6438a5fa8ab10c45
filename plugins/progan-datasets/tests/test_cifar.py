"""CIFAR binary-version readers: exact round trips, RGB plane order, splits and clear errors."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from progan.errors import DataError
from progan_datasets.cifar import cifar10, cifar100


def batch(count: int, *, seed: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Random images uint8 [count, 32, 32, 3] and labels below ``classes``."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), rng.integers(0, classes, count, dtype=np.uint8)


def write_records(path: Path, images: np.ndarray, *label_columns: np.ndarray) -> None:
    """Records as the binary version stores them: label byte(s), then the R, G and B planes."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    path.write_bytes(np.concatenate([np.stack(label_columns, axis=1), planes], axis=1).astype(np.uint8).tobytes())


@pytest.fixture
def cifar10_dir(tmp_path: Path) -> Path:
    """An extracted cifar-10-batches-bin folder: batches 1–5 with 2 images each, a test batch of 3."""
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for i in range(1, 6):
        write_records(folder / f"data_batch_{i}.bin", *batch(2, seed=i, classes=10))
    write_records(folder / "test_batch.bin", *batch(3, seed=0, classes=10))
    return folder


def train10() -> tuple[np.ndarray, np.ndarray]:
    parts = [batch(2, seed=i, classes=10) for i in range(1, 6)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def test_cifar10_train_round_trips_in_batch_order(cifar10_dir: Path) -> None:
    images, labels = train10()
    data = cifar10(str(cifar10_dir), resolution=32)
    assert data.images.shape == (10, 32, 32, 3) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images, images)
    assert data.labels.dtype == np.int64
    np.testing.assert_array_equal(data.labels, labels)


def test_planes_are_red_green_blue(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    record = np.zeros(2 + 3072, np.uint8)
    record[2:1026], record[1026:2050], record[2050:] = 10, 20, 30  # R plane, G plane, B plane
    record[2 + 5] = 200  # red, row 0, column 5
    (folder / "train.bin").write_bytes(record.tobytes())
    image = cifar100(str(folder), resolution=32).images[0]
    assert tuple(image[1, 1]) == (10, 20, 30) and tuple(image[0, 5]) == (200, 20, 30)


@pytest.mark.parametrize("split", ["test", "t10k"])
def test_cifar10_test_split(cifar10_dir: Path, split: str) -> None:
    images, labels = batch(3, seed=0, classes=10)
    data = cifar10(f"{cifar10_dir}:{split}", resolution=32)
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.labels, labels)


def test_cifar10_all_from_the_parent_folder(cifar10_dir: Path) -> None:
    images, labels = train10()
    test_images, test_labels = batch(3, seed=0, classes=10)
    data = cifar10(f"{cifar10_dir.parent}:all", resolution=32)
    np.testing.assert_array_equal(data.images, np.concatenate([images, test_images]))
    np.testing.assert_array_equal(data.labels, np.concatenate([labels, test_labels]))


def test_cifar100_keeps_the_fine_labels(tmp_path: Path) -> None:
    images, fine = batch(4, seed=9, classes=100)
    coarse = fine // 5
    write_records(tmp_path / "test.bin", images, coarse, fine)
    data = cifar100(f"{tmp_path}:test", resolution=32)
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.labels, fine)


def test_length_not_a_multiple_of_the_record(cifar10_dir: Path) -> None:
    path = cifar10_dir / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"data_batch_3.bin: 6046 bytes is not a whole number of 3073-byte CIFAR-10 records"):
        cifar10(str(cifar10_dir), resolution=32)


def test_cifar10_files_given_to_cifar100(cifar10_dir: Path) -> None:
    (cifar10_dir / "test_batch.bin").rename(cifar10_dir / "test.bin")  # 3 × 3073 bytes: no whole 3074-byte record
    with pytest.raises(DataError, match=r"test.bin: 9219 bytes is not a whole number of 3074-byte CIFAR-100 records"):
        cifar100(f"{cifar10_dir}:test", resolution=32)


def test_label_out_of_range(tmp_path: Path) -> None:
    images, labels = batch(3, seed=1, classes=10)
    labels[1] = 42
    write_records(tmp_path / "test_batch.bin", images, labels)
    with pytest.raises(DataError, match=r"test_batch.bin: record 1 has label 42, outside 0–9"):
        cifar10(f"{tmp_path}:test", resolution=32)


def test_missing_batch_file(cifar10_dir: Path) -> None:
    (cifar10_dir / "data_batch_4.bin").unlink()
    with pytest.raises(DataError, match=r"data_batch_4.bin: missing; extract cifar-10-binary.tar.gz"):
        cifar10(str(cifar10_dir), resolution=32)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'nowhere'}: no such directory")):
        cifar100(f"{tmp_path / 'nowhere'}:train", resolution=32)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "test.bin").write_bytes(b"")
    with pytest.raises(DataError, match=r"test.bin: 0 bytes"):
        cifar100(f"{tmp_path}:test", resolution=32)
