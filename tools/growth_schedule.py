"""Print a run's growth schedule; optionally time real training steps, plot it, or fit it to a time budget.

    python tools/growth_schedule.py --preset demo
    python tools/growth_schedule.py --config run.toml --measure --plot schedule.png
    python tools/growth_schedule.py --preset paper --measure --measure-batch 1 --measure-seconds 20 --budget 72

Every other flag is a ``progan train`` config flag (--config, --preset, --resolution,
--stabilise-kimg, --fade-kimg, --kimg, --batch, --set KEY=VALUE, --resume RUN, --device, --threads ...),
resolved exactly as ``progan train`` resolves it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import tempfile
import time
import numpy as np

from _common import one_line_errors, pyplot
from progan.errors import ConfigError

BUDGET_FLAGS = {"stabilise_kimg": "--stabilise-kimg", "fade_kimg": "--fade-kimg", "total_kimg": "--kimg"}  # the `progan train` flag of each


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="growth_schedule.py",
        description="The growth schedule as a table: each phase's kimg, resolution, alpha, batch, learning rates and steps; "
        "with --measure or --img-per-s also the estimated wall time.",
        epilog="Config flags are those of `progan train`: --config TOML, --preset NAME, --resolution R, --stabilise-kimg K, "
        "--fade-kimg K, --kimg K, --batch B, --set KEY=VALUE, --resume RUN, --device D, --threads N, ...",
    )
    p.add_argument("--measure", action="store_true", help="time real training steps at each resolution on this machine (random data)")
    p.add_argument("--measure-steps", type=int, default=3, help="timed steps per resolution after one untimed warm-up; the median counts (default 3)")
    p.add_argument("--measure-seconds", type=float, default=60.0, help="stop timing a resolution after this long; a warm-up step that alone takes longer is the measurement (default 60)")
    p.add_argument("--measure-batch", type=int, help="time at most this batch size and scale linearly (caps the paper's 1024² cost on a CPU)")
    p.add_argument("--img-per-s", metavar="RATE", help="throughput instead of --measure: one number, or per resolution like 4=900,8=600,16=300")
    p.add_argument("--budget", type=float, metavar="HOURS", help="propose stabilise/fade lengths that fit this many hours (needs --measure or --img-per-s)")
    p.add_argument("--plot", metavar="PNG", help="draw resolution, alpha and cumulative time against kimg (needs progan[plot])")
    p.add_argument("--json", action="store_true", help="the rows as JSON instead of a table")
    return p


@one_line_errors("growth_schedule.py")
def main(argv: list[str] | None = None) -> int:
    from progan.cli import build_parser, pick_device
    from progan.commands.train import print_schedule, resolve_config
    from progan.plugins import host

    args, train_flags = parser().parse_known_args(argv)
    train_args, unknown = build_parser().parse_known_args(["train", *train_flags])
    if unknown:
        parser().error(f"unrecognized arguments: {' '.join(unknown)} (neither this tool's nor `progan train`'s)")
    if args.measure and args.img_per_s:
        raise ConfigError("give --measure or --img-per-s, not both")
    if args.budget is not None and not (args.measure or args.img_per_s):
        raise ConfigError("--budget needs throughput: add --measure, or --img-per-s RATE")
    if args.budget is not None and not args.budget > 0:
        raise ConfigError(f"--budget must be a positive number of hours, got {args.budget}")
    if args.measure_steps < 1 or (args.measure_batch is not None and args.measure_batch < 1) or not args.measure_seconds > 0:
        raise ConfigError("--measure-steps and --measure-batch must be at least 1, --measure-seconds positive")
    config, _ = resolve_config(train_args)
    plugin_host = host(config.plugins)
    architecture = plugin_host.create("architectures", config.arch.name, dict(config.arch.options))
    schedule = make_schedule(config, architecture)

    rates = None
    if args.img_per_s:
        rates = given_rates(args.img_per_s, {p.resolution for p in schedule.phases})
    elif args.measure:
        if train_args.threads:
            import torch

            torch.set_num_threads(train_args.threads)
        rates = measure(config, schedule, plugin_host, steps=args.measure_steps, seconds=args.measure_seconds, batch_cap=args.measure_batch, device=pick_device(train_args.device))

    rows = timed_rows(schedule, rates)
    if args.budget is not None:
        factor = args.budget * 3600 / rows[-1]["total_s"]
        proposal = proposed(config.schedule, factor)
        config = dataclasses.replace(config, schedule=dataclasses.replace(config.schedule, **proposal))
        schedule = make_schedule(config, architecture)
        rows = timed_rows(schedule, rates)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        shown = [{**r, "rate": f"{r['img_per_s']:.3g}", "time": duration(r["seconds"]), "total": duration(r["total_s"])} for r in rows] if rates else rows
        print_schedule(shown, extra=(("rate", "img/s"), ("time", "time"), ("total", "total")) if rates else ())
        print(f"total: {schedule.total_img / 1000:g} kimg, {sum(r['steps'] for r in rows):,} steps" + (f", about {duration(rows[-1]['total_s'])}" if rates else ""))
    if args.budget is not None:
        flags = " ".join(f"{BUDGET_FLAGS[key]} {value:g}" for key, value in proposal.items())
        print(f"fits {args.budget:g} h: {flags}", file=sys.stderr if args.json else sys.stdout)
    if args.plot:
        plot(schedule, rows, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def make_schedule(config, architecture):
    """The run's Schedule, progressive or not as its architecture says (as ``progan train`` builds it)."""
    from progan.schedule import Schedule

    return Schedule(config.schedule, target_resolution=config.resolution, progressive=architecture.progressive)


def given_rates(text: str, resolutions: set[int]) -> dict[int, float]:
    """``120`` (every resolution) or ``4=900,8=600`` (each resolution of the schedule) as resolution -> img/s."""
    try:
        if "=" not in text:
            rates = dict.fromkeys(resolutions, float(text))
        else:
            rates = {int(r): float(v) for r, v in (item.split("=") for item in text.split(","))}
    except ValueError:
        raise ConfigError(f"--img-per-s {text!r}: expected a number or RES=RATE pairs like 4=900,8=600") from None
    missing = sorted(resolutions - set(rates))
    if missing:
        raise ConfigError(f"--img-per-s has no rate for resolution(s) {', '.join(map(str, missing))}")
    if not all(rates[r] > 0 for r in resolutions):
        raise ConfigError("--img-per-s rates must be positive")
    return rates


def measure(config, schedule, plugin_host, *, steps: int, seconds: float, batch_cap: int | None, device: str) -> dict[int, float]:
    """img/s per resolution: ``steps`` real training steps (after one untimed warm-up) at the start of
    each resolution's stabilisation, on random images; the median step counts.

    Timing a resolution stops after ``seconds``; a warm-up step that alone takes longer is used as
    the measurement (its one-off costs, about a second, no longer matter against it).

    With ``batch_cap`` the steps run at most that batch and the rate is taken per image (linear
    in the batch: it underestimates small resolutions, where per-step overhead dominates).
    """
    import torch

    from progan.data import Pyramid
    from progan.trainer import Trainer

    s = config.schedule
    capped = s if batch_cap is None else dataclasses.replace(s, batch_size=min(s.batch_size, batch_cap), batch_by_resolution={r: min(b, batch_cap) for r, b in s.batch_by_resolution.items()})
    timed = dataclasses.replace(config, schedule=capped)
    batches = {capped.batch_by_resolution.get(p.resolution, capped.batch_size) for p in schedule.phases}
    channels = config.data.channels or 3
    reals = np.random.default_rng(0).integers(0, 256, (max(batches), config.resolution, config.resolution, channels), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(timed, run_dir=run_dir, device=device, host=plugin_host, data=Pyramid(reals))
        chosen = {}
        for phase in trainer.schedule.phases:  # one measurement per resolution, in its stabilisation where it has one
            if phase.resolution not in chosen or chosen[phase.resolution].fading:
                chosen[phase.resolution] = phase
        rates = {}
        for phase in chosen.values():
            print(f"measuring {phase.resolution}×{phase.resolution} at batch {phase.batch_size} ...", file=sys.stderr, flush=True)
            trainer.images_shown = phase.start_img
            taken = []
            while len(taken) <= steps and sum(taken) < seconds:
                start = time.perf_counter()
                trainer.step()
                if trainer.device.type == "cuda":
                    torch.cuda.synchronize(trainer.device)
                taken.append(time.perf_counter() - start)
            rates[phase.resolution] = phase.batch_size / statistics.median(taken[1:] or taken)  # the first step warms up
    return rates


def timed_rows(schedule, rates: dict[int, float] | None) -> list[dict]:
    """``schedule.table()`` plus, given img/s per resolution, each phase's time and the running total."""
    rows, total = schedule.table(), 0.0
    if rates is not None:
        for row, phase in zip(rows, schedule.phases):
            seconds = (phase.end_img - phase.start_img) / rates[phase.resolution]
            total += seconds
            row.update(img_per_s=rates[phase.resolution], seconds=seconds, total_s=total)
    return rows


def proposed(config, factor: float) -> dict[str, float]:
    """Stabilise, fade and total kimg scaled by ``factor`` (time is linear in them), rounded down to 3 digits."""
    return {key: round_down(getattr(config, key) * factor) for key in BUDGET_FLAGS if getattr(config, key) is not None}


def round_down(value: float) -> float:
    """``value`` cut to 3 significant digits, never up (so the proposal stays inside the budget)."""
    step = 10 ** (math.floor(math.log10(value)) - 2)
    return math.floor(value / step) * step


UNITS = ((120, "s", 1), (120 * 60, "min", 60), (48 * 3600, "h", 3600), (730 * 86400, "d", 86400), (math.inf, "y", 365.25 * 86400))


def unit(seconds: float) -> tuple[str, float]:
    """The unit (name, seconds in it) that shows ``seconds`` as a number below about 120."""
    return next((name, size) for limit, name, size in UNITS if seconds < limit)


def duration(seconds: float) -> str:
    name, size = unit(seconds)
    return f"{seconds / size:.3g} {name}"


def plot(schedule, rows: list[dict], out: str) -> None:
    """Resolution, alpha and (with rates) cumulative time against kimg, one panel each."""
    plt = pyplot()
    panels = 3 if "total_s" in rows[0] else 2
    fig, axes = plt.subplots(panels, 1, sharex=True, figsize=(8, 2.3 * panels), constrained_layout=True)
    edges = [p.start_img / 1000 for p in schedule.phases] + [schedule.total_img / 1000]
    resolutions = [p.resolution for p in schedule.phases]
    axes[0].step(edges, resolutions + resolutions[-1:], where="post", color="tab:orange")
    axes[0].set_yscale("log", base=2)
    axes[0].set_yticks(sorted(set(resolutions)), labels=[f"{r}²" for r in sorted(set(resolutions))], minor=False)
    axes[0].set_yticks([], minor=True)
    axes[0].set_ylabel("resolution")
    alpha = [(0.0 if p.fading else 1.0, 1.0) for p in schedule.phases]
    axes[1].plot([x for a, b in zip(edges, edges[1:]) for x in (a, b)], [y for pair in alpha for y in pair], color="tab:purple")
    axes[1].set_ylabel("alpha")
    axes[1].set_ylim(-0.05, 1.05)
    if panels == 3:
        name, size = unit(rows[-1]["total_s"])
        axes[2].plot(edges, [0.0] + [r["total_s"] / size for r in rows], color="tab:green", marker=".")
        axes[2].set_ylabel(f"cumulative time ({name})")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("kimg (thousands of real images shown)")
    fig.suptitle(f"growth schedule: {schedule.phases[0].resolution}² → {schedule.target_resolution}², {schedule.total_img / 1000:g} kimg")
    fig.savefig(out, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
