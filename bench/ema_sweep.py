"""Several EMA rules scored on ONE training trajectory: the quality benchmark's progan run, SWD per rule.

The generator average never feeds back into training, so extra averaged copies of G, each updated after
every step by its own rule, see exactly the G and D that ``bench/quality.py`` trains (the same config,
seed and thread count give the same run, bitwise). Comparing them measures the averaging alone, free of
the run-to-run variance that swamps comparisons between separate GAN runs. The run's own ``G_ema``
(``optim.ema_beta`` with ``optim.ema_phase_fraction``) is the baseline row.

Rules: ``beta:B`` (a constant per-step β, uncapped), ``restart:B`` (β, and the copy reset to G at every phase
start, so it averages the current phase only), ``halflife:KIMG:RAMPUP`` (StyleGAN2-ADA's half-life in
images, min(KIMG·1000, RAMPUP·images shown), so β = 0.5^(batch / half-life)), and ``raw`` (G itself).

  .venv/bin/python bench/ema_sweep.py --data ../shared/data/twemoji32.npz --threads 1 --out-dir bench/out/ema-tw
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import FAKE_SEED, ROOT, SWD_IMAGES, load_reals, name_of, progan_flags, save_grid  # noqa: E402

DEFAULT_RULES = ["beta:0.998", "beta:0.995", "beta:0.99", "restart:0.999", "restart:0.998", "halflife:10:0.05", "halflife:5:0.05", "raw"]


def rule_beta(rule: str, trainer) -> float:
    """The per-step β of ``rule`` at the trainer's current images shown."""
    kind, *values = rule.split(":")
    if kind in ("beta", "restart"):
        return float(values[0])
    if kind == "halflife":
        kimg, rampup = float(values[0]), float(values[1])
        half_life = max(min(kimg * 1000, rampup * trainer.images_shown), 1e-8)
        return 0.5 ** (trainer.schedule.at(max(trainer.images_shown - 1, 0)).phase.batch_size / half_life)
    raise ValueError(f"unknown EMA rule {rule!r}")


def sweep_trainer_class():
    from progan.trainer import Trainer

    class SweepTrainer(Trainer):
        """A Trainer that also keeps one averaged copy of G per rule (none of them touches training)."""

        rules: list[str] = []

        def _ema_refresh(self) -> None:
            super()._ema_refresh()
            if not hasattr(self, "averages"):
                self.averages = {rule: copy.deepcopy(self.G).eval().requires_grad_(False) for rule in self.rules if rule != "raw"}

        def _enter_phase(self, phase) -> None:
            super()._enter_phase(phase)
            for rule, average in self.averages.items():
                if rule.startswith("restart:"):
                    average.load_state_dict(self.G.state_dict())

        @torch.no_grad()
        def _update_ema(self) -> None:
            super()._update_ema()
            params = list(self.G.parameters())
            for rule, average in self.averages.items():
                torch._foreach_lerp_(list(average.parameters()), params, 1.0 - rule_beta(rule, self))

    return SweepTrainer


def fakes_of(generator, count: int) -> np.ndarray:
    from progan.metrics.evaluate import generate_uint8

    return np.concatenate(list(generate_uint8(generator, count, seed=FAKE_SEED, batch_size=256, resolution=32)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "twemoji32.npz"))
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "out" / "ema")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rule", action="append", help=f"an EMA rule (repeatable; default: {' '.join(DEFAULT_RULES)})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a progan config override, as bench/quality.py --set")
    parser.add_argument("--resume", type=Path, metavar="CKPT", help="continue that run's checkpoint (bitwise, with the same --threads); "
                        "every rule's copy starts from its G_ema, so a rule whose half-life is short against the rest of the run "
                        "ends as if it had run from the start")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from progan.cli import build_parser
    from progan.commands.train import resolve_config
    from progan.metrics.evaluate import real_subset
    from progan.metrics.swd import swd
    from progan.plugins import host

    name = name_of(args.data)
    run_dir = args.out_dir / f"progan_{name}"
    config, _ = resolve_config(build_parser().parse_args(progan_flags(args.data, run_dir, args.threads, args.seed, args.set)))
    trainer_class = sweep_trainer_class()
    trainer_class.rules = args.rule or DEFAULT_RULES
    trainer = trainer_class(config, run_dir=run_dir, host=host(config.plugins))
    if args.resume:
        trainer.load(args.resume)
        trainer.averages = {rule: copy.deepcopy(trainer.G_ema) for rule in trainer.averages}
    start = time.perf_counter()
    stop = trainer.run()
    if stop.reason != "finished":
        raise SystemExit(f"training stopped early: {stop}")
    wall = time.perf_counter() - start

    reals = load_reals(args.data)
    scored = reals[real_subset(len(reals), SWD_IMAGES, seed=args.seed)]
    generators = {"G_ema": trainer.G_ema, **trainer.averages}
    if "raw" in trainer_class.rules:
        generators["raw"] = trainer.G
    rows = {}
    for label, generator in generators.items():
        fakes = fakes_of(generator, len(scored))
        save_grid(args.out_dir / f"{name}_{label.replace(':', '-')}_grid.png", fakes)
        rows[label] = swd(scored, fakes, seed=args.seed)
    baseline = next(iter(rows.values()))["swd_avg"]
    print(f"# {name}: one progan run ({trainer.images_shown} images, {args.threads} thread(s), {wall:.0f} s{f', from {args.resume}' if args.resume else ''}); "
          f"SWD×1e3 of {len(scored)} fakes per rule; G_ema: ema_beta {config.optim.ema_beta}, ema_phase_fraction {config.optim.ema_phase_fraction}")
    print(f"{'rule':<24}{'32':>8}{'16':>8}{'avg':>8}{'vs G_ema':>10}")
    for label, figures in rows.items():
        print(f"{label:<24}{figures['swd_32']:>8.2f}{figures['swd_16']:>8.2f}{figures['swd_avg']:>8.2f}{100 * (figures['swd_avg'] / baseline - 1):>+9.1f}%")
    (args.out_dir / f"{name}_ema_sweep.json").write_text(json.dumps({"rows": rows, "wall_s": wall, "threads": args.threads}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
