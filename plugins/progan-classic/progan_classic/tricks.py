"""The classic GAN stabilising tricks, composed by every loss in losses.py; each is off by default.

* label smoothing / label noise (Salimans et al. 2016): D's targets drawn per sample from a range;
* instance noise (Sønderby et al. 2017): Gaussian noise on D's inputs, its std decaying linearly to 0;
* experience replay (Shrivastava et al. 2017): part of each D fake batch replaced with old fakes.

Every random number comes from the trainer's ``ctx.rng`` so that a resumed run continues bitwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import torch

from progan.interfaces import StepContext


@dataclass(frozen=True)
class TrickOptions:
    """Instance noise and experience replay, which every classic loss offers."""

    instance_noise: float = 0.0  # std of the noise on D's inputs at the start of training; 0 turns it off
    instance_noise_kimg: float = 100.0  # thousands of real images over which that std decays linearly to 0
    replay_size: int = 0  # old fakes kept for experience replay; 0 turns it off
    replay_fraction: float = 0.5  # share of each D fake batch taken from the replay buffer

    def __post_init__(self) -> None:
        if not 0.0 <= self.instance_noise < math.inf:
            raise ValueError(f"'instance_noise' must be a finite std ≥ 0, got {self.instance_noise}")
        if not 0.0 < self.instance_noise_kimg < math.inf:
            raise ValueError(f"'instance_noise_kimg' must be positive, got {self.instance_noise_kimg}")
        if self.replay_size < 0:
            raise ValueError(f"'replay_size' must be at least 0, got {self.replay_size}")
        if not 0.0 <= self.replay_fraction <= 1.0:
            raise ValueError(f"'replay_fraction' must be in [0, 1], got {self.replay_fraction}")


LABEL_RANGE_OPTIONS = ("real_label_range", "fake_label_range")


@dataclass(frozen=True)
class LabelTrickOptions(TrickOptions):
    """The tricks plus label smoothing / label noise, for losses whose D has targets."""

    real_label_range: tuple[float, float] | None = None  # D's real targets ~ U[low, high] per sample, e.g. [0.7, 1.2]
    fake_label_range: tuple[float, float] | None = None  # D's fake targets ~ U[low, high] per sample, e.g. [0.0, 0.3]

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in LABEL_RANGE_OPTIONS:
            bounds = getattr(self, name)
            if bounds is not None and not (len(bounds) == 2 and -math.inf < bounds[0] <= bounds[1] < math.inf):
                raise ValueError(f"'{name}' must be [low, high] with low ≤ high, got {list(bounds)}")


@dataclass(frozen=True, kw_only=True)
class Target:
    """D's target for one side: ``value``, or with ``bounds`` a fresh uniform draw per sample."""

    value: float
    bounds: tuple[float, float] | None = None

    def __call__(self, scores: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """Targets shaped like ``scores``."""
        if self.bounds is None:
            return torch.full_like(scores, self.value)
        low, high = self.bounds
        uniform = torch.rand(scores.shape, generator=rng)
        return (low + (high - low) * uniform).to(scores.device, scores.dtype)


@dataclass(frozen=True, kw_only=True)
class InstanceNoise:
    """Gaussian noise on D's inputs with std falling linearly from ``std`` to 0 over ``kimg`` thousand real images."""

    std: float
    kimg: float

    def std_at(self, images_shown: int) -> float:
        """The noise std after ``images_shown`` real images."""
        return self.std * max(0.0, 1.0 - images_shown / (1000.0 * self.kimg))

    def __call__(self, images: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """``images`` plus the noise of this step (the images themselves once the std reached 0)."""
        std = self.std_at(ctx.images_shown)
        if std == 0.0:
            return images
        noise = torch.randn(images.shape, generator=ctx.rng).to(images.device, images.dtype)
        return images + std * noise


class ReplayBuffer:
    """Up to ``size`` old fakes; ``mix`` swaps ``fraction`` of a fake batch for some of them, then stores the batch."""

    def __init__(self, *, size: int, fraction: float) -> None:
        self.size, self.fraction = size, fraction
        self.images: torch.Tensor | None = None  # [size, C, H, W], allocated at the first batch
        self.filled = 0

    def mix(self, fakes: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """``fakes`` [N, C, H, W] (detached) whose first ⌊fraction·N⌋ are replaced by buffered fakes drawn with replacement."""
        if self.size == 0:
            return fakes
        fakes = fakes.detach()
        if self.images is None or self.images.shape[1:] != fakes.shape[1:]:
            # first batch, or a new resolution of a growing architecture: old fakes no longer fit D
            self.images, self.filled = fakes.new_zeros((self.size, *fakes.shape[1:])), 0
        self.images = self.images.to(fakes.device, fakes.dtype)  # a resumed buffer arrives on the CPU
        count = int(self.fraction * len(fakes)) if self.filled else 0
        picks = torch.randint(self.filled, (count,), generator=rng) if count else torch.empty(0, dtype=torch.long)
        mixed = torch.cat([self.images[picks.to(fakes.device)], fakes[count:]])
        self._store(fakes, rng)
        return mixed

    def _store(self, fakes: torch.Tensor, rng: torch.Generator) -> None:
        """Fill empty slots first, then overwrite distinct random old slots (history fades out gradually)."""
        kept = min(len(fakes), self.size)  # a batch larger than the buffer stores only its first fakes
        fresh = min(kept, self.size - self.filled)
        slots = torch.arange(self.filled, self.filled + fresh)
        if kept > fresh:  # the buffer is full after the fresh slots: the rest overwrite old fakes
            slots = torch.cat([slots, torch.randperm(self.filled, generator=rng)[: kept - fresh]])
        self.images[slots.to(fakes.device)] = fakes[:kept]
        self.filled += fresh

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The buffer and its fill count (nothing before the first batch)."""
        if self.images is None:
            return {}
        return {"replay/images": self.images.clone(), "replay/filled": torch.tensor(self.filled, dtype=torch.int64)}

    def load_state_tensors(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_tensors` returned (an empty mapping empties the buffer)."""
        images = tensors.get("replay/images")
        self.images = None if images is None else images.clone()
        self.filled = 0 if images is None else int(tensors["replay/filled"])
