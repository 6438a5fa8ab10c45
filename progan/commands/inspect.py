"""``progan inspect``: what a checkpoint or export holds, from its header (tensors are not loaded)."""
from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub) -> None:
    inspect = sub.add_parser("inspect", help="show what a checkpoint, export or run folder holds")
    inspect.add_argument("path", help="checkpoint file, export folder or run folder (its latest checkpoint)")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from progan.summary import describe

    info = describe(args.path)
    print(json.dumps(info, indent=2, sort_keys=True) if args.json else "\n".join(lines(info)))
    return 0


def lines(info: dict[str, Any]) -> list[str]:
    """``describe``'s answer as aligned lines for people."""
    options = ", ".join(f"{k}={v}" for k, v in sorted(info["arch_options"].items()))
    rows = [
        ("file", f"{info['path']} ({size(info['file_bytes'])})"),
        ("format", f"{info['format']} version {info['format_version']} (written by progan {info['progan_version']})"),
        ("architecture", f"{info['architecture']} from package {info['package']}: {options}"),
        ("network", f"{info['resolution']}×{info['resolution']}, {info['channels']} channel(s), latent size {info['latent_size']}"),
    ]
    done = info["progress"]
    if done:
        stage = f"{done['stage']} at {done['resolution']}×{done['resolution']}, alpha {done['alpha']:.3f}"
        rows.append(("exported from", f"{done['checkpoint']} ({stage})") if "checkpoint" in done else ("stage", stage))
        rows.append(("images shown", f"{done['images_shown']:,} ({done['images_shown'] / 1000:g} kimg)"))
    rows.append(("parameters", "  ".join(f"{net} {count:,}" for net, count in info["parameters"].items())))
    out = [f"{key:<13} {value}" for key, value in rows]
    if "config" in info:
        out.append("config")
        out.extend(f"  {key} = {json.dumps(value)}" for key, value in flatten(info["config"]))
    return out


def flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested tables as sorted (dotted key, value) pairs."""
    pairs = []
    for key, value in sorted(data.items()):
        if isinstance(value, dict) and value:
            pairs.extend(flatten(value, f"{prefix}{key}."))
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs


def size(count: int) -> str:
    """A byte count in bytes, KiB, MiB or GiB."""
    value, unit = float(count), "bytes"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{count:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
