"""Quality at equal images shown: progan vs pro-gan-pth (peer_quality_pro_gan_pth.py), paper SWD side by side.

Both train 4→32 with latent 128, 64 feature maps everywhere, batch 16, WGAN-GP + drift, Adam β (0, 0.99) at lr
0.001 (the peer) and 0.002 (progan's default: docs/quality.md), EMA 0.999 (progan, as by default, caps the
average's half-life at 5% of a phase: docs/quality.md), no mirroring, 20,000 images per stabilise and per fade
phase (140,000 in all). Both EMA generators make as many fakes as there are reals; progan's SWD (paper
settings) scores them against the same reals, next to the real-vs-real floor (two disjoint halves). A finished
progan run or peer output is reused, not redone.

Run from the repository root, e.g.
  .venv/bin/python bench/quality.py --data ../shared/data/twemoji32.npz --threads 1 --peer-out bench/out/peer
  .venv/bin/python bench/quality.py --data fashion-mnist:/usr/share/datasets/fashion-mnist --threads 1 --parallel
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from peer_env import ensure_peer_python

ROOT = Path(__file__).resolve().parent.parent
PEER_SCRIPT = ROOT.parent / "shared" / "bench" / "peer_quality_pro_gan_pth.py"
PHASE_KIMG = 20  # per stabilise and per fade phase, as the peer script's default 20,000 images
TOTAL_IMAGES = 7 * PHASE_KIMG * 1000  # 4 stable, then fade + stable at 8, 16, 32
SWD_IMAGES = 16384  # the paper's count: larger sets (Fashion-MNIST's 60,000) are scored on a seeded subset
FAKE_SEED = 123  # the peer script's --gen-seed default; the latents differ anyway (other generators)


def progan_flags(data: str, run_dir: Path, threads: int, seed: int, overrides: list[str]) -> list[str]:
    """`progan train` arguments with the peer's architecture size, loss and schedule (then ``overrides``, KEY=VALUE)."""
    sets = ["arch.latent_size=128", "arch.fmap_base=16384", "arch.fmap_max=64", "optim.ema_beta=0.999", *overrides]
    return ["train", "--data", data, "--resolution", "32", "--stabilise-kimg", str(PHASE_KIMG), "--fade-kimg", str(PHASE_KIMG),
            "--batch", "16", "--loss", "wgan-gp", "--seed", str(seed), "--threads", str(threads), "--out", str(run_dir),
            "--no-progress", *[w for s in sets for w in ("--set", s)]]


def name_of(data: str) -> str:
    """A short name for output files: the .npz stem, or the dataset name at 32 px."""
    path = Path(data)
    return path.stem if path.suffix == ".npz" else f"{data.partition(':')[0]}32"


def load_reals(data: str) -> np.ndarray:
    """The reals exactly as `progan train --data DATA --resolution 32` sees them, uint8 NHWC."""
    from progan.config import DataConfig, TrainConfig
    from progan.plugins import host
    from progan.trainer import load_dataset

    return load_dataset(TrainConfig(resolution=32, data=DataConfig(source=data)), host()).nhwc(32)


def images_shown(run_dir: Path) -> int:
    """Images shown by the run's last logged tick (0 when there is no log)."""
    log = run_dir / "log.jsonl"
    lines = log.read_text().splitlines() if log.is_file() else []
    return int(json.loads(lines[-1])["images_shown"]) if lines else 0


def timed(command: list[str], record: Path, **kwargs) -> None:
    """Run ``command``; write its wall and CPU seconds to ``record`` (CPU time shows what a noisy machine took away).

    The CPU seconds are this child's own (``wait4``), so two runs timed side by side do not mix.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, **kwargs)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), command)
    cpu = usage.ru_utime + usage.ru_stime
    record.write_text(json.dumps({"wall_s": round(time.perf_counter() - start, 1), "cpu_s": round(cpu, 1)}))


def run_progan(data: str, run_dir: Path, *, threads: int, seed: int, overrides: list[str]) -> dict[str, float]:
    """Train (or finish) the progan run unless done; its wall and CPU seconds, kept beside the run for reuse."""
    record = run_dir / "bench_time.json"
    if images_shown(run_dir) < TOTAL_IMAGES:
        args = progan_flags(data, run_dir, threads, seed, overrides)
        if (run_dir / "checkpoints").is_dir():  # a killed run continues bitwise; its times then count only this part
            args = ["train", "--resume", str(run_dir), "--threads", str(threads), "--no-progress"]
        timed([sys.executable, "-m", "progan", *args], record)
    if record.is_file():
        return json.loads(record.read_text())
    last = json.loads((run_dir / "log.jsonl").read_text().splitlines()[-1])
    return {"wall_s": last["elapsed_s"]}  # a run trained elsewhere: its training loop's own seconds


def progan_fakes(run_dir: Path, count: int) -> np.ndarray:
    """``count`` uint8 NHWC fakes of the run's EMA generator at 32×32, alpha 1."""
    from progan.export import load_generator
    from progan.metrics.evaluate import generate_uint8

    generator = load_generator(run_dir, resolution=32)
    return np.concatenate(list(generate_uint8(generator, count, seed=FAKE_SEED, batch_size=256, resolution=32)))


def run_peer(python: Path, reals: np.ndarray, data: str, peer_dir: Path, name: str, *, threads: int, seed: int) -> None:
    """Train pro-gan-pth with the peer script; data that is not an .npz is first written as a padded 32×32 .npz."""
    peer_dir.mkdir(parents=True, exist_ok=True)
    npz = Path(data)
    if npz.suffix != ".npz":  # e.g. Fashion-MNIST: the plugin pads 28×28 to 32×32 with zeros, as the peer would
        npz = peer_dir / f"{name}_input.npz"
        np.savez(npz, images=reals)
    command = [str(python), str(PEER_SCRIPT), "--data", str(npz), "--name", name, "--out-dir", str(peer_dir),
               "--threads", str(threads), "--seed", str(seed)]
    with open(peer_dir / f"{name}.log", "w") as log:
        timed(command, peer_dir / f"{name}_bench_time.json", stdout=log, stderr=subprocess.STDOUT)


def peer_times(peer_dir: Path, name: str) -> dict[str, float]:
    """The peer's training wall time (its own train_wall_s) and, when this script ran it, its CPU seconds."""
    results, record = peer_dir / f"{name}_results.json", peer_dir / f"{name}_bench_time.json"
    times = json.loads(record.read_text()) if record.is_file() else {}
    if results.is_file():
        times["wall_s"] = json.loads(results.read_text())["train_wall_s"]
    return times


def save_grid(path: Path, fakes: np.ndarray) -> None:
    """The first 64 fakes as an 8×8 grid, cells upscaled to 64 px."""
    from progan import images

    images.save_png(path, images.grid(fakes[:64], columns=8, min_cell=64))


def table(rows: dict[str, dict[str, float]], times: dict[str, dict[str, float]]) -> str:
    """SWD×1e3 per level and average, one row per side, with wall and CPU seconds where known."""
    keys = [k for k in next(iter(rows.values())) if k != "swd_avg"] + ["swd_avg"]
    lines = [f"{'':<12}" + "".join(f"{k.removeprefix('swd_'):>9}" for k in keys) + f"{'wall s':>9}{'cpu s':>9}"]
    for label, figures in rows.items():
        known = times.get(label, {})
        lines.append(f"{label:<12}" + "".join(f"{figures[k]:>9.2f}" for k in keys)
                     + "".join(f"{known[k]:>9.0f}" if k in known else f"{'':>9}" for k in ("wall_s", "cpu_s")))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "twemoji32.npz"), help=".npz of uint8 images, or a dataset NAME:ARGUMENT")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--peer-out", type=Path, help="the peer script's --out-dir (reused when it holds NAME_fakes.npz; default OUT/peer)")
    parser.add_argument("--no-peer", action="store_true", help="do not run the peer; score progan alone unless the peer's output exists")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for each training run")
    parser.add_argument("--parallel", action="store_true", help="train both at once (use --threads 1 on 2 cores): same conditions, half the time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a progan config override for trying trainer settings, e.g. optim.reset_each_phase=false (repeatable)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name = name_of(args.data)
    reals = load_reals(args.data)
    run_dir = args.out_dir / f"progan_{name}"
    peer_dir = args.peer_out or args.out_dir / "peer"
    peer_fakes_path = peer_dir / f"{name}_fakes.npz"
    train_peer = not peer_fakes_path.is_file() and not args.no_peer
    peer_python = ensure_peer_python() if train_peer else None  # before any training: a failed set-up stops at once
    with ThreadPoolExecutor(max_workers=2 if args.parallel else 1) as pool:  # each job waits on its own process
        peer_job = pool.submit(run_peer, peer_python, reals, args.data, peer_dir, name, threads=args.threads, seed=args.seed) if train_peer else None
        progan_job = pool.submit(run_progan, args.data, run_dir, threads=args.threads, seed=args.seed, overrides=args.set)
        times = {"progan": progan_job.result()}
        if peer_job:
            peer_job.result()

    from progan.metrics.evaluate import real_subset
    from progan.metrics.swd import swd, swd_floor

    scored = reals[real_subset(len(reals), SWD_IMAGES, seed=args.seed)]
    fakes = {"progan": progan_fakes(run_dir, len(scored))}
    if peer_fakes_path.is_file():
        peer_reals = peer_dir / f"{name}_reals32.npz"
        if peer_reals.is_file() and not np.array_equal(np.load(peer_reals)["images"], reals):
            print(f"warning: {peer_reals} differs from the reals progan trained on", file=sys.stderr)
        fakes["pro-gan-pth"] = np.load(peer_fakes_path)["images"][: len(scored)]
        times["pro-gan-pth"] = peer_times(peer_dir, name)
    rows = {}
    for label, images in fakes.items():
        save_grid(args.out_dir / f"{name}_{label}_fakes_grid.png", images)
        rows[label] = swd(scored, images, seed=args.seed)
    floor = swd_floor(scored, seed=args.seed)
    rows["real/real"] = {k.replace("swd_floor", "swd"): v for k, v in floor.items()}
    print(f"# {name}: {len(scored)} of {len(reals)} reals, {len(scored)} fakes per side, {TOTAL_IMAGES} images shown; SWD×1e3 (paper settings); "
          f"real/real = two disjoint halves of {len(scored) // 2}; "
          f"times: training process, wall and CPU seconds ({args.threads} thread(s) each, {'side by side' if args.parallel else 'one after the other'})")
    if args.set:
        print(f"# progan with {' '.join(args.set)}")
    print(table(rows, times))
    if "pro-gan-pth" in rows:
        ratio = rows["progan"]["swd_avg"] / rows["pro-gan-pth"]["swd_avg"]
        print(f"# progan's SWD average is {100 * abs(1 - ratio):.1f}% {'lower' if ratio < 1 else 'higher'} than pro-gan-pth's (target: at least 20% lower)")
    print(f"# grids: {args.out_dir}/{name}_*_fakes_grid.png")
    if args.json:
        args.json.write_text(json.dumps({"name": name, "reals": len(reals), "scored": len(scored), "images_shown": TOTAL_IMAGES, "swd_x1e3": rows, "times": times,
                                         "threads": args.threads, "parallel": args.parallel, "progan_overrides": args.set, "progan_run": str(run_dir), "peer_out": str(peer_dir)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
