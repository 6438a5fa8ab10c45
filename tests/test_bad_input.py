"""Bad input -> one clear line naming the file or field and the fix, exit code 2, no traceback, nothing saved lost.

The cases are those of bench/bad_input_table.py (which runs them in subprocesses and prints the
table); here they run in-process through ``progan.cli.main`` for speed, plus a few in a
subprocess to check that no traceback escapes (and that --debug shows one).  Pixel-level checks
of every Pillow mode, crops and upscaling are at the end.
"""
from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from progan import cli
from progan.data import read_path
from progan.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bad_input_table", ROOT / "bench" / "bad_input_table.py")
table = importlib.util.module_from_spec(_spec)
sys.modules["bad_input_table"] = table
_spec.loader.exec_module(table)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("bad-input")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            built = table.build_cases(root)
        return root, built
    finally:
        torch.set_num_threads(threads)


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """Exit code and stderr of the CLI in-process; warnings appear as the CLI prints them (pytest records them)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = cli.main(argv)
    err = capsys.readouterr().err
    return code, "".join(f"progan: warning: {w.message}\n" for w in caught) + err


@pytest.mark.parametrize("name", table.CASE_NAMES)
def test_bad_input_gives_one_clear_line(name, cases, capsys, monkeypatch):
    root, built = cases
    case = built[name]
    if "/sys" in name and (not Path("/sys").is_dir() or os.access("/sys", os.W_OK) and _writable("/sys")):
        pytest.skip("/sys is writable here")
    monkeypatch.syspath_prepend(str(root / "plugins"))
    monkeypatch.chdir(root)
    before = {p: p.read_bytes() for p in case.touches}
    code, err = run_cli(case.argv, capsys)
    lines = table.message_lines(err, warning=case.warning)
    assert code == case.code, err
    assert "Traceback" not in err
    if not case.warning:
        assert len(lines) == 1, err
    for words in case.expect:
        assert any(words in line for line in lines), f"{words!r} not in {lines}"
    warned = table.message_lines(err, warning=True)
    for words in case.warns:
        assert any(words in line for line in warned), f"{words!r} not in {warned}"
    for path, data in before.items():  # nothing already saved is lost or changed
        assert path.read_bytes() == data, f"{path} changed"


def _writable(folder: str) -> bool:
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("name", ["config: resolution not a power of two (24)", "checkpoint: bytes flipped in the tensor data"])
def test_subprocess_prints_no_traceback_unless_debug(name, cases):
    root, built = cases
    case = built[name]
    code, err = table.run_subprocess(case, root)
    assert code == 2
    assert "Traceback" not in err
    assert len(table.message_lines(err, warning=False)) == 1, err
    env = {**os.environ, "PROGAN_DISABLE_PLUGINS": "1"}
    debug = subprocess.run([sys.executable, "-m", "progan", "--debug", *case.argv], capture_output=True, text=True, env=env, cwd=root, timeout=300)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


# -- every Pillow mode, converted exactly ---------------------------------------------------------------


def _save(folder: Path, name: str, image) -> Path:
    path = folder / name
    image.save(path)
    return path


def _pixels(path: Path) -> np.ndarray:
    images = read_path(path).images
    assert images.dtype == np.uint8 and images.ndim == 4
    return images[0]


def test_pillow_modes_convert_exactly(tmp_path):
    from PIL import Image

    # L stays grayscale
    assert _pixels(_save(tmp_path, "l.png", Image.new("L", (2, 2), 77))).tolist() == [[[77]] * 2] * 2
    # 1: black and white -> 0 / 255 grayscale
    one = Image.new("1", (2, 1), 0)
    one.putpixel((1, 0), 1)
    assert _pixels(_save(tmp_path, "one.png", one))[0, :, 0].tolist() == [0, 255]
    # LA composited on white, stays grayscale: value 100 at alpha 0 -> 255, at alpha 255 -> 100, at 128 -> ~178
    la = Image.new("LA", (3, 1))
    for x, alpha in enumerate((0, 255, 128)):
        la.putpixel((x, 0), (100, alpha))
    got = _pixels(_save(tmp_path, "la.png", la))
    assert got.shape == (1, 3, 1)
    assert got[0, 0, 0] == 255 and got[0, 1, 0] == 100 and abs(int(got[0, 2, 0]) - round(100 * 128 / 255 + 255 * 127 / 255)) <= 1
    # RGBA composited on white
    rgba = Image.new("RGBA", (2, 1))
    rgba.putpixel((0, 0), (255, 0, 0, 0))
    rgba.putpixel((1, 0), (255, 0, 0, 255))
    assert _pixels(_save(tmp_path, "rgba.png", rgba))[0].tolist() == [[255, 255, 255], [255, 0, 0]]
    # P with a palette -> the palette's colours
    p = Image.new("P", (2, 1))
    p.putpalette([0, 0, 0, 10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 9))
    p.putpixel((0, 0), 1)
    p.putpixel((1, 0), 2)
    assert _pixels(_save(tmp_path, "p.png", p))[0].tolist() == [[10, 20, 30], [200, 100, 50]]
    # P with a transparent index -> white there
    pt = p.copy()
    pt.info["transparency"] = 1
    assert _pixels(_save(tmp_path, "pt.png", pt))[0].tolist() == [[255, 255, 255], [200, 100, 50]]
    # CMYK -> RGB: pure cyan, black, half magenta
    cmyk = Image.new("CMYK", (3, 1))
    for x, value in enumerate(((255, 0, 0, 0), (0, 0, 0, 255), (0, 128, 0, 0))):
        cmyk.putpixel((x, 0), value)
    assert _pixels(_save(tmp_path, "cmyk.tif", cmyk))[0].tolist() == [[0, 255, 255], [0, 0, 0], [255, 127, 255]]
    # I;16 scaled from 16 to 8 bits
    i16 = Image.new("I;16", (3, 1))
    for x, value in enumerate((0, 32768, 65535)):
        i16.putpixel((x, 0), value)
    assert _pixels(_save(tmp_path, "i16.png", i16))[0, :, 0].tolist() == [0, 128, 255]


def test_folder_of_mixed_modes_becomes_rgb(tmp_path):
    from PIL import Image

    Image.new("L", (8, 8), 50).save(tmp_path / "a.png")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "b.png")
    images = read_path(tmp_path).images
    assert images.shape == (2, 8, 8, 3)
    assert images[0, 0, 0].tolist() == [50, 50, 50] and images[1, 0, 0].tolist() == [1, 2, 3]


def test_not_square_is_centre_cropped_and_small_is_upscaled_with_a_warning():
    from progan.data import ImageSet, prepare

    wide = np.zeros((1, 8, 16, 1), np.uint8)
    wide[:, :, 4:12] = 200  # the centre 8×8 is all 200; the sides 0
    pyramid = prepare(ImageSet(wide, source="wide"), resolution=8, channels=None)
    assert pyramid.levels[8].unique().tolist() == [200]
    with pytest.warns(UserWarning, match="smaller than the target 16; they are upscaled"):
        pyramid = prepare(ImageSet(np.full((1, 4, 4, 3), 9, np.uint8), source="small"), resolution=16, channels=None)
    assert pyramid.levels[16].shape == (1, 3, 16, 16)


def test_corrupt_images_are_counted_and_skipped_or_refused_with_strict(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8), (5, 5, 5)).save(tmp_path / "good.png")
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    (tmp_path / "truncated.png").write_bytes(buffer.getvalue()[:30])
    (tmp_path / "zero.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match="skipped 2 unreadable image"):
        assert len(read_path(tmp_path).images) == 1
    with pytest.raises(DataError, match="unreadable image.*drop --strict"):
        read_path(tmp_path, strict=True)
