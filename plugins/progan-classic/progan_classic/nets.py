"""Fixed-resolution G and D wrappers shared by the MLP and DCGAN architectures."""
from __future__ import annotations

from typing import Collection

import torch
from torch import nn

from progan.errors import ConfigError
from progan.interfaces import Discriminator, Generator


def check_size(arch: str, *, resolution: int, channels: int, resolutions: Collection[int] | None = None) -> None:
    """ConfigError unless ``channels`` ≥ 1 and ``resolution`` is positive and, if given, one of ``resolutions``."""
    if channels < 1:
        raise ConfigError(f"architecture {arch!r}: channels must be at least 1, got {channels}")
    if resolution < 1 or (resolutions is not None and resolution not in resolutions):
        allowed = "one of " + ", ".join(map(str, sorted(resolutions))) if resolutions is not None else "a positive size"
        raise ConfigError(f"architecture {arch!r} cannot make {resolution}×{resolution} images; resolution must be {allowed}")


class FixedGenerator(Generator):
    """A generator with one output resolution; ``alpha`` is ignored because nothing grows."""

    def __init__(self, *, net: nn.Module, latent_size: int, resolution: int, channels: int) -> None:
        super().__init__()
        self.net = net
        self.latent_size, self.resolution, self.channels = latent_size, resolution, channels

    def forward(self, z: torch.Tensor, resolution: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        """Images [N, channels, resolution, resolution] from latents [N, latent_size]."""
        if resolution not in (None, self.resolution):
            raise ValueError(f"this generator makes only {self.resolution}×{self.resolution} images, not {resolution}×{resolution}")
        return self.net(z)

    def extra_repr(self) -> str:
        return f"latent_size={self.latent_size}, resolution={self.resolution}, channels={self.channels}"


class FixedDiscriminator(Discriminator):
    """A discriminator for one input resolution; ``alpha`` is ignored because nothing grows."""

    def __init__(self, *, net: nn.Module, resolution: int, channels: int) -> None:
        super().__init__()
        self.net = net
        self.resolution, self.channels = resolution, channels

    def forward(self, images: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """Scores [N] (logits) of images [N, channels, resolution, resolution]."""
        if tuple(images.shape[1:]) != (self.channels, self.resolution, self.resolution):
            raise ValueError(
                f"this discriminator takes [N, {self.channels}, {self.resolution}, {self.resolution}] images, got {list(images.shape)}"
            )
        return self.net(images)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, channels={self.channels}"


class SymmetricSigmoid(nn.Module):
    """2·sigmoid(x) − 1: a sigmoid output stretched onto the [-1, 1] range real images use."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * torch.sigmoid(x) - 1.0
