"""A few real optimisation steps of DCGAN with each loss, every trick switched on."""
from __future__ import annotations

import math

import pytest
import torch

from progan.interfaces import StepContext
from progan_classic.plugin import dcgan, hinge, lsgan, minimax

LABELS = {"real_label_range": [0.7, 1.2], "fake_label_range": [0.0, 0.3]}
TRICKS = {"instance_noise": 0.1, "instance_noise_kimg": 1, "replay_size": 16, "replay_fraction": 0.5}
LOSSES = {"minimax": (minimax, {**TRICKS, **LABELS}), "hinge": (hinge, TRICKS), "lsgan": (lsgan, {**TRICKS, **LABELS})}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_dcgan_trains_with_each_loss(name: str) -> None:
    torch.manual_seed(0)
    factory, options = LOSSES[name]
    loss = factory(options)
    generator, discriminator = dcgan({"ngf": 16, "ndf": 16, "latent_size": 32}).build(resolution=16, channels=3)
    g_opt = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    weights = {f"{net}.{name}": p for net, module in (("G", generator), ("D", discriminator)) for name, p in module.named_parameters() if name.endswith("weight")}
    before = {name: p.detach().clone() for name, p in weights.items()}
    rng = torch.Generator().manual_seed(0)
    data = torch.rand(32, 3, 16, 16, generator=rng) * 2 - 1  # random "real" images in [-1, 1]

    for step in range(4):
        ctx = StepContext(generator, discriminator, 16, 1.0, 16, images_shown=8 * step, rng=rng)
        reals = data[8 * step : 8 * step + 8]
        g_opt.zero_grad(set_to_none=True)
        d_opt.zero_grad(set_to_none=True)
        discriminator.requires_grad_(True)
        d_loss, d_stats = loss.discriminator_loss(ctx, reals, torch.randn(8, 32, generator=rng))
        d_loss.backward()
        d_opt.step()
        assert all(p.grad is None for p in generator.parameters())  # the D step leaves G alone

        discriminator.requires_grad_(False)
        g_loss, g_stats = loss.generator_loss(ctx, torch.randn(8, 32, generator=rng))
        g_loss.backward()
        g_opt.step()
        assert all(math.isfinite(v.item()) for v in (*d_stats.values(), *g_stats.values()))

    # every weight moves; a bias may not: hinge's D logit bias gets zero gradient while all scores sit inside the margin
    assert [name for name, p in weights.items() if torch.equal(p, before[name])] == []
    assert loss.replay.filled == 16
