#!/usr/bin/env python
"""Two variants of the benchmark's training step, built in ONE process and timed interleaved.

``bench/throughput.py`` measures each cell in its own process, minutes apart, and these machines drift by
10-30% within minutes. Here both trainers (``throughput.benchmark_trainer``: the same networks, data and
schedule position) live in one process and take turns, ``--steps`` steps each per round, in mirrored order, so
a drift weighs on both alike. It prints each round's median step time and the ratio of the medians over
rounds; ``--profile`` adds torch.profiler's top ops for each.

* ``--compare alpha``: a fade-in step (alpha 0.5) against a stable one (alpha 1);
* ``--compare layout``: the default memory layout (``performance.channels_last`` unset) against NCHW and
  against NHWC, at alpha ``--alpha``.

  .venv/bin/python bench/step_ab.py --res 32 --rounds 4 --steps 6
  .venv/bin/python bench/step_ab.py --compare layout --res 32 --rounds 4 --steps 5
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import WORK, benchmark_trainer, median_ms  # noqa: E402


def variants(args) -> dict[str, tuple[float, str | None]]:
    """Name -> (alpha, the ``[performance]`` table as JSON) of each trainer to compare."""
    if args.compare == "alpha":
        return {"alpha 0.5": (0.5, None), "alpha 1": (1.0, None)}
    return {"default": (args.alpha, None),
            "NCHW": (args.alpha, json.dumps({"channels_last": False})),
            "NHWC": (args.alpha, json.dumps({"channels_last": True}))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--compare", choices=("alpha", "layout"), default="alpha")
    p.add_argument("--res", type=int, default=8)
    p.add_argument("--alpha", type=float, default=1.0, help="the schedule position of --compare layout")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=15, help="timed steps per trainer and round (median)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    if args.compare == "alpha" and args.res <= 4:
        p.error("--compare alpha needs --res 8 or above: 4×4 has no fade-in")
    torch.set_num_threads(args.threads)
    trainers = {name: benchmark_trainer(argparse.Namespace(**WORK, performance=performance), args.res, alpha)[0]
                for name, (alpha, performance) in variants(args).items()}
    for trainer in trainers.values():
        for _ in range(args.warmup):
            trainer.step()

    names = list(trainers)
    medians: dict[str, list[float]] = {name: [] for name in names}
    for index in range(args.rounds):
        for name in (names if index % 2 == 0 else names[::-1]):  # mirrored order, as throughput.py
            medians[name].append(median_ms(trainers[name].step, args.steps, warmup=0))
        print(f"round {index}: " + ", ".join(f"{name}: {medians[name][-1]:.1f} ms" for name in names), flush=True)
    overall = {name: statistics.median(medians[name]) for name in names}
    first = names[0]
    print(f"{args.res}x{args.res}, {args.threads} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}: "
          + ", ".join(f"{name} {ms:.1f} ms" for name, ms in overall.items()) + " per step; "
          + ", ".join(f"{first}/{name} {overall[first] / overall[name]:.3f}" for name in names[1:]))

    if args.profile:
        from torch.profiler import profile

        for name, trainer in trainers.items():
            with profile() as prof:
                for _ in range(args.steps):
                    trainer.step()
            print(f"=== {name}, {args.steps} steps")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
