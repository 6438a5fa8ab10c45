"""Shared helpers: a StepContext builder and stand-in networks whose scores are known in advance."""
from __future__ import annotations

from typing import Callable

import pytest
import torch

from progan.interfaces import Discriminator, Generator, StepContext


class ValueGenerator(Generator):
    """Fakes [N, 1, 2, 2] filled with z[:, 0], so that MeanDiscriminator scores them exactly z[:, 0]."""

    latent_size, resolution, channels = 4, 2, 1

    def forward(self, z: torch.Tensor, resolution: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        return z[:, :1, None, None].expand(-1, 1, 2, 2)  # [N, 1] -> [N, 1, 2, 2]


class MeanDiscriminator(Discriminator):
    """Scores are the image means: a constant image's score is its value."""

    resolution, channels = 2, 1

    def forward(self, images: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        return images.mean(dim=(1, 2, 3))


MakeContext = Callable[..., StepContext]


@pytest.fixture
def make_ctx() -> MakeContext:
    def make(generator: Generator | None = None, discriminator: Discriminator | None = None, *, images_shown: int = 0, seed: int = 0) -> StepContext:
        generator = generator or ValueGenerator()
        discriminator = discriminator or MeanDiscriminator()
        return StepContext(
            generator=generator,
            discriminator=discriminator,
            resolution=generator.resolution,
            alpha=1.0,
            target_resolution=generator.resolution,
            images_shown=images_shown,
            rng=torch.Generator().manual_seed(seed),
        )

    return make


@pytest.fixture(autouse=True)
def single_thread():
    """The networks here are tiny: intra-op threads only add overhead, and a lot on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
