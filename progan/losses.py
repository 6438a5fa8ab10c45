"""The built-in losses: WGAN-GP with drift (the paper's) and the non-saturating logistic loss."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from progan.interfaces import Loss, StepContext
from progan.layers import penalty_pass
from progan.options import to_dict
from progan.performance import eager, full_precision


def _fakes(ctx: StepContext, z: torch.Tensor) -> torch.Tensor:
    return full_precision(ctx.generator(z, ctx.resolution, ctx.alpha))  # fp32 under autocast: every loss term is fp32


def real_and_fake_scores(ctx: StepContext, reals: torch.Tensor, fakes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D's scores of the reals and of the fakes: one pass over both when D can keep them apart.

    A D with ``accepts_parts`` scores the two halves of ``cat([reals, fakes])`` exactly as two calls
    would (its minibatch stddev groups within each half): half the passes, twice the batch per op.
    """
    D = ctx.discriminator
    if getattr(D, "accepts_parts", False) and reals.shape == fakes.shape:
        scores = full_precision(D(torch.cat([reals, fakes]), ctx.alpha, parts=2))
        return scores[: len(reals)], scores[len(reals) :]
    return full_precision(D(reals, ctx.alpha)), full_precision(D(fakes, ctx.alpha))


def per_sample_uniform(ctx: StepContext, n: int) -> torch.Tensor:
    """U(0, 1) draws [n, 1, 1, 1] from ``ctx.rng``, one per sample.

    A data-parallel rank (``ctx.shard``, see progan.distributed) draws for the whole global batch
    and keeps its samples' draws: every rank's generator then stays in step with a single process.
    """
    shard = getattr(ctx, "shard", None)
    if shard is None:
        return torch.rand(n, 1, 1, 1, generator=ctx.rng)
    return torch.rand(ctx.global_batch, 1, 1, 1, generator=ctx.rng)[shard]


def gradient_norms(ctx: StepContext, images: torch.Tensor, *, create_graph: bool = True) -> torch.Tensor:
    """Per-sample ‖∇_x D(x)‖₂ at ``images``, and D's scores there.

    Always in fp32 and with the eager D: the pass is differentiated twice, which compiled graphs
    do not support, and a 16-bit input gradient would be too coarse for the penalty.
    """
    images = images.detach().requires_grad_(True)
    with torch.autocast(images.device.type, enabled=False), penalty_pass():
        scores = eager(ctx.discriminator)(images, ctx.alpha)
        (grad,) = torch.autograd.grad(scores.sum(), images, create_graph=create_graph)
    return grad.flatten(1).norm(dim=1), scores


class ConfiguredLoss(Loss):
    """A loss whose options are a frozen dataclass, kept as ``opts`` and saved in checkpoints."""

    def __init__(self, options) -> None:
        self.opts = options

    def options(self) -> dict:
        return to_dict(self.opts)


@dataclass(frozen=True)
class WganGpOptions:
    """WGAN-GP + drift, as the paper: L_D = D(f) − D(r) + λ(‖∇‖−γ)²/γ² + ε·D(r)²."""

    gp_lambda: float = 10.0
    gp_target: float = 1.0  # γ; the paper used 750 for CIFAR-10
    drift: float = 0.001  # ε_drift, on reals only
    # "native": ‖∇‖ on the image as trained, γ at every resolution (pro_gan_pytorch's; with the
    # whole-minibatch stddev it scored ~19% lower SWD on short schedules, docs/quality.md);
    # "full-resolution": as the official code, on the image nearest-upsampled to the target
    # resolution (= native norm / 2^floor(lod)), so D must halve its scale at every doubling.
    gp_norm: Literal["full-resolution", "native"] = "native"


class WganGp(ConfiguredLoss):
    def discriminator_loss(self, ctx: StepContext, reals: torch.Tensor, z: torch.Tensor):
        with torch.no_grad():
            fakes = _fakes(ctx, z)
        real_scores, fake_scores = real_and_fake_scores(ctx, reals, fakes)
        u = per_sample_uniform(ctx, reals.shape[0]).to(reals.device, reals.dtype)
        norms, _ = gradient_norms(ctx, torch.lerp(reals, fakes, u))
        if self.opts.gp_norm == "full-resolution":
            norms = norms * (ctx.resolution / ctx.target_resolution)
        penalty = (norms - self.opts.gp_target).square().mean() / self.opts.gp_target**2
        drift = real_scores.square().mean()
        wasserstein = fake_scores.mean() - real_scores.mean()
        loss = wasserstein + self.opts.gp_lambda * penalty + self.opts.drift * drift
        return loss, {"loss/D": loss.detach(), "D/real": real_scores.detach().mean(), "D/fake": fake_scores.detach().mean(), "D/gp": penalty.detach()}

    def generator_loss(self, ctx: StepContext, z: torch.Tensor):
        loss = -full_precision(ctx.discriminator(_fakes(ctx, z), ctx.alpha)).mean()
        return loss, {"loss/G": loss.detach()}


@dataclass(frozen=True)
class LogisticOptions:
    """Non-saturating logistic (BCE-from-logits) loss with an optional R1 penalty on reals."""

    r1_gamma: float = 0.0  # 0 turns R1 off; StyleGAN uses 10


class Logistic(ConfiguredLoss):
    def discriminator_loss(self, ctx: StepContext, reals: torch.Tensor, z: torch.Tensor):
        with torch.no_grad():
            fakes = _fakes(ctx, z)
        if self.opts.r1_gamma > 0:
            norms, real_scores = gradient_norms(ctx, reals)
            r1 = norms.square().mean()
            fake_scores = full_precision(ctx.discriminator(fakes, ctx.alpha))
        else:
            (real_scores, fake_scores), r1 = real_and_fake_scores(ctx, reals, fakes), torch.zeros((), device=reals.device)
        loss = F.softplus(fake_scores).mean() + F.softplus(-real_scores).mean() + 0.5 * self.opts.r1_gamma * r1
        return loss, {"loss/D": loss.detach(), "D/real": real_scores.detach().mean(), "D/fake": fake_scores.detach().mean(), "D/r1": r1.detach()}

    def generator_loss(self, ctx: StepContext, z: torch.Tensor):
        loss = F.softplus(-full_precision(ctx.discriminator(_fakes(ctx, z), ctx.alpha))).mean()
        return loss, {"loss/G": loss.detach()}
