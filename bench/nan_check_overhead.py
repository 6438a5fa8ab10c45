"""The cost of the per-step NaN/Inf check at 4×4 with the demo preset (the worst case: the smallest step).

Run from the repository root::

    .venv/bin/python bench/nan_check_overhead.py [--steps 200] [--rounds 7] [--threads 1]

Times blocks of steps with ``trainer.check_finite`` on and off, interleaved (ABAB...) so that
load from other processes hits both alike, and reports the median step time of each and the
overhead.  The check is one fused ``isfinite`` over (loss_D + loss_G + Σ ‖grad‖) per step, the
gradient norms by ``torch._foreach_norm``.  On a GPU the check adds one host synchronisation per
step; this script measures on whatever ``--device`` says.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="steps per timed block")
    parser.add_argument("--rounds", type=int, default=7, help="blocks per setting (interleaved)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--wall", action="store_true", help="time wall-clock instead of this process's CPU time (CPU time is steadier on a shared machine)")
    args = parser.parse_args()
    clock = time.perf_counter if args.wall or args.device != "cpu" else time.process_time
    torch.set_num_threads(args.threads)

    from progan.config import from_dict, merge, preset
    from progan.trainer import Trainer

    config = from_dict(merge(preset("demo"), {"data": {"source": "shapes:512"}, "schedule": {"stabilise_kimg": 1000}}))
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(config, run_dir=run_dir, device=args.device)
        sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
        for _ in range(30):  # warm-up
            trainer.step()
        assert trainer.schedule.at(trainer.images_shown).resolution == 4
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.rounds):
            for check in (True, False):
                trainer.check_finite = check
                sync()
                start = clock()
                for _ in range(args.steps):
                    trainer.step()
                sync()
                times[check].append((clock() - start) / args.steps)
        assert trainer.schedule.at(trainer.images_shown).resolution == 4
        # the check alone, on this step's real losses and gradients
        trainer.check_finite = False
        trainer.step()
        losses = (torch.tensor(1.0, device=trainer.device), torch.tensor(2.0, device=trainer.device))
        sync()
        start = clock()
        for _ in range(args.steps * 5):
            trainer._check_finite(*losses)
        sync()
        alone = (clock() - start) / (args.steps * 5)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    best_on, best_off = min(times[True]), min(times[False])
    what = "CPU time" if clock is time.process_time else "wall time"
    print(f"demo preset at 4×4, batch {config.schedule.batch_size}, {args.threads} thread(s), {args.device}, {what} per step:")
    print(f"  without the check: median {off * 1e3:.3f} ms (best {best_off * 1e3:.3f})")
    print(f"  with the check:    median {on * 1e3:.3f} ms (best {best_on * 1e3:.3f})")
    print(f"  A/B overhead: median {100 * (on / off - 1):+.2f} %, best-of {100 * (best_on / best_off - 1):+.2f} %")
    print(f"  the check alone: {alone * 1e6:.1f} µs = {100 * alone / best_off:.2f} % of the best step")


if __name__ == "__main__":
    main()
