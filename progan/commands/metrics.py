"""``progan metrics``: score a checkpoint's EMA generator against real data with the registered metrics."""
from __future__ import annotations

import argparse
import json
import time
from typing import Any


def add_parser(sub) -> None:
    metrics = sub.add_parser("metrics", help="score a generator with the paper's metrics (SWD, MS-SSIM) or plugins' (FID, KID, ...)")
    metrics.add_argument("path", help="checkpoint file, export folder or run folder (its latest checkpoint)")
    metrics.add_argument("--data", help="the reals, as for training: dataset name, NAME:ARGUMENT, or a folder / .npz / .npy (default: a checkpoint's own training data)")
    metrics.add_argument("--metric", default="swd", metavar="NAMES", help="comma-separated metric names (default swd; progan plugins lists them)")
    metrics.add_argument("--num", type=int, help="images per metric (default: each metric's paper figure, e.g. 16384 for swd)")
    metrics.add_argument("--seed", type=int, default=0, help="seed of the fakes' latents and of the metrics' random draws")
    metrics.add_argument("--floor", action="store_true", help="add swd's real-vs-real floor (two disjoint halves of the reals)")
    metrics.add_argument("--set", action="append", default=[], metavar="METRIC.OPTION=VALUE", help="a metric option, e.g. --set swd.nhoods_per_image=64 (repeatable)")
    metrics.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if present)")
    metrics.add_argument("--threads", type=int, help="CPU threads for torch")
    metrics.add_argument("--json", action="store_true", help="print JSON instead of the table")
    metrics.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from progan.cli import pick_device
    from progan.config import dotted
    from progan.errors import ConfigError
    from progan.export import load_generator, resolve
    from progan.metrics.evaluate import run_metrics

    if args.threads:
        torch.set_num_threads(args.threads)
    names = [name.strip() for name in args.metric.split(",") if name.strip()]
    options = dotted(args.set)
    if args.floor:
        if "swd" not in names:
            raise ConfigError("--floor is swd's real-vs-real floor; add swd to --metric")
        options.setdefault("swd", {})["floor"] = True
    stray = sorted(set(options) - set(names))
    if stray:
        raise ConfigError(f"--set {stray[0]}.…: {stray[0]} is not among --metric {','.join(names)}")
    path = resolve(args.path)
    generator = load_generator(path, device=pick_device(args.device))
    reals = load_reals(args.data, path, resolution=generator.resolution, channels=generator.channels)
    results: dict[str, Any] = {}
    for name in names:  # one at a time, to time each
        start = time.perf_counter()
        figures = run_metrics(generator, reals, [name], num=args.num, seed=args.seed, options={name: options[name]} if name in options else None)[name]
        results[name] = {"figures": figures, "seconds": round(time.perf_counter() - start, 3)}
    report = {"checkpoint": str(path), "resolution": generator.resolution, "reals": len(reals), "num": args.num, "seed": args.seed, "metrics": results}
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


def load_reals(data: str | None, path, *, resolution: int, channels: int):
    """The reals as uint8 NHWC, resolved exactly like training data, at the generator's resolution and channels."""
    from progan.checkpoint import CHECKPOINT_FORMAT, read_metadata
    from progan.config import DataConfig, TrainConfig, replace
    from progan.errors import ConfigError
    from progan.plugins import host
    from progan.trainer import config_of, load_dataset

    if data is not None:
        data_config = DataConfig(source=data, channels=channels)
    elif read_metadata(path).get("format") == CHECKPOINT_FORMAT:
        data_config = replace(config_of(path).data, channels=channels)
    else:
        raise ConfigError(f"{path}: an export does not record its training data; pass --data")
    return load_dataset(TrainConfig(resolution=resolution, data=data_config), host()).nhwc(resolution)


def table(report: dict[str, Any]) -> str:
    """One line per figure, with each metric's run time on its first line."""
    num = report["num"] or "each metric's paper number of"
    lines = [f"{report['checkpoint']} at {report['resolution']}px: {num} fakes against {report['reals']} reals or a subset (seed {report['seed']})",
             f"{'metric':<10} {'figure':<18} {'value':>12} {'seconds':>9}"]
    for name, result in report["metrics"].items():
        for i, (figure, value) in enumerate(result["figures"].items()):
            seconds = f"{result['seconds']:>9.1f}" if i == 0 else ""
            lines.append(f"{name if i == 0 else '':<10} {figure:<18} {value:>12.4f} {seconds}".rstrip())
    return "\n".join(lines)
