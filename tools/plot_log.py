"""Plot a run's log: losses and D's figures, metrics (if evaluated), img/s, alpha and resolution against kimg, to a PNG.

    python tools/plot_log.py RUN_DIR [--out RUN_DIR/log.png]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import one_line_errors, pyplot, read_log
from progan.errors import DataError

SKIP = {"kimg", "images_shown", "phase", "stage", "resolution", "alpha", "batch", "g_lr", "d_lr", "img_per_s", "elapsed_s"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="plot_log.py", description="Draw losses, img/s, alpha and resolution of RUN_DIR/log.jsonl against kimg.")
    p.add_argument("run_dir", help="a run folder (holds log.jsonl)")
    p.add_argument("--out", help="PNG to write (default RUN_DIR/log.png)")
    return p


@one_line_errors("plot_log.py")
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    records = read_log(args.run_dir)
    if not records:
        raise DataError(f"{Path(args.run_dir) / 'log.jsonl'}: holds no ticks yet")
    out = Path(args.out or Path(args.run_dir) / "log.png")
    plot(records, out)
    print(f"plot_log.py: wrote {out}")
    return 0


def plot(records: list[dict], out: Path) -> None:
    """One panel per figure group ("loss/G" goes with "loss/D"), then img/s, then alpha and resolution."""
    plt = pyplot()
    kimg = [r["kimg"] for r in records]
    groups: dict[str, list[str]] = {}
    figures = {k for r in records for k, v in r.items() if k not in SKIP and isinstance(v, (int, float))}
    for key in sorted(figures, key=lambda k: (not k.startswith("loss/"), k)):  # losses on top
        groups.setdefault(key.split("/")[0], []).append(key)
    fig, axes = plt.subplots(len(groups) + 2, 1, sharex=True, figsize=(8, 2.2 * (len(groups) + 2)), constrained_layout=True)
    for ax, (group, keys) in zip(axes, groups.items()):
        for key in keys:
            points = [(r["kimg"], r[key]) for r in records if key in r]  # metric/ figures are in the evaluated ticks only
            ax.plot(*zip(*points), label=key, linewidth=1, marker="o" if group == "metric" else None, markersize=3)
        ax.set_ylabel(group)
        ax.legend(loc="upper right", fontsize="small")
    speed, growth = axes[-2], axes[-1]
    speed.plot(kimg, [r["img_per_s"] for r in records], color="tab:green", linewidth=1)
    speed.set_ylabel("img/s")
    growth.plot(kimg, [r["alpha"] for r in records], color="tab:purple", label="alpha")
    growth.set_ylabel("alpha (purple)")
    growth.set_ylim(-0.05, 1.05)
    side = growth.twinx()
    side.step(kimg, [r["resolution"] for r in records], where="post", color="tab:orange", label="resolution")
    side.set_yscale("log", base=2)
    resolutions = sorted({r["resolution"] for r in records})
    side.set_yticks(resolutions, labels=[f"{r}²" for r in resolutions], minor=False)
    side.set_yticks([], minor=True)
    side.set_ylabel("resolution (orange)")
    growth.set_xlabel("kimg (thousands of real images shown)")
    for ax in axes:
        ax.grid(alpha=0.3)
        for start in fades(records):
            ax.axvline(start, color="grey", linewidth=0.6, linestyle=":")
    fig.suptitle(f"training log: {len(records)} ticks, {kimg[-1]:g} kimg")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def fades(records: list[dict]) -> list[float]:
    """kimg of each tick that starts a new phase (dotted lines mark the growth)."""
    return [b["kimg"] for a, b in zip(records, records[1:]) if a["phase"] != b["phase"]]


if __name__ == "__main__":
    sys.exit(main())
