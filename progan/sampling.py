"""Sampling a generator: latents for chosen seeds, spherical walks between them, images in bounded batches."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from progan import images
from progan.interfaces import Generator, latents


def seed_latents(seeds: Sequence[int], latent_size: int) -> torch.Tensor:
    """One latent per seed, [len(seeds), latent_size]: seed s gives the image of ``G.sample(1, seed=s)``."""
    return torch.cat([latents(1, latent_size, seed=seed) for seed in seeds])


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` at fractions ``t`` [N].

    Gaussian latents lie near a sphere; a straight line between two of them passes through
    atypically short vectors, the great-circle arc does not.
    """
    t = t.reshape(-1, 1)
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1).clamp(-1.0, 1.0).reshape(-1, 1)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    parallel = sin.abs() < 1e-6  # (anti)parallel rows: the arc is undefined, a straight line is as good
    safe = torch.where(parallel, torch.ones_like(sin), sin)
    arc = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / safe
    return torch.where(parallel, torch.lerp(a, b, t), arc)


def walk(keys: torch.Tensor, frames: int) -> torch.Tensor:
    """``frames`` latents on a closed loop through the rows of ``keys`` and back to the first, equal time per leg."""
    position = torch.arange(frames, dtype=torch.float64) * len(keys) / frames
    leg = position.floor().long()
    return slerp(keys[leg], keys[(leg + 1) % len(keys)], (position - leg).float())


@torch.no_grad()
def render(G: Generator, z: torch.Tensor, *, batch: int = 64) -> np.ndarray:
    """uint8 images [N, H, W, C] of ``G`` for latents ``z``, ``batch`` at a time to bound memory."""
    device = next(G.parameters()).device
    return np.concatenate([images.to_uint8(G(chunk.to(device))) for chunk in z.split(batch)])
