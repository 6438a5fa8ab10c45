"""Property-based tests (hypothesis): random configs and random image files never crash with a stray exception.

* any nested dict -> ``from_dict`` gives a valid TrainConfig or raises ConfigError (and a valid one
  also builds its schedule);
* any image file of a random size, mode and format, intact or damaged -> ``read_path`` gives uint8
  [N, H, W, 1 or 3] or raises DataError; ``prepare`` then fits it to the target size.
Example counts are modest so that the file runs in well under 30 s.
"""
from __future__ import annotations

import io
import math
import string
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from progan.config import TrainConfig, from_dict
from progan.data import prepare, read_path
from progan.errors import ConfigError, DataError
from progan.schedule import Schedule

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- configs ----------------------------------------------------------------------------------------------

TOP = ["resolution", "seed", "data", "arch", "loss", "schedule", "optim", "tick_kimg", "checkpoint_kimg", "keep_checkpoints",
       "grid_size", "plugins", "on_nan", "max_rollbacks", "callbacks", "callback_options"]
NESTED = {
    "data": ["source", "channels", "mirror", "strict"],
    "schedule": ["start_resolution", "stabilise_kimg", "fade_kimg", "total_kimg", "batch_size", "batch_by_resolution", "g_lr", "d_lr",
                 "g_lr_by_resolution", "d_lr_by_resolution"],
    "optim": ["name", "betas", "eps", "rmsprop_alpha", "reset_each_phase", "clip_grad_norm", "ema_beta", "ema_phase_fraction"],
    "arch": ["name", "options", "latent_size", "fmap_max"],
    "loss": ["name", "options", "gp_lambda"],
}

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([0, 1, 2, 3, 4, 8, 16, 24, 32, 1024, 2048, -4]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 0.5, 1e-8, 0.99, 1.0, -1.0, 20.0]),
    st.text(max_size=8), st.sampled_from(["progan", "wgan-gp", "logistic", "adam", "rmsprop", "stop", "rollback", "shapes", "256", "x"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(string.digits + "ab", max_size=3), inner, max_size=3)), max_leaves=6)


@st.composite
def config_dicts(draw):
    out = {}
    for key in draw(st.lists(st.sampled_from(TOP) | st.text(string.ascii_lowercase + "_", min_size=1, max_size=8), max_size=6, unique=True)):
        if key in NESTED and draw(st.booleans()):
            table = {}
            for sub in draw(st.lists(st.sampled_from(NESTED[key]) | st.text(string.ascii_lowercase, min_size=1, max_size=5), max_size=4, unique=True)):
                table[sub] = draw(values)
            out[key] = table
        else:
            out[key] = draw(values)
    return out


@SETTINGS
@given(config_dicts())
def test_any_config_dict_is_a_valid_config_or_a_config_error(data):
    try:
        config = from_dict(data)
    except ConfigError as exc:
        assert str(exc)
        return
    assert isinstance(config, TrainConfig)
    for name in ("tick_kimg", "checkpoint_kimg"):
        assert math.isfinite(getattr(config, name)) and getattr(config, name) > 0
    try:  # a valid config also has a schedule (or a ConfigError about it, e.g. a start above the target)
        Schedule(config.schedule, target_resolution=config.resolution)
    except ConfigError:
        pass


@SETTINGS
@given(st.sampled_from(["schedule.fade_kimg", "tick_kimg", "optim.eps", "schedule.total_kimg", "schedule.g_lr"]),
       st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0, -1.0]))
def test_non_finite_or_non_positive_numbers_are_config_errors(key, value):
    parent, _, leaf = key.rpartition(".")
    data = {parent: {leaf: value}} if parent else {leaf: value}
    if key == "optim.eps" and value == 0.0:
        from_dict(data)  # eps = 0 is allowed
        return
    try:
        from_dict(data)
    except ConfigError as exc:
        assert leaf in str(exc)
    else:
        raise AssertionError(f"{key} = {value} was accepted")


# -- image files ---------------------------------------------------------------------------------------------

MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr"]
FORMATS = {"PNG": ".png", "TIFF": ".tif", "BMP": ".bmp", "GIF": ".gif", "JPEG": ".jpg", "WEBP": ".webp"}


@st.composite
def image_files(draw):
    from PIL import Image

    mode = draw(st.sampled_from(MODES))
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    bands = len(Image.new(mode, (1, 1)).getbands())
    if mode in ("I;16",):
        array = rng.integers(0, 65536, (height, width), dtype=np.uint16)
        image = Image.frombytes(mode, (width, height), array.astype("<u2").tobytes())
    elif mode == "I":
        image = Image.fromarray(rng.integers(-(2**20), 2**20, (height, width), dtype=np.int32))
    elif mode == "F":
        image = Image.fromarray(rng.normal(100, 80, (height, width)).astype(np.float32))
    else:
        image = Image.frombytes(mode, (width, height), rng.integers(0, 256, width * height * bands, dtype=np.uint8).tobytes()) if mode != "1" else Image.fromarray(rng.integers(0, 2, (height, width)).astype(bool))
    if mode in ("P", "PA"):
        image.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tobytes())
        if draw(st.booleans()):
            image.info["transparency"] = int(rng.integers(0, 256))
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    for candidate in (fmt, "TIFF", "PNG", None):  # the first format that can hold this mode
        if candidate is None:  # none can (e.g. PA): its RGBA conversion as PNG
            image, fmt = image.convert("RGBA"), "PNG"
            candidate = fmt
        buffer = io.BytesIO()
        try:
            image.save(buffer, format=candidate)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        fmt = candidate
        break
    data = buffer.getvalue()
    damage = draw(st.sampled_from(["none", "none", "truncate", "zero", "flip"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif damage == "zero":
        data = b""
    elif damage == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    return data, FORMATS[fmt], (height, width), damage


def check(image_set, *, expect_hw=None) -> None:
    images = image_set.images
    assert images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] in (1, 3) and len(images) >= 1
    if expect_hw is not None:
        assert images.shape[1:3] == expect_hw


@SETTINGS
@given(image_files())
def test_any_image_file_reads_as_uint8_or_gives_a_data_error(file):
    data, suffix, hw, damage = file
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(folder) / f"image{suffix}"
        path.write_bytes(data)
        try:
            image_set = read_path(path)
        except DataError:
            assert damage != "none", "an intact file was refused"
            return
        check(image_set, expect_hw=hw if damage == "none" else None)  # a flipped header byte may change the size
        pyramid = prepare(image_set, resolution=8, channels=None)
        assert pyramid.levels[8].shape[-2:] == (8, 8)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(image_files(), min_size=1, max_size=4), st.booleans())
def test_any_folder_of_image_files_reads_or_gives_a_data_error(files, strict):
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (data, suffix, _, _) in enumerate(files):
            (Path(folder) / f"{i}{suffix}").write_bytes(data)
        try:
            image_set = read_path(folder, strict=strict)
        except DataError:
            assert any(damage != "none" for *_, damage in files), "intact files were refused"
            return
        check(image_set)
