"""``progan train``: resolve the config, build the trainer, show progress, handle signals."""
from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from progan.cli import pick_device
from progan.errors import ProganError


def add_parser(sub) -> None:
    train = sub.add_parser("train", help="train a GAN (progressively for the progan architecture)")
    train.add_argument("--config", metavar="TOML", help="a TOML config file")
    train.add_argument("--preset", metavar="NAME", help="a packaged config: demo (CPU, ~10 min), paper, dcgan (needs progan-classic)")
    train.add_argument("--data", help="dataset name, NAME:ARGUMENT, or a folder / .npz / .npy of images (default: shapes)")
    train.add_argument("--resolution", type=int, help="target resolution, a power of two from 4 to 1024")
    train.add_argument("--channels", type=int, choices=(1, 3), help="convert images to 1 (grayscale) or 3 (RGB) channels")
    train.add_argument("--arch", help="architecture name (progan plugins lists them)")
    train.add_argument("--loss", help="loss name (wgan-gp, logistic, ...)")
    train.add_argument("--callback", action="append", default=[], metavar="NAME", help="activate a registered callback (repeatable; progan plugins lists them)")
    train.add_argument("--kimg", type=float, help="total thousands of real images to show")
    train.add_argument("--stabilise-kimg", type=float, help="kimg per stabilisation phase")
    train.add_argument("--fade-kimg", type=float, help="kimg per fade-in phase")
    train.add_argument("--batch", type=int, help="minibatch size")
    train.add_argument("--seed", type=int)
    train.add_argument("--mirror", action="store_true", default=None, help="random horizontal flips")
    train.add_argument("--strict", action="store_true", default=None, help="refuse unreadable image files")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any config value, e.g. --set schedule.fade_kimg=10 (repeatable)")
    train.add_argument("--out", metavar="RUN_DIR", help="run folder (default: runs/<time>)")
    train.add_argument("--resume", metavar="RUN_DIR_OR_CKPT", help="continue a run exactly where it stopped")
    train.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if present)")
    train.add_argument("--threads", type=int, help="CPU threads for torch")
    train.add_argument("--dry-run", action="store_true", help="print the resolved config and the growth schedule, then exit")
    train.add_argument("--no-progress", action="store_true", help="no progress bar (the log still goes to RUN_DIR/log.jsonl)")
    train.add_argument("--metrics", metavar="NAMES", help="score G_ema with these metrics during training, e.g. swd or swd,msssim (figures go to log.jsonl)")
    train.add_argument("--metrics-every", type=float, metavar="KIMG", help="kimg between metric evaluations (default 100; also at the end)")
    train.add_argument("--on-nan", choices=("stop", "rollback"), help="on a NaN/Inf loss, gradient or weight: stop (default), or reload the last checkpoint at half the learning rate")
    perf = train.add_argument_group("performance (docs/performance.md; none changes the algorithm)")
    perf.add_argument("--amp", choices=("none", "bf16"), help="autocast G and D in bfloat16 (GPU); the gradient penalty and minibatch stddev stay fp32")
    perf.add_argument("--compile", action="store_true", default=None, help="torch.compile G and D (the gradient-penalty pass stays eager)")
    perf.add_argument("--tf32", action="store_true", default=None, help="TF32 matmuls and convolutions on CUDA")
    perf.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None, help="NHWC memory layout (default: on for the CPU and with --amp)")
    train.set_defaults(func=run)

def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config values given as flags, as a nested dict (only those given)."""
    from progan.config import dotted, merge

    flags: dict[str, Any] = {}
    if args.data is not None:
        flags.setdefault("data", {})["source"] = args.data
    if args.channels is not None:
        flags.setdefault("data", {})["channels"] = args.channels
    if args.mirror:
        flags.setdefault("data", {})["mirror"] = True
    if args.strict:
        flags.setdefault("data", {})["strict"] = True
    if args.resolution is not None:
        flags["resolution"] = args.resolution
    if args.arch is not None:
        flags["arch"] = {"name": args.arch}
    if args.loss is not None:
        flags["loss"] = {"name": args.loss}
    for flag, key in (("kimg", "total_kimg"), ("stabilise_kimg", "stabilise_kimg"), ("fade_kimg", "fade_kimg"), ("batch", "batch_size")):
        if getattr(args, flag) is not None:
            flags.setdefault("schedule", {})[key] = getattr(args, flag)
    if args.seed is not None:
        flags["seed"] = args.seed
    if getattr(args, "on_nan", None) is not None:
        flags["on_nan"] = args.on_nan
    if args.metrics is not None:
        flags["metrics"] = [name.strip() for name in args.metrics.split(",") if name.strip()]
    if args.metrics_every is not None:
        flags["metrics_every_kimg"] = args.metrics_every
    for key in ("amp", "compile", "tf32", "channels_last"):  # each flag sets the performance key of its name
        if getattr(args, key, None) is not None:
            flags.setdefault("performance", {})[key] = getattr(args, key)
    return merge(flags, dotted(args.set))


def resolve_config(args: argparse.Namespace):
    """(config, checkpoint to resume or None) from preset < config file < flags, or from the resumed run."""
    from progan import config as cfg
    from progan.trainer import config_of, latest_checkpoint

    resume = None
    if args.resume:
        resume = Path(args.resume)
        if resume.is_dir():
            resume = latest_checkpoint(resume)
        base = cfg.to_dict(config_of(resume))
    else:
        base = cfg.preset(args.preset) if args.preset else {}
        if args.config:
            base = cfg.merge(base, cfg.read_toml(args.config))
    data = cfg.merge(base, overrides(args))
    for key, named in (("plugins", args.plugin), ("callbacks", args.callback)):  # the flags add to the config's (or checkpoint's) list
        data[key] = list(dict.fromkeys([*data.get(key, []), *named]))
    return cfg.from_dict(data), resume



def run(args: argparse.Namespace) -> int:
    import torch

    from progan import options
    from progan.plugins import host
    from progan.schedule import Schedule
    from progan.trainer import Trainer, require_plugins, tidy_for_resume, with_resolved_options

    config, resume = resolve_config(args)
    # A checkpoint is data: the plugin modules its config names are not imported on resume (that
    # would run code named by a file); only --plugin / PROGAN_PLUGINS load modules then.
    plugin_host = host() if resume is not None else host(config.plugins)
    if resume is not None:
        require_plugins(resume, plugin_host)  # names the package of a missing architecture, loss or callback
    if args.dry_run:
        architecture = plugin_host.create("architectures", config.arch.name, dict(config.arch.options))
        architecture.build(resolution=config.resolution, channels=config.data.channels or 3)  # validates sizes
        loss = plugin_host.create("losses", config.loss.name, dict(config.loss.options))
        for name in config.callbacks:
            plugin_host.create_callback(name, config.callback_options.get(name, {}))
        schedule = Schedule(config.schedule, target_resolution=config.resolution, progressive=architecture.progressive)
        print(json.dumps(options.to_dict(with_resolved_options(config, architecture, loss)), indent=2, sort_keys=True))
        print_schedule(schedule.table())
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    from progan import distributed

    parallel = distributed.launched()  # torchrun --nproc_per_node=N: one rank of a data-parallel run
    device = distributed.local_device(args.device) if parallel else pick_device(args.device)
    if parallel:
        distributed.init(device)
    main = not parallel or distributed.rank() == 0
    say = (lambda *a, **k: print(*a, **k)) if main else (lambda *a, **k: None)
    if resume is not None:
        run_dir = Path(args.out) if args.out else resume.parent.parent
    else:
        run_dir = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        if parallel:
            run_dir = Path(distributed.broadcast_object(str(run_dir)))  # rank 0's clock names the folder
        if main and (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir()):
            raise ProganError(f"{run_dir}: already holds a run; continue it with --resume {run_dir} or choose another --out")
    check_writable(run_dir)
    say(f"progan: preparing data {config.data.source!r} at {config.resolution}px ...", file=sys.stderr)
    trainer_class = distributed.DistributedTrainer if parallel else Trainer
    trainer = trainer_class(config, run_dir=run_dir, device=device, host=plugin_host)
    if parallel:
        say(f"progan: {distributed.world_size()} processes, {device.split(':')[0]}, each on 1/{distributed.world_size()} of every batch", file=sys.stderr)
    if resume is not None:
        trainer.load(resume)
        if main:
            tidy_for_resume(run_dir, trainer.images_shown)  # log lines past the checkpoint are redone; stale .tmp files go
        say(f"progan: resumed {resume} at {trainer.images_shown / 1000:.1f} kimg", file=sys.stderr)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        from progan.checkpoint import write_atomic

        write_atomic(run_dir / "config.json", (json.dumps(options.to_dict(config), indent=2, sort_keys=True) + "\n").encode())
    say(f"progan: run folder {run_dir} (log.jsonl, grids/, checkpoints/)", file=sys.stderr)

    previous = {s: signal.signal(s, lambda signum, _frame: stop(signum)) for s in (signal.SIGINT, signal.SIGTERM)}

    def stop(signum: int) -> None:
        trainer.request_stop(signum)
        for s, handler in previous.items():  # a second signal acts at once
            signal.signal(s, handler)

    bar = None if args.no_progress or not main else ProgressBar(trainer)
    try:
        result = trainer.run(progress=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if parallel:
            distributed.shutdown()
    if not main:
        return 128 + (result.signal or signal.SIGINT) if result.reason == "interrupted" else 0
    if result.reason == "interrupted":
        print(f"progan: stopped at {trainer.images_shown / 1000:.1f} kimg; checkpoint written. Continue with:", file=sys.stderr)
        print(f"  {resume_command(args, run_dir)}", file=sys.stderr)
        return 128 + (result.signal or signal.SIGINT)
    print(f"progan: finished {trainer.images_shown / 1000:.1f} kimg in {trainer.elapsed_s:.0f} s; final grid {run_dir / 'final.png'}", file=sys.stderr)
    return 0


def resume_command(args: argparse.Namespace, run_dir: Path) -> str:
    """The exact command that continues this run (the config itself is stored in its checkpoints)."""
    words = ["progan"] + [w for m in args.plugin for w in ("--plugin", m)] + ["train", "--resume", str(run_dir)]
    if args.device != "auto":
        words += ["--device", args.device]
    if args.threads:
        words += ["--threads", str(args.threads)]
    if args.no_progress:
        words.append("--no-progress")
    return shlex.join(words)


def check_writable(run_dir: Path) -> None:
    """Refuse an output folder that cannot be written before any work is done (probes the nearest existing folder)."""
    import tempfile

    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ProganError(f"--out {run_dir}: {existing} is a file, not a folder; choose another --out")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ProganError(f"--out {run_dir}: cannot write in {existing} ({exc.strerror or exc}); choose another --out") from None


def print_schedule(rows: list[dict], *, extra: tuple[tuple[str, str], ...] = ()) -> None:
    """The schedule table; ``extra`` adds (row key, header) columns of preformatted text, e.g. estimated times."""
    header = f"{'phase':>5}  {'stage':<18} {'res':>5} {'start kimg':>11} {'end kimg':>10} {'alpha':>6} {'batch':>6} {'G lr':>8} {'D lr':>8} {'steps':>8}"
    print(header + "".join(f" {title:>10}" for _, title in extra))
    for r in rows:
        print(
            f"{r['phase']:>5}  {r['name']:<18} {r['resolution']:>5} {r['start_kimg']:>11.1f} {r['end_kimg']:>10.1f} "
            f"{r['alpha']:>6} {r['batch']:>6} {r['g_lr']:>8.2g} {r['d_lr']:>8.2g} {r['steps']:>8}" + "".join(f" {r[key]:>10}" for key, _ in extra)
        )


class ProgressBar:
    """A tqdm bar over images shown with stage, resolution, alpha, kimg and img/s."""

    def __init__(self, trainer) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=trainer.schedule.total_img, initial=trainer.images_shown, unit="img", unit_scale=True, dynamic_ncols=True, smoothing=0.05)
        self.last = trainer.images_shown
        self.next_postfix = 0.0
        self.figures = ""

    def update(self, trainer, state) -> None:
        self.bar.update(trainer.images_shown - self.last)
        self.last = trainer.images_shown
        now = time.monotonic()
        if now >= self.next_postfix:  # refreshing text every step would cost more than the step at 4×4
            figures = "".join(f" {k.removeprefix('metric/')}={v:.4g}" for k, v in getattr(trainer, "last_tick", {}).items() if k.startswith("metric/"))
            self.figures = figures or self.figures  # the latest evaluation's, until the next one
            self.bar.set_postfix_str(f"{state.phase.name} res={state.resolution} alpha={state.alpha:.2f} kimg={trainer.images_shown / 1000:.1f}{self.figures}", refresh=False)
            self.next_postfix = now + 0.5

    def close(self) -> None:
        self.bar.close()


