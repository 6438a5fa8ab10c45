"""Reliability: kill -9, SIGINT/SIGTERM, NaN/Inf, full disks and leaks never lose progress.

* kill -9: a short run of bench/kill9.py (3 SIGKILLs, resumed each time, final weights bitwise equal);
* SIGINT / SIGTERM: the step finishes, a checkpoint is written, exit 130 / 143 with the exact resume command;
* resume truncates log.jsonl to the checkpoint and removes stale .tmp files;
* NaN / Inf in a loss, a gradient or a weight: stop naming the term and the images shown, or roll back;
* a full disk: a clear error, the previous checkpoint intact, no partial files;
* no memory or file-handle leak over ticks.
"""
from __future__ import annotations

import errno
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from progan import checkpoint, cli
from progan.config import from_dict, merge
from progan.data import Pyramid
from progan.errors import CheckpointError, NonFiniteError, TrainingError
from progan.plugins import PluginHost
from progan.trainer import Trainer, latest_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = {"name": "progan", "latent_size": 16, "fmap_base": 32, "fmap_max": 16}


def tiny_config(**overrides):
    base = {
        "resolution": 8, "seed": 1, "arch": dict(TINY),
        "schedule": {"stabilise_kimg": 0.064, "fade_kimg": 0.064, "batch_size": 8},
        "tick_kimg": 0.016, "checkpoint_kimg": 0.032, "grid_size": 4, "keep_checkpoints": 100,
    }
    return from_dict(merge(base, overrides))


def tiny_trainer(run_dir: Path, **overrides) -> Trainer:
    images = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 3), dtype=np.uint8)
    return Trainer(tiny_config(**overrides), run_dir=run_dir, host=PluginHost(entry_points=False), data=Pyramid(images))


@pytest.fixture
def npz(tmp_path) -> Path:
    path = tmp_path / "tiny.npz"
    np.savez(path, images=np.random.default_rng(0).integers(0, 256, (32, 8, 8, 3), dtype=np.uint8))
    return path


def cli_args(npz: Path, out: Path, *extra: str, kimg: str = "0.064") -> list[str]:
    return [
        "train", "--data", str(npz), "--resolution", "8", "--seed", "1",
        "--set", "arch.latent_size=16", "--set", "arch.fmap_base=32", "--set", "arch.fmap_max=16",
        "--stabilise-kimg", kimg, "--fade-kimg", kimg, "--batch", "8",
        "--set", "tick_kimg=0.016", "--set", "checkpoint_kimg=0.048", "--set", "grid_size=4",
        "--threads", "1", "--no-progress", "--out", str(out), *extra,
    ]


def final_tensors(run_dir: Path) -> dict[str, torch.Tensor]:
    tensors, _ = checkpoint.read(latest_checkpoint(run_dir))
    return {k: v for k, v in tensors.items() if k.startswith(("G.", "D.", "G_ema."))}


def assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and a
    for name in a:
        assert a[name].dtype == b[name].dtype and torch.equal(a[name].reshape(-1).view(torch.uint8), b[name].reshape(-1).view(torch.uint8)), name


def log_records(run_dir: Path) -> list[dict]:
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    for record in records:
        record.pop("img_per_s", None)
        record.pop("elapsed_s", None)
    return records


def stale_tmp(run_dir: Path) -> list[Path]:
    return list(run_dir.rglob(".*.tmp"))


def all_checkpoints_finite(run_dir: Path) -> int:
    paths = sorted((run_dir / "checkpoints").glob("ckpt-*.safetensors"))
    for path in paths:
        tensors, _ = checkpoint.read(path)
        assert all(bool(torch.isfinite(t).all()) for k, t in tensors.items() if t.is_floating_point()), path
    return len(paths)


# -- kill -9 --------------------------------------------------------------------------------------------


def test_kill9_short_run_resumes_exactly(tmp_path):
    """bench/kill9.py with 3 SIGKILLs: every checkpoint loads, the final weights equal an uninterrupted run's."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "kill9.py"), "--trials", "3", "--resolution", "8", "--timeout", "420", "--seed", "1", "--workdir", str(tmp_path / "k9")],
        capture_output=True, text=True, timeout=480,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "corrupt checkpoints found:    0" in proc.stdout
    assert "final weights equal:          yes" in proc.stdout
    assert "trials (SIGKILLs):            3" in proc.stdout


# -- SIGINT / SIGTERM -----------------------------------------------------------------------------------


def start_and_signal(args: list[str], run_dir: Path, signum: int) -> subprocess.CompletedProcess:
    """Start ``progan`` in a subprocess, wait for its first log line (handlers are installed), send ``signum``."""
    env = {**os.environ, "PROGAN_DISABLE_PLUGINS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "progan", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    while not (run_dir / "log.jsonl").is_file():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the run never logged"
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=240)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_finishes_the_step_checkpoints_and_prints_the_resume_command(signum, code, npz, tmp_path, capsys):
    run_dir = tmp_path / "run"
    done = start_and_signal(cli_args(npz, run_dir, kimg="0.24"), run_dir, signum)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    stopped = next(line for line in lines if line.startswith("progan: stopped at"))
    command = lines[lines.index(stopped) + 1].strip()
    assert command == f"progan train --resume {shlex.quote(str(run_dir))} --threads 1 --no-progress"
    last = latest_checkpoint(run_dir)
    state = checkpoint.json_field(checkpoint.read(last)[1], "state", last)
    shown = state["images_shown"]
    assert shown % 8 == 0 and 0 < shown < 720  # a whole step, before the end (3 phases of 240)
    assert f"stopped at {shown / 1000:.1f} kimg" in stopped
    assert log_records(run_dir)[-1]["images_shown"] == shown  # the interrupted tick is logged
    if signum != signal.SIGINT:
        return
    # the printed command continues the run to the same weights as an uninterrupted run
    assert cli.main(shlex.split(command)[1:]) == 0
    assert cli.main(cli_args(npz, tmp_path / "reference", kimg="0.24")) == 0
    capsys.readouterr()
    assert_bitwise_equal(final_tensors(run_dir), final_tensors(tmp_path / "reference"))


# -- resume after a crash: log truncated, stale temporary files removed ---------------------------------


def test_resume_truncates_the_log_and_removes_stale_tmp_files(npz, tmp_path, monkeypatch, capsys):
    assert cli.main(cli_args(npz, tmp_path / "reference")) == 0
    run_dir = tmp_path / "run"
    real_step, calls = Trainer.step, []

    def crashing_step(self):
        calls.append(1)
        if len(calls) == 15:  # after 112 images: ticks at 16..112 are logged, the last checkpoint is at 96
            raise RuntimeError("simulated crash")
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", crashing_step)
    with pytest.raises(RuntimeError, match="simulated crash"):
        cli.main(cli_args(npz, run_dir))
    monkeypatch.setattr(Trainer, "step", real_step)
    assert max(r["images_shown"] for r in log_records(run_dir)) == 112
    assert latest_checkpoint(run_dir).name == "ckpt-000000096.safetensors"
    with open(run_dir / "log.jsonl", "a") as log:
        log.write('{"kimg": 0.128, "images_sh')  # a line cut short by the kill
    (run_dir / "checkpoints" / ".ckpt-000000096.safetensors.abc123.tmp").write_bytes(b"half a checkpoint")
    (run_dir / "grids" / ".tick-000000096.png.xyz.tmp").write_bytes(b"half a png")
    (run_dir / ".config.json.q1w2.tmp").write_bytes(b"{")
    assert cli.main(["train", "--resume", str(run_dir), "--threads", "1", "--no-progress"]) == 0
    capsys.readouterr()
    assert stale_tmp(run_dir) == []
    records = log_records(run_dir)
    positions = [r["images_shown"] for r in records]
    assert positions == sorted(set(positions))  # no duplicates, in order
    assert records == log_records(tmp_path / "reference")  # the same lines, the same figures
    assert_bitwise_equal(final_tensors(run_dir), final_tensors(tmp_path / "reference"))


# -- NaN / Inf ------------------------------------------------------------------------------------------


def poison(trainer: Trainer, at: int, *, which: str = "D", value: float = float("nan"), times: int | None = 1) -> None:
    """Make the D (or G) loss ``value`` at the step that starts at ``at`` images (``times`` times; None: always)."""
    name = "discriminator_loss" if which == "D" else "generator_loss"
    original = getattr(trainer.loss, name)
    left = [times]

    def poisoned(ctx, *args):
        loss, stats = original(ctx, *args)
        if ctx.images_shown == at and (left[0] is None or left[0] > 0):
            if left[0] is not None:
                left[0] -= 1
            loss = loss * value
        return loss, stats

    setattr(trainer.loss, name, poisoned)


@pytest.mark.parametrize("which, value, term, word", [("D", float("nan"), "loss/D", "nan"), ("G", float("inf"), "loss/G", "inf")])
def test_nan_stops_naming_the_term_and_step_without_a_poisoned_checkpoint(which, value, term, word, tmp_path):
    trainer = tiny_trainer(tmp_path / "run")
    poison(trainer, 72, which=which, value=value, times=None)
    with pytest.raises(TrainingError, match=rf"^{term} is {word} at 72 images; lower the learning rate") as caught:
        trainer.run()
    assert isinstance(caught.value, NonFiniteError) and caught.value.images_shown == 72
    assert all_checkpoints_finite(tmp_path / "run") >= 2
    assert latest_checkpoint(tmp_path / "run").name == "ckpt-000000064.safetensors"  # nothing after the NaN


def test_nan_gradient_with_a_finite_loss_is_caught(tmp_path):
    trainer = tiny_trainer(tmp_path / "run")
    original = trainer.loss.discriminator_loss

    def nan_gradient(ctx, reals, z):
        loss, stats = original(ctx, reals, z)
        if ctx.images_shown == 40:
            weight = next(ctx.discriminator.parameters())
            loss = loss + 0.0 * torch.sqrt(weight - weight.detach()).sum()  # value 0, gradient 0·∞ = NaN
        return loss, stats

    trainer.loss.discriminator_loss = nan_gradient
    with pytest.raises(NonFiniteError, match=r"^gradient of D\.\S+ is nan at 40 images"):
        trainer.run()
    all_checkpoints_finite(tmp_path / "run")


def test_nan_weight_is_never_saved(tmp_path):
    trainer = tiny_trainer(tmp_path / "run")
    trainer.run()
    before = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    with torch.no_grad():
        next(trainer.G_ema.parameters()).view(-1)[0] = float("inf")
    with pytest.raises(NonFiniteError, match=r"^weight G_ema\.\S+ is inf at \d+ images; no checkpoint was written"):
        trainer.save()
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == before


def test_rollback_returns_to_the_last_checkpoint_with_half_the_learning_rate(tmp_path):
    trainer = tiny_trainer(tmp_path / "run", on_nan="rollback")
    poison(trainer, 72, times=1)
    with pytest.warns(UserWarning, match=r"loss/D is nan at 72 images.*rolled back to ckpt-000000064.safetensors .* x0.5"):
        assert trainer.run().reason == "finished"
    assert trainer.rollbacks == 1 and trainer.lr_scale == 0.5
    phase = trainer.schedule.phases[trainer.phase_index]
    assert trainer.opt_G.param_groups[0]["lr"] == phase.g_lr * 0.5 and trainer.opt_D.param_groups[0]["lr"] == phase.d_lr * 0.5
    records = log_records(tmp_path / "run")
    events = [r for r in records if r.get("event") == "rollback"]
    assert events == [{"event": "rollback", "images_shown": 64, "kimg": 0.064, "nonfinite_at": 72, "term": "loss/D", "rollback": 1, "lr_scale": 0.5, "checkpoint": "ckpt-000000064.safetensors"}]
    ticks = [r["images_shown"] for r in records if "event" not in r]
    assert ticks == sorted(set(ticks))  # the log was truncated to the checkpoint: no duplicates
    all_checkpoints_finite(tmp_path / "run")
    # the lower rate survives a resume
    resumed = tiny_trainer(tmp_path / "again", on_nan="rollback")
    resumed.load(latest_checkpoint(tmp_path / "run"))
    assert (resumed.lr_scale, resumed.rollbacks) == (0.5, 1)


def test_rollback_is_bounded(tmp_path):
    trainer = tiny_trainer(tmp_path / "run", on_nan="rollback", max_rollbacks=2)
    poison(trainer, 72, times=None)
    with pytest.warns(UserWarning, match="rolled back"), pytest.raises(TrainingError, match=r"non-finite again at 72 images after 2 rollback\(s\)"):
        trainer.run()
    assert [r["rollback"] for r in log_records(tmp_path / "run") if r.get("event") == "rollback"] == [1, 2]
    all_checkpoints_finite(tmp_path / "run")


def test_rollback_before_the_first_checkpoint_restarts_from_the_initial_state(tmp_path):
    trainer = tiny_trainer(tmp_path / "run", on_nan="rollback")
    poison(trainer, 16, times=1)
    with pytest.warns(UserWarning, match="rolled back to ckpt-000000000.safetensors"):
        trainer.run()
    assert trainer.lr_scale == 0.5


NAN_PLUGIN = """
from progan.hookspecs import hookimpl
from progan.builtin.losses import wgan_gp

POISON_AT, LEFT = 40, [1]


class NanLoss:
    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def discriminator_loss(self, ctx, reals, z):
        loss, stats = self.inner.discriminator_loss(ctx, reals, z)
        if ctx.images_shown == POISON_AT and LEFT[0]:
            LEFT[0] -= 1
            loss = loss * float("nan")
        return loss, stats


@hookimpl
def progan_register_losses(register):
    register("nan-once", lambda options: NanLoss(wgan_gp(options)))
"""


def test_cli_nan_stop_is_one_line_exit_2_and_rollback_continues(npz, tmp_path, monkeypatch, capsys):
    (tmp_path / "nan_plugin_mod.py").write_text(NAN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    code = cli.main(["--plugin", "nan_plugin_mod", *cli_args(npz, tmp_path / "stop", "--loss", "nan-once")])
    err = capsys.readouterr().err
    assert code == 2
    assert [line for line in err.splitlines() if line.startswith("progan: error:")] == [
        "progan: error: loss/D is nan at 40 images; lower the learning rate (schedule.g_lr, schedule.d_lr) or train with --on-nan rollback"
    ]
    sys.modules["nan_plugin_mod"].LEFT[0] = 1
    with pytest.warns(UserWarning, match="rolled back"):
        code = cli.main(["--plugin", "nan_plugin_mod", *cli_args(npz, tmp_path / "rollback", "--loss", "nan-once", "--on-nan", "rollback")])
    assert code == 0, capsys.readouterr().err
    assert any(r.get("event") == "rollback" for r in log_records(tmp_path / "rollback"))


# -- full disk / unwritable output ----------------------------------------------------------------------


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["fsync", "write"])
def test_full_disk_keeps_the_previous_checkpoint_and_leaves_no_partial_file(where, tmp_path, monkeypatch):
    trainer = tiny_trainer(tmp_path / "run")
    first = trainer.save()
    data = first.read_bytes()
    trainer.step()
    if where == "fsync":
        monkeypatch.setattr(os, "fsync", enospc)
    else:
        real_fdopen = os.fdopen

        class Full:
            def __init__(self, handle):
                self.handle = handle

            def write(self, data):
                self.handle.write(data[: len(data) // 3])
                enospc()

            def __getattr__(self, name):
                return getattr(self.handle, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self.handle.__exit__(*exc)

        monkeypatch.setattr(os, "fdopen", lambda *a, **k: Full(real_fdopen(*a, **k)))
    with pytest.raises(CheckpointError, match=r"ckpt-000000008\.safetensors: cannot write \(No space left on device\); free disk space or choose another --out"):
        trainer.save()
    monkeypatch.undo()
    assert first.read_bytes() == data and checkpoint.read(first)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [first.name]  # no partial, no .tmp


def test_cli_full_disk_mid_run_is_one_line_and_the_run_resumes(npz, tmp_path, monkeypatch, capsys):
    real_save, calls = checkpoint.save, []

    def save_until_full(path, *args, **kwargs):
        calls.append(path)
        if len(calls) >= 2:
            monkeypatch.setattr(os, "fsync", enospc)
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "save", save_until_full)
    run_dir = tmp_path / "run"
    assert cli.main(cli_args(npz, run_dir)) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("progan: error:")]
    assert len(errors) == 1 and "cannot write (No space left on device); free disk space or choose another --out" in errors[0]
    assert "Traceback" not in err
    monkeypatch.undo()  # space freed
    assert stale_tmp(run_dir) == []
    assert [p.name for p in sorted((run_dir / "checkpoints").iterdir())] == ["ckpt-000000048.safetensors"]
    checkpoint.read(run_dir / "checkpoints" / "ckpt-000000048.safetensors")
    assert cli.main(["train", "--resume", str(run_dir), "--threads", "1", "--no-progress"]) == 0


def test_unwritable_out_is_refused_up_front(npz, tmp_path, monkeypatch, capsys):
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    monkeypatch.setattr("progan.trainer.load_dataset", lambda *a: pytest.fail("data was loaded before the check"))
    assert cli.main(cli_args(npz, tmp_path / "locked" / "run")) == 2
    err = capsys.readouterr().err
    assert f"progan: error: --out {tmp_path / 'locked' / 'run'}: cannot write in {tmp_path} (Permission denied); choose another --out" in err
    assert not (tmp_path / "locked").exists()


def test_write_atomic_failing_mkdir_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match=r"file/sub/x.bin: cannot write \(Not a directory\); make the folder writable or choose another --out"):
        checkpoint.write_atomic(tmp_path / "file" / "sub" / "x.bin", b"data")


# -- no leaks -------------------------------------------------------------------------------------------


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_no_memory_or_file_handle_leak_over_ticks(tmp_path):
    import gc

    # one resolution (no growth), a tick and a checkpoint every 2 steps, 12 ticks
    trainer = tiny_trainer(tmp_path / "run", schedule={"start_resolution": 8, "stabilise_kimg": 0.192}, checkpoint_kimg=0.016, keep_checkpoints=3)
    rss: dict[int, int] = {}
    fds_before = open_fds()

    def measure(t, state):
        ticks = len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) if (tmp_path / "run" / "log.jsonl").exists() else 0
        if ticks in (2, 10) and ticks not in rss:
            gc.collect()
            rss[ticks] = rss_kib()

    trainer.run(progress=measure)
    gc.collect()
    assert open_fds() == fds_before
    assert rss[10] <= rss[2] * 1.05, f"RSS grew from {rss[2]} KiB after 2 ticks to {rss[10]} KiB after 10"
