"""The typed contracts that plugin factories return.

An architecture factory returns an :class:`Architecture`; a loss factory a :class:`Loss`; a
dataset factory an :class:`progan.data.ImageSet`; a metric factory a :class:`Metric`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn


class Generator(nn.Module, ABC):
    """Maps latents ``z`` [N, latent_size] to images [N, channels, r, r] in about [-1, 1]."""

    latent_size: int
    resolution: int  # the largest resolution the network can produce
    channels: int

    @abstractmethod
    def forward(self, z: torch.Tensor, resolution: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        """Images at ``resolution`` (default: the largest), the newest block blended in by ``alpha``."""

    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0, resolution: int | None = None) -> torch.Tensor:
        """``n`` images from latents drawn with ``seed`` (the same seed always gives the same images)."""
        z = latents(n, self.latent_size, seed=seed, device=next(self.parameters()).device)
        return self(z, resolution)


class Discriminator(nn.Module, ABC):
    """Maps images [N, channels, r, r] at any trained resolution to scores [N]."""

    resolution: int
    channels: int

    @abstractmethod
    def forward(self, images: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """Scores of ``images``; the resolution is read from their shape."""


class Architecture(ABC):
    """Builds a generator and a discriminator; ``progressive`` says whether they grow from 4×4."""

    progressive: bool = True

    @abstractmethod
    def build(self, *, resolution: int, channels: int) -> tuple[Generator, Discriminator]:
        """Fresh, randomly initialised networks for images of this size."""

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """The JSON-serialisable options this architecture was made with (saved in checkpoints)."""


@dataclass(frozen=True)
class StepContext:
    """What a loss may look at in one training step."""

    generator: Generator
    discriminator: Discriminator
    resolution: int  # the resolution trained now (the new one during a fade)
    alpha: float  # weight of the newest block, 1.0 when stable
    target_resolution: int
    images_shown: int
    rng: torch.Generator  # the trainer's generator: draw every random number from it


class Loss(ABC):
    """Owns the GAN objective: the D and G terms and their regularisers."""

    @abstractmethod
    def discriminator_loss(self, ctx: StepContext, reals: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The scalar D objective for ``reals`` and fakes made from ``z``, plus detached figures to log."""

    @abstractmethod
    def generator_loss(self, ctx: StepContext, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The scalar G objective for fakes made from ``z``, plus detached figures to log."""

    def options(self) -> dict[str, Any]:
        """The JSON-serialisable options this loss was made with."""
        return {}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors a stateful loss (a replay buffer, say) needs saved in checkpoints for exact resume."""
        return {}

    def load_state_tensors(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_tensors` returned."""


class Metric(ABC):
    """Computes figures of a generator against real images."""

    higher_is_better: bool = False
    min_size: int = 1  # smallest image side it can score; training skips it at lower resolutions

    @abstractmethod
    def compute(self, generator: Generator, reals: np.ndarray, *, num: int, seed: int) -> Mapping[str, float]:
        """Figures for ``num`` images from ``generator`` against uint8 NHWC ``reals``; the first is the headline."""


def latents(n: int, latent_size: int, *, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard-normal latents [n, latent_size], the same for the same seed on every device."""
    rng = torch.Generator().manual_seed(seed)
    return torch.randn(n, latent_size, generator=rng).to(device)
