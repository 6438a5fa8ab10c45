"""kill -9 a `progan train` run at random moments, resume it each time, and check nothing is lost.

Run from the repository root::

    .venv/bin/python bench/kill9.py --trials 20            # about 3-6 minutes on 2 busy cores
    .venv/bin/python bench/kill9.py --trials 3 --timeout 300

What it does:

1. an uninterrupted reference run of a tiny config (tiny nets, 4 -> 16 px, short phases, a
   checkpoint every 5 steps, every checkpoint kept) with ``--threads 1``;
2. the same run, killed with SIGKILL ``--trials`` times at random moments and resumed each time
   with ``progan train --resume RUN_DIR``.  Each trial picks a moment at random:
   ``step``  - a random delay into the training loop (mostly mid-step);
   ``write`` - while a checkpoint is being written (its temporary file half full);
   ``replace`` - right after a checkpoint was renamed into place (before old ones are pruned);
   ``stage`` - during a stage change (stage-end grid and checkpoint, or the next phase's first steps);
3. after every kill: every ``ckpt-*.safetensors`` on disk must load with ``progan.checkpoint.read``
   (header, size and SHA-256 checks) and hold exactly the tensors of the reference run's checkpoint
   at the same images_shown;
4. at the end: the final checkpoint's G, D and G_ema tensors must equal the reference bitwise,
   log.jsonl must hold the reference's lines (no duplicates; timings aside), and no .tmp file
   may be left.  If the run completes before all kills are spent, a fresh run is started and
   killed in turn; every completed run is compared.

The child is ``progan.cli.main`` in a subprocess (``python bench/kill9.py --child train ...``)
with instrumentation that only prints markers on stdout and stalls checkpoint writes briefly so
that the kills can land inside them; it does not change any computation.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

STALL_ENV = "KILL9_STALL_S"
MODES = ("step", "step", "write", "replace", "stage")  # step kills twice as often


# -- the child: progan's CLI with markers ------------------------------------------------------------------


def child(argv: list[str]) -> int:
    """Run ``progan`` with markers on stdout: @run, @write (half written, stalled), @replaced, @stage, @phase."""
    stall = float(os.environ.get(STALL_ENV, "0"))

    def emit(event: str) -> None:
        sys.stdout.write(f"@{event}\n")
        sys.stdout.flush()

    from progan import checkpoint, trainer

    real_fdopen, real_replace, real_save = os.fdopen, os.replace, checkpoint.save
    saving = threading.local()

    class HalfStalled:
        """A file handle that writes half, reports, stalls, then writes the rest."""

        def __init__(self, handle) -> None:
            self.handle = handle

        def write(self, data) -> int:
            half = len(data) // 2
            self.handle.write(data[:half])
            self.handle.flush()
            emit("write")
            time.sleep(stall)
            return half + self.handle.write(data[half:])

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    def fdopen(fd, mode="r", *args, **kwargs):
        handle = real_fdopen(fd, mode, *args, **kwargs)
        return HalfStalled(handle) if getattr(saving, "on", False) and "w" in mode else handle

    def replace(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        if getattr(saving, "on", False):
            emit("replaced")
            time.sleep(stall)

    def save(*args, **kwargs):
        saving.on = True
        try:
            return real_save(*args, **kwargs)
        finally:
            saving.on = False

    os.fdopen, os.replace, checkpoint.save = fdopen, replace, save

    def wrap(name: str, event: str) -> None:
        original = getattr(trainer.Trainer, name)

        def wrapped(self, *args, **kwargs):
            emit(event)
            return original(self, *args, **kwargs)

        setattr(trainer.Trainer, name, wrapped)

    wrap("run", "run")
    wrap("_stage_end", "stage")
    wrap("_enter_phase", "phase")
    from progan.cli import main

    return main(argv)


# -- the parent ----------------------------------------------------------------------------------------


def tiny_args(data: Path, resolution: int = 16) -> list[str]:
    return [
        "--data", str(data), "--resolution", str(resolution), "--seed", "3",
        "--set", "arch.latent_size=16", "--set", "arch.fmap_base=32", "--set", "arch.fmap_max=16",
        "--stabilise-kimg", "0.24", "--fade-kimg", "0.24", "--batch", "8",
        "--set", "checkpoint_kimg=0.04", "--set", "tick_kimg=0.04",
        "--set", "keep_checkpoints=1000", "--set", "grid_size=4",
    ]


COMMON = ["--threads", "1", "--no-progress"]


class Child:
    """A child process whose stdout markers arrive on a queue."""

    def __init__(self, argv: list[str], *, stall: float) -> None:
        env = {**os.environ, STALL_ENV: str(stall), "PROGAN_DISABLE_PLUGINS": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        self.events: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("@"):
                self.events.put(line[1:].strip())
        self.events.put(None)  # exited

    def wait_event(self, name: str, count: int, deadline: float) -> bool:
        """True when the ``count``-th ``name`` marker arrived; False if the child exited or time ran out."""
        seen = 0
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=0.05)
            except queue.Empty:
                continue
            if event is None:
                return False
            if event == name:
                seen += 1
                if seen >= count:
                    return True
        return False

    def kill(self) -> bool:
        """SIGKILL; False if it had already exited."""
        if self.proc.poll() is not None:
            return False
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        return True

    def finish(self, deadline: float) -> int:
        try:
            return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            raise SystemExit("kill9: a child ran past --timeout") from None


def checkpoint_tensors(path: Path):
    from progan import checkpoint

    tensors, _ = checkpoint.read(path, formats=(checkpoint.CHECKPOINT_FORMAT,))
    return tensors


def same(a: dict, b: dict, prefixes: tuple[str, ...] | None = None) -> bool:
    """The same tensor names (under ``prefixes``), dtypes, shapes and bytes."""
    keys = {k for k in a if prefixes is None or k.startswith(prefixes)}
    if not keys or keys != {k for k in b if prefixes is None or k.startswith(prefixes)}:
        return False
    return all(a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and bitwise(a[k]).equal(bitwise(b[k])) for k in keys)


def bitwise(t):
    import torch

    return t.detach().contiguous().reshape(-1).view(torch.uint8)


def log_lines(run_dir: Path) -> list[dict]:
    lines = []
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        for volatile in ("img_per_s", "elapsed_s"):
            record.pop(volatile, None)
        lines.append(record)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="SIGKILLs to deliver (default 20)")
    parser.add_argument("--timeout", type=float, default=1200, help="give up after this many seconds in all (default 1200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--stall", type=float, default=0.05, help="seconds each checkpoint write stalls half-way, so kills can land in it")
    parser.add_argument("--workdir", help="keep the runs here (default: a temporary folder, removed)")
    parser.add_argument("--resolution", type=int, default=16, help="target resolution of the tiny run (default 16; 8 is quicker)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    rng = random.Random(args.seed)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="progan-kill9-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return run_trials(args, work, rng, deadline)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def run_trials(args, work: Path, rng: random.Random, deadline: float) -> int:
    import numpy as np

    data = work / "tiny.npz"
    np.savez(data, images=np.random.default_rng(0).integers(0, 256, (64, 16, 16, 3), dtype=np.uint8))
    started = time.monotonic()

    # 1. the reference
    ref_dir = work / "reference"
    shutil.rmtree(ref_dir, ignore_errors=True)
    ref = Child(["train", *tiny_args(data, args.resolution), *COMMON, "--out", str(ref_dir)], stall=0.0)
    if not ref.wait_event("run", 1, deadline):
        raise SystemExit("kill9: the reference run did not start:\n" + "".join(ref.stderr[-20:]))
    t0 = time.monotonic()
    if ref.finish(deadline) != 0:
        raise SystemExit("kill9: the reference run failed:\n" + "".join(ref.stderr[-20:]))
    train_s = time.monotonic() - t0
    reference = {p.name: checkpoint_tensors(p) for p in sorted((ref_dir / "checkpoints").glob("ckpt-*.safetensors"))}
    ref_final = max(reference)
    ref_log = log_lines(ref_dir)
    print(f"kill9: reference run: {len(reference)} checkpoints, {train_s:.1f} s of training", flush=True)

    # 2. kill, check, resume
    kills = resumes = corrupt = mismatched = tmp_seen = 0
    completed: list[bool] = []
    modes: dict[str, int] = {}
    run_index = 0
    run_dir = None
    proc = None
    while kills < args.trials:
        if time.monotonic() > deadline:
            print("kill9: --timeout reached", flush=True)
            break
        if proc is None:  # a fresh run
            run_index += 1
            run_dir = work / f"killed-{run_index}"
            shutil.rmtree(run_dir, ignore_errors=True)
            proc = Child(["train", *tiny_args(data, args.resolution), *COMMON, "--out", str(run_dir)], stall=args.stall)
        if not proc.wait_event("run", 1, deadline):
            code = proc.finish(deadline)
            raise SystemExit(f"kill9: the run did not start (exit {code}):\n" + "".join(proc.stderr[-20:]))
        mode = rng.choice(MODES)
        if mode == "step":
            time.sleep(rng.uniform(0.0, min(2.0 * train_s / max(args.trials, 1), 0.5 * train_s)))
            landed = True
        elif mode in ("write", "replace"):
            landed = proc.wait_event({"write": "write", "replace": "replaced"}[mode], rng.randint(1, 3), deadline)
        else:
            landed = proc.wait_event("stage", 1, deadline)
            if landed:
                time.sleep(rng.uniform(0.0, 0.1))
        if landed and proc.kill():
            kills += 1
            modes[mode] = modes.get(mode, 0) + 1
            # 3. every checkpoint on disk loads and matches the reference's
            for path in sorted((run_dir / "checkpoints").glob("ckpt-*.safetensors")):
                try:
                    tensors = checkpoint_tensors(path)
                except Exception as exc:  # noqa: BLE001 - any failure to load counts
                    corrupt += 1
                    print(f"kill9: CORRUPT {path}: {exc}", flush=True)
                    continue
                if path.name not in reference or not same(tensors, reference[path.name]):
                    mismatched += 1
                    print(f"kill9: MISMATCH {path} differs from the reference", flush=True)
            tmp_seen += sum(1 for _ in run_dir.rglob(".*.tmp"))
            print(f"kill9: kill {kills}/{args.trials} ({mode}) at {time.monotonic() - started:.0f} s; "
                  f"{len(list((run_dir / 'checkpoints').glob('ckpt-*.safetensors')))} checkpoints on disk", flush=True)
            if not any((run_dir / "checkpoints").glob("ckpt-*.safetensors")):
                proc = None  # killed before its first checkpoint: nothing to resume, start over
                shutil.rmtree(run_dir, ignore_errors=True)
                run_index -= 1
                continue
            resumes += 1
            proc = Child(["train", "--resume", str(run_dir), *COMMON], stall=args.stall)
            continue
        # the run finished before the kill
        print(f"kill9: the run finished before the {mode} kill landed", flush=True)
        if proc.finish(deadline) != 0:
            raise SystemExit("kill9: a resumed run failed:\n" + "".join(proc.stderr[-20:]))
        completed.append(check_completed(run_dir, reference, ref_final, ref_log))
        proc = None

    # 4. let the last one finish and compare
    if proc is not None:
        while proc.events.get() is not None:  # drain markers until exit
            pass
        if proc.finish(deadline) != 0:
            raise SystemExit("kill9: the final resumed run failed:\n" + "".join(proc.stderr[-20:]))
        completed.append(check_completed(run_dir, reference, ref_final, ref_log))
    equal = bool(completed) and all(completed) and corrupt == 0 and mismatched == 0
    print()
    print("kill9 summary")
    print(f"  trials (SIGKILLs):            {kills}  ({', '.join(f'{m} {n}' for m, n in sorted(modes.items()))})")
    print(f"  resumes:                      {resumes}")
    print(f"  runs completed and compared:  {len(completed)}")
    print(f"  corrupt checkpoints found:    {corrupt}")
    print(f"  checkpoints != reference:     {mismatched}")
    print(f"  .tmp files seen after kills:  {tmp_seen} (all removed on resume: {'yes' if not leftover_tmp(work) else 'no'})")
    print(f"  log.jsonl equals reference:   {'yes' if all(LOG_OK) and LOG_OK else 'no'}")
    print(f"  final weights equal:          {'yes' if equal else 'no'}")
    print(f"  time:                         {time.monotonic() - started:.0f} s")
    return 0 if equal and all(LOG_OK) and not leftover_tmp(work) and kills >= args.trials else 1


LOG_OK: list[bool] = []


def leftover_tmp(work: Path) -> list[Path]:
    return [p for p in work.rglob(".*.tmp") if "killed-" in str(p)]


def check_completed(run_dir: Path, reference: dict, ref_final: str, ref_log: list[dict]) -> bool:
    """The finished run's last checkpoint equals the reference's (G, D, G_ema bitwise) and so does its log."""
    finals = sorted((run_dir / "checkpoints").glob("ckpt-*.safetensors"))
    ok = bool(finals) and finals[-1].name == ref_final and same(checkpoint_tensors(finals[-1]), reference[ref_final], ("G.", "D.", "G_ema."))
    log = log_lines(run_dir)
    LOG_OK.append(log == ref_log)
    if log != ref_log:
        print(f"kill9: LOG differs: {len(log)} lines vs {len(ref_log)} in the reference", flush=True)
    print(f"kill9: {run_dir.name} completed; final weights {'equal' if ok else 'DIFFER'}", flush=True)
    return ok


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2:]))
    sys.exit(main())
