"""The classic GAN losses ``minimax``, ``hinge`` and ``lsgan``, each composing the tricks of tricks.py."""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn.functional as F

from progan.interfaces import Loss, StepContext
from progan.options import to_dict
from progan_classic.tricks import InstanceNoise, LabelTrickOptions, ReplayBuffer, Target, TrickOptions


class ClassicLoss(Loss):
    """D judges reals and (replayed) fakes, G is judged through D; instance noise on every D input."""

    def __init__(self, *, options: TrickOptions) -> None:
        self.opts = options
        self.noise = InstanceNoise(std=options.instance_noise, kimg=options.instance_noise_kimg)
        self.replay = ReplayBuffer(size=options.replay_size, fraction=options.replay_fraction)

    @abstractmethod
    def d_objective(self, real_scores: torch.Tensor, fake_scores: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """The scalar D loss from D's scores [N] of reals and of fakes."""

    @abstractmethod
    def g_objective(self, fake_scores: torch.Tensor) -> torch.Tensor:
        """The scalar G loss from D's scores [N] of fakes."""

    def discriminator_loss(self, ctx: StepContext, reals: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.no_grad():  # D's step needs no gradient through G
            fakes = self.replay.mix(ctx.generator(z, ctx.resolution, ctx.alpha), ctx.rng)
        # reals and fakes in separate batches, as DCGAN trains BatchNorm in D
        real_scores = ctx.discriminator(self.noise(reals, ctx), ctx.alpha)
        fake_scores = ctx.discriminator(self.noise(fakes, ctx), ctx.alpha)
        loss = self.d_objective(real_scores, fake_scores, ctx.rng)
        stats = {"loss/D": loss.detach(), "D/real": real_scores.detach().mean(), "D/fake": fake_scores.detach().mean()}
        if self.noise.std > 0:
            stats["D/noise_std"] = torch.tensor(self.noise.std_at(ctx.images_shown))
        if self.replay.size > 0:
            stats["D/replay_filled"] = torch.tensor(float(self.replay.filled))
        return loss, stats

    def generator_loss(self, ctx: StepContext, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        fakes = ctx.generator(z, ctx.resolution, ctx.alpha)
        # D learnt on noisy inputs, so G is judged through the same noise
        loss = self.g_objective(ctx.discriminator(self.noise(fakes, ctx), ctx.alpha))
        return loss, {"loss/G": loss.detach()}

    def options(self) -> dict:
        return to_dict(self.opts)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return self.replay.state_tensors()

    def load_state_tensors(self, tensors: Mapping[str, torch.Tensor]) -> None:
        self.replay.load_state_tensors(tensors)


class Minimax(ClassicLoss):
    """The original saturating loss (Goodfellow et al. 2014) on logits: D maximises log D(x) + log(1−D(G(z))), G minimises log(1−D(G(z)))."""

    def __init__(self, *, options: LabelTrickOptions) -> None:
        super().__init__(options=options)
        self.real_target = Target(value=1.0, bounds=options.real_label_range)
        self.fake_target = Target(value=0.0, bounds=options.fake_label_range)

    def d_objective(self, real_scores: torch.Tensor, fake_scores: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        # BCE with target t is −[t·log σ(s) + (1−t)·log(1−σ(s))]: the paper's objective, negated, for t = 1 and 0
        real = F.binary_cross_entropy_with_logits(real_scores, self.real_target(real_scores, rng))
        return real + F.binary_cross_entropy_with_logits(fake_scores, self.fake_target(fake_scores, rng))

    def g_objective(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -F.softplus(fake_scores).mean()  # log(1 − σ(s)) = −softplus(s), finite for any logit


class Hinge(ClassicLoss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D minimises relu(1−D(x)) + relu(1+D(G(z))), G minimises −D(G(z))."""

    def d_objective(self, real_scores: torch.Tensor, fake_scores: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()

    def g_objective(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()


@dataclass(frozen=True)
class LSGANOptions(LabelTrickOptions):
    """Least-squares targets (Mao et al. 2017); a label range, when set, replaces ``b`` or ``a``."""

    a: float = 0.0  # D's target for fakes
    b: float = 1.0  # D's target for reals
    c: float = 1.0  # what G wants D to say of fakes


class LSGAN(ClassicLoss):
    """Least squares: D minimises ½(D(x)−b)² + ½(D(G(z))−a)², G minimises ½(D(G(z))−c)²."""

    def __init__(self, *, options: LSGANOptions) -> None:
        super().__init__(options=options)
        self.real_target = Target(value=options.b, bounds=options.real_label_range)
        self.fake_target = Target(value=options.a, bounds=options.fake_label_range)
        self.generator_target = options.c

    def d_objective(self, real_scores: torch.Tensor, fake_scores: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        real = 0.5 * F.mse_loss(real_scores, self.real_target(real_scores, rng))
        return real + 0.5 * F.mse_loss(fake_scores, self.fake_target(fake_scores, rng))

    def g_objective(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake_scores - self.generator_target).square().mean()
