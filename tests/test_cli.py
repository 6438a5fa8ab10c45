"""The command line, in process: dry runs, one-line errors with exit code 2, a tiny training and ``generate``."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from core_helpers import TINY_ARCH
from progan import checkpoint, images
from progan.cli import main
from progan.interfaces import latents
from progan.networks import ProganGenerator, ProganOptions

TINY_SETS = [w for key in ("latent_size", "fmap_base", "fmap_max") for w in ("--set", f"arch.{key}={TINY_ARCH[key]}")]


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def test_dry_run_prints_the_config_and_the_schedule_and_exits_0(capsys):
    code = main(["train", "--dry-run", "--resolution", "16", "--stabilise-kimg", "1", "--fade-kimg", "2", "--batch", "8", *TINY_SETS, "--set", "schedule.batch_by_resolution={\"16\": 4}"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["phase", "stage"])
    config = json.loads("\n".join(lines[:header]))
    assert config["resolution"] == 16 and config["schedule"]["fade_kimg"] == 2.0 and config["arch"]["options"]["fmap_base"] == 32
    # the options not given appear with the defaults they resolve to, as a checkpoint saves them
    assert config["arch"]["options"]["mbstd_group_size"] == 16 and config["loss"]["options"]["gp_norm"] == "native"
    rows = [line.split() for line in lines[header + 1 :] if line.strip()]
    assert [r[0] for r in rows] == ["0", "1", "2", "3", "4"]
    assert "fade-in 8→16" in lines[header + 4] and rows[3][-4] == "4"  # the batch column of the fade to 16
    assert rows[-1][-1] == "250"  # the final stabilisation: 1 kimg at batch 4


def test_dry_run_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dry-run", "--resolution", "8", *TINY_SETS, "--out", str(tmp_path / "run")]) == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--dry-run", "--resolution", "48"], "power of two from 4 to 1024"),
    (["train", "--dry-run", "--set", "schedule.fade_kimgg=1"], "did you mean 'schedule.fade_kimg'"),
    (["train", "--dry-run", "--set", "seed=abc"], "'seed' must be an integer"),
    (["train", "--dry-run", "--arch", "proggan"], "did you mean 'progan'"),
    (["train", "--dry-run", "--loss", "wgan"], "did you mean 'wgan-gp'"),
    (["train", "--dry-run", "--kimg", "0"], "'schedule.total_kimg' must be positive"),
    (["train", "--dry-run", "--preset", "papr"], "unknown preset 'papr'"),
    (["train", "--dry-run", "--set", "arch.fmap_bse=2"], "did you mean 'arch.fmap_base'"),
    (["--plugin", "no_such_plugin_module_xyz", "plugins"], "no_such_plugin_module_xyz"),
])
def test_bad_input_exits_2_with_one_line_on_stderr_and_no_traceback(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith("progan: error: "), err
    assert fragment in lines[0] and "Traceback" not in err


def test_missing_data_checkpoint_and_resume_are_one_line_errors(tmp_path, capsys):
    cases = [
        ["train", "--data", str(tmp_path / "nowhere"), "--resolution", "8", *TINY_SETS, "--no-progress", "--device", "cpu", "--out", str(tmp_path / "run")],
        ["generate", str(tmp_path / "no-run"), "--out", str(tmp_path / "x.png")],
        ["train", "--resume", str(tmp_path / "no-run")],
    ]
    for argv in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        errors = [line for line in error_lines(err) if line.startswith("progan: error: ")]
        assert len(errors) == 1 and "Traceback" not in err, err  # (progress notes like "preparing data" may precede it)
        assert "no-run" in errors[0] or "nowhere" in errors[0]


def test_the_installed_entry_point_reports_errors_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "progan", "train", "--dry-run", "--resolution", "12"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PROGAN_DISABLE_PLUGINS": "1"}, timeout=120,
    )
    assert result.returncode == 2
    assert error_lines(result.stderr) == [error_lines(result.stderr)[0]] and "Traceback" not in result.stderr
    assert "'resolution' must be a power of two" in result.stderr


# -- a tiny run through the CLI, then generate ------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """``progan train`` on a .npz of 8×8 images, 4 -> 8 with 16 images per phase."""
    root = tmp_path_factory.mktemp("cli")
    np.savez(root / "data.npz", images=np.random.default_rng(2).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8))
    run_dir = root / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main([
            "train", "--data", str(root / "data.npz"), "--resolution", "8", *TINY_SETS, "--stabilise-kimg", "0.016",
            "--fade-kimg", "0.016", "--batch", "8", "--set", "grid_size=4", "--set", "tick_kimg=0.016",
            "--no-progress", "--device", "cpu", "--out", str(run_dir),
        ])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return run_dir


def ema_generator(run_dir) -> ProganGenerator:
    """G_ema of the run's latest checkpoint, rebuilt by hand from the tiny options (not via progan.export)."""
    latest = sorted((run_dir / "checkpoints").glob("ckpt-*.safetensors"))[-1]
    tensors, _ = checkpoint.read(latest)
    options = ProganOptions(**{k: v for k, v in TINY_ARCH.items() if k != "name"})
    G = ProganGenerator(options, resolution=8, channels=3)
    G.load_state_dict({k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")})
    return G.eval()


def test_cli_train_writes_the_run_folder(cli_run):
    assert (cli_run / "final.png").is_file() and (cli_run / "log.jsonl").is_file()
    assert json.loads((cli_run / "config.json").read_text())["resolution"] == 8
    assert list((cli_run / "checkpoints").glob("ckpt-*.safetensors"))


def test_cli_train_refuses_to_overwrite_a_run(cli_run, capsys):
    assert main(["train", "--resolution", "8", *TINY_SETS, "--out", str(cli_run), "--no-progress", "--device", "cpu"]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_generate_writes_a_png_grid_of_the_ema_generators_images(cli_run, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["generate", str(cli_run), "--num", "4", "--out", str(out)]) == 0
    with torch.no_grad():
        expected = images.grid(images.to_uint8(ema_generator(cli_run)(latents(4, 16, seed=0))))
    with Image.open(out) as png:
        assert png.format == "PNG"
        assert np.array_equal(np.asarray(png.convert("RGB")), expected)
    assert expected.shape[:2] == (134, 134)  # 2×2 cells of 8 px upscaled to 64, with 2 px padding


def test_generate_separate_writes_one_png_per_image(cli_run, tmp_path):
    folder = tmp_path / "many"
    assert main(["generate", str(cli_run), "--num", "4", "--seed", "3", "--separate", "--out", str(folder)]) == 0
    files = sorted(folder.glob("*.png"))
    assert len(files) == 4
    with torch.no_grad():
        expected = images.to_uint8(ema_generator(cli_run)(latents(4, 16, seed=3)))
    for file, picture in zip(files, expected):
        with Image.open(file) as png:
            assert np.array_equal(np.asarray(png.convert("RGB")), picture)
