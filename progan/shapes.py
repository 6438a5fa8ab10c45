"""The embedded default dataset: coloured shapes on varied backgrounds, made at any resolution.

Deterministic for a seed, needs no files, and has enough structure (outlines, fills, colour
contrast) that a person sees a GAN learn it within minutes.
"""
from __future__ import annotations

import numpy as np

from progan.data import ImageSet

KINDS = ("circle", "square", "triangle", "diamond")


def make_shapes(count: int = 4096, *, resolution: int = 64, seed: int = 0) -> ImageSet:
    """``count`` RGB images [count, resolution, resolution, 3], one or two shapes each."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    supersample = max(1, min(4, 256 // resolution))  # draw large, then downsample: smooth edges
    size = resolution * supersample
    images = np.empty((count, resolution, resolution, 3), np.uint8)
    labels = np.empty(count, np.int64)
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    for i in range(count):
        top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        gradient = top[None, :] * (1 - ramp[:, None]) + bottom[None, :] * ramp[:, None]  # [size, 3]
        background = np.broadcast_to(gradient[:, None, :], (size, size, 3)).astype(np.uint8)
        image = Image.fromarray(np.ascontiguousarray(background))
        draw = ImageDraw.Draw(image)
        kind = int(rng.integers(len(KINDS)))
        labels[i] = kind
        for layer in range(1 + int(rng.random() < 0.3)):
            scale = rng.uniform(0.35, 0.6) if layer == 0 else rng.uniform(0.2, 0.3)
            radius = scale * size / 2
            cx, cy = rng.uniform(radius, size - radius, 2)
            fill = tuple(int(v) for v in _contrasting(rng, (top + bottom) / 2))
            outline = tuple(int(v) for v in (255 - np.array(fill)) // 2)
            _draw(draw, KINDS[kind if layer == 0 else int(rng.integers(len(KINDS)))], cx, cy, radius, fill, outline, max(1, size // 32))
        images[i] = np.asarray(image.resize((resolution, resolution), Image.LANCZOS))
    return ImageSet(images, labels, f"shapes:{count}")


def _contrasting(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A saturated colour far enough from the background to stand out."""
    while True:
        colour = rng.integers(0, 256, 3)
        colour[rng.integers(3)] = rng.choice([0, 255])
        if np.abs(colour - background).sum() > 200:
            return colour


def _draw(draw, kind: str, cx: float, cy: float, r: float, fill, outline, width: int) -> None:
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=outline, width=width)
    elif kind == "square":
        s = r * 0.85
        draw.rectangle([cx - s, cy - s, cx + s, cy + s], fill=fill, outline=outline, width=width)
    elif kind == "triangle":
        points = [(cx, cy - r), (cx + r * 0.95, cy + r * 0.75), (cx - r * 0.95, cy + r * 0.75)]
        draw.polygon(points, fill=fill, outline=outline, width=width)
    else:  # diamond
        points = [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
        draw.polygon(points, fill=fill, outline=outline, width=width)
