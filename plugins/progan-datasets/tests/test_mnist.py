"""MNIST-family datasets: file discovery, splits, padding to 32×32, EMNIST orientation and clear errors."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from progan.errors import ConfigError, DataError
from progan_datasets.mnist import emnist, fashion_mnist, mnist


def digits(count: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random 28×28 uint8 images and labels 0–9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 28, 28), dtype=np.uint8), rng.integers(0, 10, count, dtype=np.uint8)


def padded(images: np.ndarray) -> np.ndarray:
    """What the reader should return for 28×28 images: centred in a zero 32×32 frame, one channel."""
    return np.pad(images, [(0, 0), (2, 2), (2, 2)])[..., None]


@pytest.fixture
def mnist_dir(tmp_path: Path, write_idx) -> Path:
    """Standard MNIST names: 4 train images (gzip) and 3 test images (plain)."""
    for prefix, suffix, (images, labels) in (("train", ".gz", digits(4, seed=1)), ("t10k", "", digits(3, seed=2))):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return tmp_path


def test_train_is_the_default_and_round_trips(mnist_dir: Path) -> None:
    images, labels = digits(4, seed=1)
    data = mnist(str(mnist_dir), resolution=32)
    assert data.images.shape == (4, 32, 32, 1) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images, padded(images))
    assert data.labels.dtype == np.int64
    np.testing.assert_array_equal(data.labels, labels)
    assert data.source == f"mnist:{mnist_dir}"


def test_padding_is_a_centred_zero_frame(mnist_dir: Path) -> None:
    data = mnist(str(mnist_dir), resolution=32)
    frame = np.ones((32, 32), bool)
    frame[2:30, 2:30] = False
    assert not data.images[:, frame].any()


@pytest.mark.parametrize("selector", ["test", "t10k"])
def test_test_split(mnist_dir: Path, selector: str) -> None:
    images, labels = digits(3, seed=2)
    data = fashion_mnist(f"{mnist_dir}:{selector}", resolution=32)
    np.testing.assert_array_equal(data.images, padded(images))
    np.testing.assert_array_equal(data.labels, labels)


def test_all_split_is_train_then_test(mnist_dir: Path) -> None:
    (train, train_labels), (test, test_labels) = digits(4, seed=1), digits(3, seed=2)
    data = mnist(f"{mnist_dir}:all", resolution=32)
    np.testing.assert_array_equal(data.images, padded(np.concatenate([train, test])))
    np.testing.assert_array_equal(data.labels, np.concatenate([train_labels, test_labels]))


def test_dotted_names(tmp_path: Path, write_idx) -> None:
    images, labels = digits(2, seed=3)
    write_idx(tmp_path / "train-images.idx3-ubyte", images)
    write_idx(tmp_path / "train-labels.idx1-ubyte", labels)
    data = mnist(str(tmp_path), resolution=32)
    np.testing.assert_array_equal(data.images, padded(images))
    np.testing.assert_array_equal(data.labels, labels)


def test_images_file_directly(mnist_dir: Path) -> None:
    images, labels = digits(3, seed=2)
    data = mnist(str(mnist_dir / "t10k-images-idx3-ubyte"), resolution=32)
    np.testing.assert_array_equal(data.images, padded(images))
    np.testing.assert_array_equal(data.labels, labels)


def test_images_file_without_labels_loads_unlabelled(tmp_path: Path, write_idx) -> None:
    images, _ = digits(2, seed=4)
    data = mnist(str(write_idx(tmp_path / "my-images-idx3-ubyte.gz", images)), resolution=32)
    np.testing.assert_array_equal(data.images, padded(images))
    assert data.labels is None


def test_power_of_two_images_are_not_padded(tmp_path: Path, write_idx) -> None:
    images = np.random.default_rng(5).integers(0, 256, (2, 32, 32), dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, 2], np.uint8))
    np.testing.assert_array_equal(mnist(str(tmp_path), resolution=32).images, images[..., None])


@pytest.fixture
def emnist_dir(tmp_path: Path, write_idx) -> Path:
    """Two EMNIST subsets, each image stored transposed (column by column) as EMNIST does."""
    upright = np.zeros((1, 28, 28), np.uint8)
    upright[0, 0, :] = 255  # a bar along the top row: transposed, it runs down the left column
    for subset in ("letters", "digits"):
        for split in ("train", "test"):
            write_idx(tmp_path / f"emnist-{subset}-{split}-images-idx3-ubyte.gz", upright.transpose(0, 2, 1))
            write_idx(tmp_path / f"emnist-{subset}-{split}-labels-idx1-ubyte.gz", np.array([7], np.uint8))
    return tmp_path


def test_emnist_orientation_is_fixed(emnist_dir: Path) -> None:
    image = emnist(f"{emnist_dir / 'emnist-letters'}:test", resolution=32).images[0, ..., 0]
    assert (image[2, 2:30] == 255).all()  # the top row of the 28×28 image, after the 2-pixel frame
    assert image.sum() == 28 * 255


def test_emnist_file_directly_is_transposed(emnist_dir: Path) -> None:
    path = emnist_dir / "emnist-digits-train-images-idx3-ubyte.gz"
    assert (emnist(str(path), resolution=32).images[0, 2, 2:30, 0] == 255).all()
    assert (mnist(str(path), resolution=32).images[0, 2:30, 2, 0] == 255).all()  # mnist keeps the stored order


def test_several_sets_ask_for_a_prefix(emnist_dir: Path) -> None:
    with pytest.raises(DataError, match=r"holds several sets.*emnist-digits.*emnist-letters"):
        emnist(str(emnist_dir), resolution=32)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'nowhere' / 'fashion'}: no such directory")):
        fashion_mnist(str(tmp_path / "nowhere" / "fashion"), resolution=32)


def test_directory_without_idx_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(f"{tmp_path}: no idx images files found")):
        mnist(str(tmp_path), resolution=32)


def test_count_mismatch_names_both_files(tmp_path: Path, write_idx) -> None:
    images, labels = digits(4, seed=6)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels[:3])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: 3 labels for the 4 images of .*train-images-idx3-ubyte.gz"):
        mnist(str(tmp_path), resolution=32)


def test_missing_labels_in_a_directory(tmp_path: Path, write_idx) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", digits(2, seed=7)[0])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: no labels file beside it"):
        mnist(str(tmp_path), resolution=32)


def test_missing_split(tmp_path: Path, write_idx) -> None:
    images, labels = digits(2, seed=8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError, match=r"no test images file t10k-images-idx3-ubyte\[.gz\]"):
        mnist(f"{tmp_path}:test", resolution=32)


def test_bad_magic_in_a_directory_names_the_file(mnist_dir: Path) -> None:
    (mnist_dir / "t10k-images-idx3-ubyte").write_bytes(bytes(64))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: wrong magic number"):
        mnist(f"{mnist_dir}:test", resolution=32)


def test_truncated_file_in_a_directory_names_it(mnist_dir: Path) -> None:
    path = mnist_dir / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: truncated"):
        mnist(f"{mnist_dir}:test", resolution=32)


@pytest.mark.parametrize(
    ("argument", "message"),
    [("", "needs a directory"), (":train", "names a split but no directory")],
)
def test_bad_arguments(argument: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        mnist(argument, resolution=32)


def test_unknown_split_is_a_config_error(mnist_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown split 'tset'"):
        mnist(f"{mnist_dir}:tset", resolution=32)


def test_split_selector_on_a_file(mnist_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"selector needs a directory"):
        mnist(f"{mnist_dir / 't10k-images-idx3-ubyte'}:test", resolution=32)
