"""Real images: reading folders and arrays, fitting to size, the box-filtered pyramid and the index stream."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from progan.data import ImageSet, IndexStream, Pyramid, convert_channels, fit_array, prepare, read_path
from progan.errors import DataError


def random_images(n: int, size: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


# -- reading ------------------------------------------------------------------------------------------------


def test_read_folder_finds_png_and_jpeg_recursively_in_name_order(tmp_path):
    images = random_images(3, 8, 3)
    (tmp_path / "a" / "deeper").mkdir(parents=True)
    Image.fromarray(images[0]).save(tmp_path / "a" / "0.png")
    Image.fromarray(images[1]).save(tmp_path / "a" / "deeper" / "1.png")
    smooth = np.full((8, 8, 3), (200, 40, 90), np.uint8)  # JPEG is lossy; a flat colour survives it
    Image.fromarray(smooth).save(tmp_path / "b.JPG", quality=95)
    (tmp_path / "notes.txt").write_text("not an image")
    result = read_path(tmp_path)
    assert result.images.shape == (3, 8, 8, 3) and result.images.dtype == np.uint8
    assert np.array_equal(result.images[0], images[0]) and np.array_equal(result.images[1], images[1])  # PNG is exact
    assert np.abs(result.images[2].astype(int) - smooth).max() <= 3


def test_read_folder_of_grayscale_pngs_stays_one_channel(tmp_path):
    images = random_images(2, 8, 1)
    for i, image in enumerate(images):
        Image.fromarray(image[..., 0]).save(tmp_path / f"{i}.png")
    result = read_path(tmp_path)
    assert result.images.shape == (2, 8, 8, 1) and np.array_equal(result.images, images)


def test_read_folder_mixing_gray_and_rgb_gives_rgb(tmp_path):
    gray = random_images(1, 8, 1)[0, ..., 0]
    Image.fromarray(gray).save(tmp_path / "0.png")
    Image.fromarray(random_images(1, 8, 3)[0]).save(tmp_path / "1.png")
    result = read_path(tmp_path)
    assert result.images.shape == (2, 8, 8, 3)
    assert all(np.array_equal(result.images[0, ..., c], gray) for c in range(3))


def test_unreadable_files_are_skipped_with_a_warning_or_refused_when_strict(tmp_path):
    Image.fromarray(random_images(1, 8, 3)[0]).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        assert len(read_path(tmp_path).images) == 1
    with pytest.raises(DataError, match="broken.png: unreadable image"):
        read_path(tmp_path, strict=True)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_read_arrays_in_either_layout_with_one_or_three_channels(tmp_path, channels, layout, suffix):
    nhwc = random_images(5, 8, channels)
    stored = nhwc if layout == "NHWC" else nhwc.transpose(0, 3, 1, 2)
    path = tmp_path / f"images{suffix}"
    np.savez(path, images=stored) if suffix == ".npz" else np.save(path, stored)
    result = read_path(path)
    assert np.array_equal(result.images, nhwc)


def test_read_npz_takes_labels_and_a_grayscale_nhw_array(tmp_path):
    images = random_images(4, 8, 1)[..., 0]  # [N, H, W]
    np.savez(tmp_path / "d.npz", images=images, labels=np.array([0, 1, 1, 3]))
    result = read_path(tmp_path / "d.npz")
    assert result.images.shape == (4, 8, 8, 1) and result.labels.tolist() == [0, 1, 1, 3]


@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p / "x.npy", np.zeros((2, 8, 8, 3), np.float32)), "must be uint8"),
    (lambda p: np.save(p / "x.npy", np.zeros((2, 8, 8, 5), np.uint8)), "1 or 3 channels"),
    (lambda p: np.save(p / "x.npy", np.zeros((0, 8, 8, 3), np.uint8)), "holds no images"),
    (lambda p: (p / "x.npy").write_bytes(b"garbage"), "not a readable .npy"),
])
def test_bad_arrays_raise_data_errors(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(DataError, match=message):
        read_path(tmp_path / "x.npy")


def test_missing_path_and_empty_folder_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        read_path(tmp_path / "missing")
    with pytest.raises(DataError, match="no PNG/JPEG"):
        read_path(tmp_path)


# -- fitting ----------------------------------------------------------------------------------------------


def test_fit_array_centre_crops_a_wide_image_exactly_when_no_resize_is_needed():
    wide = random_images(2, 12, 3)[:, :8]  # 8 high, 12 wide
    assert np.array_equal(fit_array(wide, 8), wide[:, :, 2:10])


def test_fit_array_centre_crops_a_tall_image_before_resizing():
    tall = np.zeros((1, 24, 8, 3), np.uint8)  # red margins above and below a grey centre square
    tall[:, :8], tall[:, 8:16], tall[:, 16:] = (255, 0, 0), (90, 90, 90), (255, 0, 0)
    out = fit_array(tall, 4)
    assert out.shape == (1, 4, 4, 3)
    assert np.abs(out.astype(int) - 90).max() <= 1  # none of the red margin leaks in


def test_convert_channels_repeats_gray_and_uses_luma_for_rgb():
    gray = random_images(2, 4, 1)
    assert np.array_equal(convert_channels(gray, 3), np.repeat(gray, 3, axis=-1))
    rgb = np.zeros((1, 1, 1, 3), np.uint8)
    rgb[..., :] = (100, 200, 50)
    assert convert_channels(rgb, 1)[0, 0, 0, 0] == round(0.299 * 100 + 0.587 * 200 + 0.114 * 50)


def test_prepare_warns_when_images_are_smaller_than_the_target():
    with pytest.warns(UserWarning, match="smaller than the target 16"):
        pyramid = prepare(ImageSet(random_images(3, 8, 3), None, "small"), resolution=16, channels=None)
    assert pyramid.levels[16].shape == (3, 3, 16, 16)


# -- the pyramid --------------------------------------------------------------------------------------------


def test_pyramid_levels_are_2x2_box_averages_rounded_once_per_level(tiny_images):
    pyramid = Pyramid(tiny_images)
    assert sorted(pyramid.levels) == [4, 8, 16] and len(pyramid) == 64 and pyramid.channels == 3
    top = tiny_images.transpose(0, 3, 1, 2)
    assert np.array_equal(pyramid.levels[16].numpy(), top)
    for size in (8, 4):
        f = 16 // size
        # repeated 2×2 averaging in float = one f×f average of the original; rounded only when stored
        expected = top.astype(np.float64).reshape(64, 3, size, f, size, f).mean(axis=(3, 5))
        assert np.array_equal(pyramid.levels[size].numpy(), np.round(expected).astype(np.uint8))
        assert pyramid.levels[size].dtype == torch.uint8


def test_pyramid_batch_indexes_a_level():
    pyramid = Pyramid(random_images(10, 8, 1))
    batch = pyramid.batch(torch.tensor([7, 2, 7]), 4)
    assert batch.shape == (3, 1, 4, 4)
    assert torch.equal(batch[0], pyramid.levels[4][7]) and torch.equal(batch[1], pyramid.levels[4][2])


def test_pyramid_refuses_non_square_or_non_power_of_two_images():
    with pytest.raises(DataError, match="square power-of-two"):
        Pyramid(np.zeros((1, 12, 12, 3), np.uint8))


# -- the index stream ---------------------------------------------------------------------------------------


def test_index_stream_is_a_pure_function_of_position():
    whole = IndexStream(10, seed=3).take(0, 47)
    pieces, stream, position = [], IndexStream(10, seed=3), 0
    for count in (1, 9, 3, 15, 4, 15):  # chunks that straddle epoch boundaries
        pieces.append(stream.take(position, count))
        position += count
    assert torch.equal(torch.cat(pieces), whole)
    # random access in any order, on a fresh stream, agrees as well
    fresh = IndexStream(10, seed=3)
    for start in (40, 3, 25, 0, 33):
        assert torch.equal(fresh.take(start, 7), whole[start : start + 7])


def test_each_epoch_of_the_index_stream_is_a_permutation():
    stream = IndexStream(12, seed=0)
    epochs = [stream.take(12 * e, 12) for e in range(4)]
    for epoch in epochs:
        assert sorted(epoch.tolist()) == list(range(12))
    assert len({tuple(e.tolist()) for e in epochs}) > 1  # reshuffled each epoch
    assert not torch.equal(IndexStream(12, seed=1).take(0, 12), epochs[0])  # and the seed matters
