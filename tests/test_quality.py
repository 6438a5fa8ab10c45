"""Metrics during training (log keys, best.safetensors, exact resume) and the ``progan metrics`` command."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core_helpers import TINY_ARCH, assert_same_training_state, make_trainer, run_until, tiny_config
from progan import checkpoint
from progan.cli import main
from progan.export import load_generator
from progan.trainer import latest_checkpoint

METRICS = {"metrics": ["swd"], "metrics_every_kimg": 0.016, "metrics_num": 16}


def config(**overrides):
    """4 -> 8 px, 40 images per phase, mirroring on (it draws from the trainer's RNG)."""
    return tiny_config(resolution=8, kimg=0.04, tick_kimg=0.016, checkpoint_kimg=0.1, data={"mirror": True}, **overrides)


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(1).integers(0, 256, (24, 8, 8, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def with_metrics(data, tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = make_trainer(data, tmp_path_factory.mktemp("metrics"), config=config(**METRICS))
        assert trainer.run().reason == "finished"
    finally:
        torch.set_num_threads(threads)
    return trainer


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_the_log_holds_the_figures_at_8px_and_at_the_end(with_metrics):
    scored = [r for r in records(with_metrics.run_dir) if "metric/swd_avg" in r]
    assert scored and all(r["resolution"] == 8 for r in scored)  # SWD needs 7×7 patches: skipped at 4×4
    assert scored[-1]["images_shown"] == with_metrics.images_shown
    assert set(scored[-1]) >= {"metric/swd_avg", "metric/swd_8"}


def test_best_checkpoint_holds_the_lowest_figure_at_the_target_and_alpha_1(with_metrics):
    eligible = [r for r in records(with_metrics.run_dir) if "metric/swd_avg" in r and r["alpha"] == 1.0]
    best = min(eligible, key=lambda r: r["metric/swd_avg"])
    assert with_metrics.monitor.best == {"figure": "swd_avg", "value": best["metric/swd_avg"], "images_shown": best["images_shown"]}
    path = with_metrics.run_dir / "best.safetensors"
    state = checkpoint.json_field(checkpoint.read_metadata(path), "state", path)
    assert state["images_shown"] == best["images_shown"] and state["best_metric"]["value"] == best["metric/swd_avg"]
    assert load_generator(path).resolution == 8


def test_metrics_change_nothing_in_training_and_a_resumed_run_stays_exact(with_metrics, data, tmp_path):
    plain = make_trainer(data, tmp_path / "plain", config=config())
    plain.run()
    assert_same_training_state(plain, with_metrics)  # evaluation leaves the trajectory alone
    first = make_trainer(data, tmp_path / "resumed", config=config(**METRICS))
    assert run_until(first, 104).reason == "interrupted"  # mid final stage, after a scored tick
    second = make_trainer(data, tmp_path / "resumed", config=config(**METRICS))
    second.load(latest_checkpoint(tmp_path / "resumed"))
    assert second.run().reason == "finished"
    assert_same_training_state(second, with_metrics)
    assert second.monitor.best == with_metrics.monitor.best


def test_a_best_metric_that_no_metric_makes_is_a_config_error(data, tmp_path):
    from progan.errors import ConfigError

    trainer = make_trainer(data, tmp_path, config=config(**METRICS, best_metric="fid"))
    with pytest.raises(ConfigError, match="'best_metric' 'fid'"):
        trainer.run()


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """``progan train --metrics swd --metrics-every 0.016`` on a .npz of 8×8 images, 4 -> 8 with 16 images per phase."""
    root = tmp_path_factory.mktemp("cli")
    np.savez(root / "data.npz", images=np.random.default_rng(2).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8))
    sets = [f"arch.{key}={TINY_ARCH[key]}" for key in ("latent_size", "fmap_base", "fmap_max")] + ["grid_size=4", "tick_kimg=0.016", "metrics_num=16"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(["train", "--data", str(root / "data.npz"), "--resolution", "8", "--stabilise-kimg", "0.016", "--fade-kimg", "0.016",
                     "--batch", "8", "--metrics", "swd", "--metrics-every", "0.016", "--no-progress", "--device", "cpu", "--out", str(root / "run"),
                     *[w for s in sets for w in ("--set", s)]])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return root


def test_cli_train_with_metrics_logs_them_and_keeps_the_best(cli_run):
    assert any("metric/swd_avg" in r for r in records(cli_run / "run"))
    assert load_generator(cli_run / "run" / "best.safetensors").resolution == 8


def test_progan_metrics_prints_a_table_and_json(cli_run, capsys):
    argv = ["metrics", str(cli_run / "run"), "--data", str(cli_run / "data.npz"), "--metric", "swd", "--num", "16", "--floor"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "swd_avg" in out and "swd_floor_avg" in out and "seconds" in out
    assert main([*argv, "--json", "--set", "swd.nhoods_per_image=32"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["resolution"] == 8 and report["reals"] == 16
    assert set(report["metrics"]["swd"]["figures"]) >= {"swd_avg", "swd_8", "swd_floor_avg"}
    assert report["metrics"]["swd"]["seconds"] >= 0


def test_progan_metrics_defaults_to_the_checkpoints_own_data(cli_run, capsys):
    assert main(["metrics", str(cli_run / "run"), "--metric", "swd", "--num", "16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reals"] == 16


def test_progan_metrics_refuses_options_for_metrics_not_run(cli_run, capsys):
    assert main(["metrics", str(cli_run / "run"), "--metric", "swd", "--set", "msssim.batch_size=2"]) == 2
    assert "msssim is not among --metric swd" in capsys.readouterr().err


def test_plot_log_draws_the_metric_panel(cli_run, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # as `python tools/plot_log.py` does
    import plot_log

    assert plot_log.main([str(cli_run / "run"), "--out", str(cli_run / "log.png")]) == 0
    assert (cli_run / "log.png").stat().st_size > 0
