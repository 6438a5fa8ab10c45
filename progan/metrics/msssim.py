"""Multi-scale SSIM (Wang et al. 2003) between consecutive pairs of generated images, as ProGAN reports it.

Follows the reference used by ProGAN: 11×11 Gaussian window (σ = 1.5) applied 'valid', k1 = 0.01,
k2 = 0.03, L = 255, 5 scales with 2×2 average downsampling, per-pair values clipped at 0 and averaged
over pairs at the end.  At small scales the window shrinks to the image: its side is min(11, H, W) and
σ = 1.5·side/11 (an even side puts the centre between pixels), so 32×32 images use sides 11, 11, 8, 4, 2.
Images need at least 16×16 pixels so that the fifth scale is not empty.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from progan.metrics.swd import filter_2d

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
FILTER_SIZE = 11
FILTER_SIGMA = 1.5
K1, K2 = 0.01, 0.03
MAX_VALUE = 255.0
MIN_SIZE = 2 ** (len(WEIGHTS) - 1)
PIXELS_PER_STEP = 2**21  # pairs × H × W computed at once: keeps the float64 moment stacks near 250 MB


def gaussian_window(size: int, sigma: float) -> torch.Tensor:
    """The normalised 1-D factor of the separable 2-D Gaussian window, float64 [size]."""
    # Even sides centre the window between pixels, like the reference's 0.5 offset.
    x = torch.arange(size, dtype=torch.float64) - size // 2 + (0.5 if size % 2 == 0 else 0.0)
    g = torch.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def ssim_and_cs(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair SSIM and contrast-structure terms [P] of float images [P, C, H, W] in 0..255."""
    size = min(FILTER_SIZE, *x.shape[-2:])
    g = gaussian_window(size, size * FILTER_SIGMA / FILTER_SIZE)
    moments = filter_2d(torch.stack([x, y, x * x, y * y, x * y], dim=1), g.tolist())  # [P, 5, C, H', W'], 'valid'
    mu_x, mu_y, xx, yy, xy = moments.unbind(1)
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    c1, c2 = (K1 * MAX_VALUE) ** 2, (K2 * MAX_VALUE) ** 2
    v1, v2 = 2.0 * cov + c2, var_x + var_y + c2
    ssim = ((2.0 * mu_x * mu_y + c1) * v1) / ((mu_x * mu_x + mu_y * mu_y + c1) * v2)
    return ssim.mean(dim=(1, 2, 3)), (v1 / v2).mean(dim=(1, 2, 3))


def ms_ssim(a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    """MS-SSIM of each pair of uint8 NHWC images a[i], b[i], float64 [N]."""
    if a.shape != b.shape or a.dtype != np.uint8 or b.dtype != np.uint8 or a.ndim != 4:
        raise ValueError(f"need two uint8 [N, H, W, C] arrays of one shape, got {a.dtype} {a.shape}, {b.dtype} {b.shape}")
    if min(a.shape[1:3]) < MIN_SIZE:
        raise ValueError(f"MS-SSIM needs images of at least {MIN_SIZE}×{MIN_SIZE}, got {a.shape[1]}×{a.shape[2]}")
    step = max(1, PIXELS_PER_STEP // (a.shape[1] * a.shape[2]))
    return torch.cat([_ms_ssim(a[i : i + step], b[i : i + step]) for i in range(0, len(a), step)])


def _ms_ssim(a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    # float64: the variances are differences of squares near 255², which float32 would round visibly.
    x, y = (torch.from_numpy(np.ascontiguousarray(v)).double().permute(0, 3, 1, 2) for v in (a, b))  # [N, C, H, W]
    ssims, css = [], []
    for scale in range(len(WEIGHTS)):
        if scale:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        ssim, cs = ssim_and_cs(x, y)
        ssims.append(ssim)
        css.append(cs)
    weights = torch.tensor(WEIGHTS, dtype=torch.float64)
    # Negative terms are clipped to zero as in the reference: a fractional power of one is NaN.
    terms = torch.stack([*css[:-1], ssims[-1]]).clamp_min(0.0)  # [5, N]
    return (terms ** weights[:, None]).prod(dim=0)


def ms_ssim_pairs(batches: np.ndarray | Iterable[np.ndarray], *, batch_size: int = 500) -> float:
    """Mean MS-SSIM of consecutive pairs images[0::2] vs images[1::2] (batches must have even lengths)."""
    if isinstance(batches, np.ndarray):
        images, step = batches, max(2, batch_size - batch_size % 2)
        end = len(images) - len(images) % 2  # an odd last image has no partner
        batches = (images[start : min(start + step, end)] for start in range(0, end, step))
    total, pairs = 0.0, 0
    for batch in batches:
        if len(batch) % 2:
            raise ValueError(f"a batch of {len(batch)} images cannot be split into consecutive pairs")
        values = ms_ssim(batch[0::2], batch[1::2])
        total += values.sum().item()
        pairs += len(values)
    if pairs == 0:
        raise ValueError("MS-SSIM needs at least one pair of images")
    return total / pairs
