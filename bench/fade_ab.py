#!/usr/bin/env python
"""Does a fade-in step cost more than a stable one? Both built in ONE process, timed interleaved.

``bench/throughput.py`` measures each cell in its own process, minutes apart, and these machines drift by
10-30% within minutes. Here both trainers (``throughput.benchmark_trainer``: the same networks, data and
schedule position) live in one process and take turns, ``--steps`` steps each per round, so a drift weighs
on both alike. It prints each round's median step time and the ratio of the medians over rounds;
``--profile`` adds torch.profiler's top ops for each.

  .venv/bin/python bench/fade_ab.py --res 32 --rounds 4 --steps 6
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import WORK, benchmark_trainer  # noqa: E402

ALPHAS = (0.5, 1.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--res", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=15, help="timed steps per trainer and round (median)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    work = argparse.Namespace(**WORK, performance=None)
    trainers = {alpha: benchmark_trainer(work, args.res, alpha)[0] for alpha in ALPHAS}
    for trainer in trainers.values():
        for _ in range(args.warmup):
            trainer.step()

    medians: dict[float, list[float]] = {alpha: [] for alpha in ALPHAS}
    for index in range(args.rounds):
        for alpha in (ALPHAS if index % 2 == 0 else ALPHAS[::-1]):  # mirrored order, as throughput.py
            times = []
            for _ in range(args.steps):
                t0 = time.perf_counter()
                trainers[alpha].step()
                times.append(time.perf_counter() - t0)
            medians[alpha].append(statistics.median(times) * 1e3)
        print(f"round {index}: " + ", ".join(f"alpha {a}: {medians[a][-1]:.1f} ms" for a in ALPHAS), flush=True)
    fade, stable = (statistics.median(medians[a]) for a in ALPHAS)
    print(f"{args.res}x{args.res}, {args.threads} threads: alpha 0.5 {fade:.1f} ms, alpha 1 {stable:.1f} ms per step; "
          f"fade/stable {fade / stable:.3f}")

    if args.profile:
        from torch.profiler import profile

        for alpha, trainer in trainers.items():
            with profile() as prof:
                for _ in range(args.steps):
                    trainer.step()
            print(f"=== alpha {alpha}, {args.steps} steps")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
