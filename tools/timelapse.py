"""Turn a run's per-tick sample grids into an animated GIF: the classic training-progress time-lapse.

    python tools/timelapse.py RUN_DIR [--out RUN_DIR/timelapse.gif]

Grids grow with the resolution; every frame is scaled to a common size and labelled with kimg,
resolution and alpha from RUN_DIR/log.jsonl.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from _common import one_line_errors, read_log
from progan import images
from progan.errors import DataError

LABEL_HEIGHT = 18


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="timelapse.py", description="Animated GIF of RUN_DIR/grids/tick-*.png, labelled with kimg and resolution.")
    p.add_argument("run_dir", help="a run folder (holds grids/ and log.jsonl)")
    p.add_argument("--out", help="GIF to write (default RUN_DIR/timelapse.gif)")
    p.add_argument("--size", type=int, default=384, help="largest frame side in pixels (default 384)")
    p.add_argument("--frame-ms", type=int, default=100, help="milliseconds per frame (default 100)")
    p.add_argument("--max-frames", type=int, default=120, help="use at most this many ticks, evenly spaced (default 120)")
    p.add_argument("--hold", type=int, default=15, help="show the last frame this many frame times (default 15)")
    return p


@one_line_errors("timelapse.py")
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if min(args.size, args.frame_ms, args.max_frames, args.hold) < 1:
        raise DataError("--size, --frame-ms, --max-frames and --hold must be at least 1")
    run_dir = Path(args.run_dir)
    ticks = sorted((run_dir / "grids").glob("tick-*.png"))
    if not ticks:
        raise DataError(f"{run_dir / 'grids'}: holds no tick-*.png grids; give a run folder with at least one tick")
    ticks = [ticks[i] for i in np.linspace(0, len(ticks) - 1, min(args.max_frames, len(ticks))).round().astype(int)]
    log = {r["images_shown"]: r for r in read_log(run_dir)} if (run_dir / "log.jsonl").is_file() else {}
    pictures = [Image.open(path).convert("RGB") for path in ticks]
    width, height = max(p.width for p in pictures), max(p.height for p in pictures)
    width, height = fit(width, height, min(width, args.size), min(height, args.size))
    frames = [frame(p, width, height, label(path, log)) for p, path in zip(pictures, ticks)]
    out = Path(args.out or run_dir / "timelapse.gif")
    images.save_gif(out, frames + frames[-1:] * (args.hold - 1), duration_ms=args.frame_ms)
    print(f"timelapse.py: wrote {out} ({len(frames)} frames, {width}×{height + LABEL_HEIGHT})")
    return 0


def fit(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """``width`` × ``height`` scaled, keeping its shape, to the largest size inside the box."""
    scale = min(box_width / width, box_height / height)
    return min(box_width, max(1, round(width * scale))), min(box_height, max(1, round(height * scale)))


def label(path: Path, log: dict[int, dict]) -> str:
    """kimg, resolution and alpha of the tick that wrote ``path`` (tick-<images shown>.png)."""
    shown = int(path.stem.split("-")[1])
    record = log.get(shown)
    if record is None:
        return f"{shown / 1000:g} kimg"
    fade = f"  fade {record['alpha']:.2f}" if record["alpha"] < 1 else ""
    return f"{shown / 1000:g} kimg  {record['resolution']}px{fade}"


def frame(picture: Image.Image, width: int, height: int, text: str) -> np.ndarray:
    """``picture`` scaled into width × height (sharp when enlarged), centred, under a label bar."""
    w, h = fit(picture.width, picture.height, width, height)
    resample = Image.NEAREST if w >= picture.width else Image.LANCZOS
    canvas = Image.new("RGB", (width, height + LABEL_HEIGHT), "white")
    canvas.paste(picture.resize((w, h), resample), ((width - w) // 2, LABEL_HEIGHT + (height - h) // 2))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 3), text, fill="black", font=font_for(draw, text, width - 8))
    return np.asarray(canvas)


def font_for(draw: ImageDraw.ImageDraw, text: str, width: int) -> ImageFont.FreeTypeFont:
    """The largest default font from 12 px down to 7 px in which ``text`` fits ``width`` (narrow early grids)."""
    for size in range(12, 7, -1):
        font = ImageFont.load_default(size=size)
        if draw.textlength(text, font=font) <= width:
            return font
    return ImageFont.load_default(size=7)


if __name__ == "__main__":
    sys.exit(main())
