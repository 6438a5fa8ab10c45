"""Turning generator output into pictures: uint8 conversion, grids, PNG/GIF files."""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from progan.checkpoint import write_atomic


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Float images [N, C, H, W] in [-1, 1] to uint8 [N, H, W, C] (x·127.5 + 127.5, rounded, clipped)."""
    x = (images.detach().float() * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def grid(images: np.ndarray, *, columns: int | None = None, min_cell: int = 64, pad: int = 2) -> np.ndarray:
    """uint8 [N, H, W, C] tiled into one image; small images are nearest-upscaled to ``min_cell`` pixels."""
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    scale = max(1, math.ceil(min_cell / h))
    if scale > 1:
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
        h, w = h * scale, w * scale
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[top : top + h, left : left + w] = images[i]
    return canvas


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: str | Path, image: np.ndarray) -> None:
    """uint8 [H, W, C] to a PNG file, written atomically."""
    write_atomic(path, png_bytes(image))


def save_gif(path: str | Path, frames: Sequence[np.ndarray], *, duration_ms: int = 80) -> None:
    """uint8 [H, W, C] frames to a looping animated GIF, written atomically."""
    from PIL import Image

    pictures = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=duration_ms, loop=0)
    write_atomic(path, buffer.getvalue())
