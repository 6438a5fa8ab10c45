"""The losses against direct computations, the trainer's real-image blending, optimiser and EMA, and a tiny run 4 -> 16."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from core_helpers import box_down, make_trainer, nearest_up
from progan.interfaces import Discriminator, Generator, StepContext
from progan.losses import Logistic, LogisticOptions, WganGp, WganGpOptions
from progan.config import OptimConfig
from progan.schedule import Schedule, ScheduleConfig, State
from progan.trainer import ema_beta_for

# -- losses on networks whose gradients are known in closed form -------------------------------------------


class FixedGenerator(Generator):
    """Returns stored images (a parameter, so that the G loss has something to differentiate)."""

    latent_size, channels = 4, 1

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.resolution = images.shape[-1]
        self.images = nn.Parameter(images.clone())

    def forward(self, z, resolution=None, alpha=1.0):
        return self.images[: len(z)]


class LinearD(Discriminator):
    """D(x) = <w, x>: its input gradient is w for every sample, so ‖∇‖ = ‖w‖ exactly."""

    channels = 1

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.resolution = w.shape[-1]
        self.w = nn.Parameter(w.clone())

    def forward(self, images, alpha=1.0):
        return (images * self.w).flatten(1).sum(1)


class QuadraticD(Discriminator):
    """D(x) = ½‖x‖²: its input gradient is x itself, so the penalty depends on where x̂ lies."""

    channels, resolution = 1, 8

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, images, alpha=1.0):
        return 0.5 * images.flatten(1).square().sum(1) + self.dummy


def context(G, D, *, resolution=8, target=32, seed=0) -> StepContext:
    return StepContext(G, D, resolution, 1.0, target, 0, torch.Generator().manual_seed(seed))


def images(seed: int, n: int = 4, size: int = 8) -> torch.Tensor:
    return torch.randn(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("gp_norm, resolution, target, gamma", [
    ("full-resolution", 8, 32, 1.0),  # ‖∇_full‖ = ‖∇_native‖ · 8/32
    ("full-resolution", 8, 8, 1.0),  # at the target the two norms agree
    ("native", 8, 32, 1.0),
    ("full-resolution", 8, 16, 750.0),  # CIFAR-10's γ: (‖∇‖ − γ)² / γ²
])
def test_wgan_gp_discriminator_loss_equals_the_papers_formula(gp_norm, resolution, target, gamma):
    reals, fakes = images(1), images(2) + 0.5
    w = images(3, n=1)[0] * 0.4
    D, G = LinearD(w), FixedGenerator(fakes)
    loss = WganGp(WganGpOptions(gp_lambda=10.0, gp_target=gamma, drift=0.001, gp_norm=gp_norm))
    value, stats = loss.discriminator_loss(context(G, D, resolution=resolution, target=target), reals, torch.zeros(4, 4))

    d_real, d_fake = (reals * w).flatten(1).sum(1), (fakes * w).flatten(1).sum(1)
    norm = w.norm().item() * (resolution / target if gp_norm == "full-resolution" else 1.0)
    expected = d_fake.mean() - d_real.mean() + 10.0 * (norm - gamma) ** 2 / gamma**2 + 0.001 * d_real.square().mean()
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(stats["D/gp"], torch.tensor((norm - gamma) ** 2 / gamma**2), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(stats["D/real"], d_real.mean())
    torch.testing.assert_close(stats["D/fake"], d_fake.mean())


def test_wgan_gp_interpolates_reals_and_fakes_with_one_uniform_weight_per_sample():
    reals, fakes = images(4), images(5)
    ctx = context(FixedGenerator(fakes), QuadraticD(), target=8, seed=7)
    replay = torch.Generator().manual_seed(7)  # the loss must draw u from ctx.rng, and nothing before it
    value, stats = WganGp(WganGpOptions(drift=0.0)).discriminator_loss(ctx, reals, torch.zeros(4, 4))

    u = torch.rand(4, 1, 1, 1, generator=replay)
    x_hat = reals + u * (fakes - reals)
    norms = x_hat.flatten(1).norm(dim=1)  # ∇ ½‖x‖² = x
    penalty = (norms - 1).square().mean()
    torch.testing.assert_close(stats["D/gp"], penalty, rtol=1e-5, atol=1e-6)
    wasserstein = 0.5 * fakes.flatten(1).square().sum(1).mean() - 0.5 * reals.flatten(1).square().sum(1).mean()
    torch.testing.assert_close(value, wasserstein + 10 * penalty, rtol=1e-5, atol=1e-5)


def test_wgan_gp_drift_applies_to_real_scores_only():
    reals, fakes = images(6), images(7) * 3
    D, G = LinearD(images(8, n=1)[0]), FixedGenerator(fakes)
    with_drift = WganGp(WganGpOptions(drift=0.001)).discriminator_loss(context(G, D), reals, torch.zeros(4, 4))[0]
    without = WganGp(WganGpOptions(drift=0.0)).discriminator_loss(context(G, D), reals, torch.zeros(4, 4))[0]
    d_real = (reals * D.w).flatten(1).sum(1)
    torch.testing.assert_close(with_drift - without, 0.001 * d_real.square().mean(), rtol=1e-4, atol=1e-6)


def test_discriminator_loss_does_not_reach_the_generator_and_generator_loss_does():
    fakes = images(9)
    D, G = LinearD(images(10, n=1)[0]), FixedGenerator(fakes)
    loss = WganGp(WganGpOptions())
    d_value, _ = loss.discriminator_loss(context(G, D), images(11), torch.zeros(4, 4))
    d_value.backward()
    assert G.images.grad is None and D.w.grad is not None  # fakes are made without a graph in the D step
    g_value, stats = loss.generator_loss(context(G, D), torch.zeros(4, 4))
    torch.testing.assert_close(g_value, -(fakes * D.w).flatten(1).sum(1).mean())  # L_G = −D(G(z))
    g_value.backward()
    torch.testing.assert_close(G.images.grad, -D.w.detach().expand_as(fakes) / 4)
    assert stats["loss/G"] == g_value


@pytest.mark.parametrize("r1_gamma", [0.0, 10.0])
def test_logistic_loss_with_and_without_r1(r1_gamma):
    reals, fakes = images(12), images(13)
    w = images(14, n=1)[0] * 0.2
    D, G = LinearD(w), FixedGenerator(fakes)
    loss = Logistic(LogisticOptions(r1_gamma=r1_gamma))
    value, stats = loss.discriminator_loss(context(G, D), reals, torch.zeros(4, 4))
    d_real, d_fake = (reals * w).flatten(1).sum(1), (fakes * w).flatten(1).sum(1)
    # softplus(t) = log(1 + e^t): −log(1 − sigmoid(D(f))) − log(sigmoid(D(r))) + γ/2·‖∇D(r)‖²
    expected = torch.log1p(d_fake.exp()).mean() + torch.log1p((-d_real).exp()).mean() + 0.5 * r1_gamma * w.square().sum()
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6)
    g_value, _ = loss.generator_loss(context(G, D), torch.zeros(4, 4))
    torch.testing.assert_close(g_value, torch.log1p((-d_fake).exp()).mean(), rtol=1e-5, atol=1e-6)


def test_logistic_r1_is_measured_on_the_reals():
    reals, fakes = images(15), images(16) * 5  # very different norms: using fakes or x̂ would show
    _, stats = Logistic(LogisticOptions(r1_gamma=1.0)).discriminator_loss(context(FixedGenerator(fakes), QuadraticD()), reals, torch.zeros(4, 4))
    torch.testing.assert_close(stats["D/r1"], reals.flatten(1).square().sum(1).mean(), rtol=1e-5, atol=1e-5)


# -- the trainer: reals, optimiser, EMA ------------------------------------------------------------------------


def fading_state(trainer, alpha: float) -> State:
    phase = next(p for p in trainer.schedule.phases if p.fading and p.resolution == 16)
    return State(phase=phase, alpha=alpha, done=False)


def test_reals_during_a_fade_blend_the_image_with_its_avgpooled_upsampled_self(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path)
    indices = torch.tensor([3, 0, 17, 5])
    x = torch.from_numpy(tiny_images[indices.numpy()]).permute(0, 3, 1, 2).float() / 127.5 - 1  # [-1, 1]
    low = nearest_up(box_down(x))
    torch.testing.assert_close(trainer._reals(indices, fading_state(trainer, 0.0)), low, rtol=0, atol=1e-6)
    torch.testing.assert_close(trainer._reals(indices, fading_state(trainer, 1.0)), x, rtol=0, atol=1e-6)
    torch.testing.assert_close(trainer._reals(indices, fading_state(trainer, 0.25)), 0.75 * low + 0.25 * x, rtol=0, atol=1e-5)
    stable = trainer.schedule.at(trainer.schedule.phases[-1].start_img)
    torch.testing.assert_close(trainer._reals(indices, stable), x, rtol=0, atol=1e-6)


def test_reals_are_mapped_to_minus_one_one_from_uint8(tmp_path):
    data = np.zeros((8, 16, 16, 3), np.uint8)
    data[0], data[1] = 255, 0
    trainer = make_trainer(data, tmp_path)
    reals = trainer._reals(torch.tensor([0, 1]), trainer.schedule.at(trainer.schedule.phases[-1].start_img))
    assert torch.equal(reals[0], torch.ones(3, 16, 16)) and torch.equal(reals[1], -torch.ones(3, 16, 16))


def test_mirror_flips_some_samples_horizontally_and_only_that(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path, data={"mirror": True})
    indices = torch.arange(32)
    x = torch.from_numpy(tiny_images[:32]).permute(0, 3, 1, 2).float() / 127.5 - 1
    reals = trainer._reals(indices, trainer.schedule.at(trainer.schedule.phases[-1].start_img))
    flipped = [bool(torch.allclose(r, o.flip(2))) and not torch.allclose(r, o) for r, o in zip(reals, x)]
    same = [bool(torch.allclose(r, o)) for r, o in zip(reals, x)]
    assert all(f or s for f, s in zip(flipped, same))  # each sample is either itself or its mirror image
    assert 4 <= sum(flipped) <= 28  # per sample, p = 0.5


def test_one_step_updates_g_ema_as_an_exponential_average_of_g(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path, optim={"ema_beta": 0.9, "ema_phase_fraction": 0.0})
    before = {k: v.clone() for k, v in trainer.G_ema.state_dict().items()}
    assert all(torch.equal(before[k], v) for k, v in trainer.G.state_dict().items())  # G_ema starts as a copy of G
    trainer.step()
    after_g = trainer.G.state_dict()
    changed = 0
    for name, value in trainer.G_ema.state_dict().items():
        torch.testing.assert_close(value, 0.9 * before[name] + 0.1 * after_g[name], rtol=1e-6, atol=1e-7)
        changed += not torch.equal(value, before[name])
    assert changed > 0


def test_g_ema_half_life_is_capped_by_the_phase_length():
    paper = Schedule(ScheduleConfig(), target_resolution=1024).phases[0]  # 800k images, batch 16
    assert ema_beta_for(OptimConfig(), paper) == 0.999  # a half-life of 11k images: far inside 5% of 800k
    short = Schedule(ScheduleConfig(stabilise_kimg=20, fade_kimg=20), target_resolution=32).phases[0]
    beta = ema_beta_for(OptimConfig(), short)
    assert beta < 0.999
    assert beta ** (1000 / 16) == pytest.approx(0.5)  # half-life = 5% of the 20k-image phase
    assert ema_beta_for(OptimConfig(ema_phase_fraction=0.0), short) == 0.999
    assert ema_beta_for(OptimConfig(ema_beta=0.0), short) == 0.0


def test_g_ema_uses_the_capped_beta_of_its_phase_and_keeps_it_on_resume(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path, kimg=0.024, optim={"ema_beta": 0.99})
    before = {k: v.clone() for k, v in trainer.G_ema.state_dict().items()}
    trainer.step()
    beta = ema_beta_for(trainer.config.optim, trainer.schedule.phases[0])
    assert beta < 0.99
    for name, value in trainer.G_ema.state_dict().items():
        torch.testing.assert_close(value, beta * before[name] + (1 - beta) * trainer.G.state_dict()[name], rtol=1e-6, atol=1e-7)
    path = trainer.save()
    resumed = make_trainer(tiny_images, tmp_path / "again", kimg=0.024, optim={"ema_beta": 0.99})
    resumed.load(path)
    assert resumed.ema_beta == trainer.ema_beta == beta


def test_adam_uses_the_papers_settings_and_restarts_at_every_phase(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path, kimg=0.024)  # 3 steps of 8 per phase
    for _ in range(3):
        trainer.step()
    group = trainer.opt_G.param_groups[0]
    assert isinstance(trainer.opt_G, torch.optim.Adam)
    assert tuple(group["betas"]) == (0.0, 0.99) and group["eps"] == 1e-8 and group["lr"] == 2e-3  # the paper's betas and eps; progan's lr (the paper's is 1e-3)
    assert all(int(s["step"]) == 3 for s in trainer.opt_D.state.values())
    trainer.step()  # the first step of the fade-in 4 -> 8
    assert trainer.phase_index == 1
    assert {int(s["step"]) for s in trainer.opt_G.state.values()} == {1}  # a fresh optimiser, not step 4


def test_adam_state_carries_over_phases_when_reset_is_off(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path, kimg=0.024, optim={"reset_each_phase": False})
    for _ in range(4):
        trainer.step()
    steps = {int(s["step"]) for s in trainer.opt_G.state.values() if len(s)}
    assert 4 in steps  # parameters used since the start have seen all four steps


def test_per_resolution_learning_rates_and_batches_reach_the_optimisers(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path, kimg=0.016, schedule={"g_lr_by_resolution": {8: 5e-4}, "batch_by_resolution": {8: 4}})
    seen = []
    while trainer.images_shown < 48:
        state = trainer.step()
        seen.append((state.resolution, state.phase.batch_size, trainer.opt_G.param_groups[0]["lr"], trainer.opt_D.param_groups[0]["lr"]))
    assert seen[0] == (4, 8, 2e-3, 2e-3)
    assert seen[-1] == (8, 4, 5e-4, 2e-3)


def test_a_step_with_a_batch_not_divisible_by_the_group_trains(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path, batch=6)  # minibatch stddev over groups of 3
    before = trainer.G.to_rgb[0].weight.clone()
    trainer.step()
    assert trainer.images_shown == 6 and not torch.equal(trainer.G.to_rgb[0].weight, before)
    assert all(torch.isfinite(v).all() for v in trainer._sums.values())


# -- a tiny run that grows 4 -> 16 ----------------------------------------------------------------------------
# One run (100 images per phase, batch 8, ~60 steps) checked in several ways; a single test because the
# run is the expensive part and the conftest's ``tiny_images`` is function-scoped.

LOG_KEYS = {"images_shown", "resolution", "alpha", "batch", "g_lr", "d_lr", "loss/D", "loss/G", "img_per_s", "elapsed_s"}


def check_log(records: list[dict], images_shown: int) -> None:
    assert len(records) >= 8
    for record in records:
        assert LOG_KEYS <= record.keys(), LOG_KEYS - record.keys()
        assert all(math.isfinite(record[k]) for k in ("loss/D", "loss/G", "img_per_s", "elapsed_s")), record
        assert 0.0 <= record["alpha"] <= 1.0 and record["batch"] == 8 and record["g_lr"] == record["d_lr"] == 2e-3
    shown = [r["images_shown"] for r in records]
    assert shown == sorted(set(shown)) and shown[-1] == images_shown
    assert [r["resolution"] for r in records] == sorted(r["resolution"] for r in records)  # only ever grows
    assert {r["resolution"] for r in records} == {4, 8, 16}
    assert any(0 < r["alpha"] < 1 for r in records)  # a tick landed inside a fade


def check_files(run_dir, records: list[dict], images_shown: int) -> None:
    stage_grids = sorted(p.name for p in (run_dir / "grids").glob("stage-*.png"))
    assert stage_grids == ["stage-00-stable-4.png", "stage-01-fade-8.png", "stage-02-stable-8.png", "stage-03-fade-16.png", "stage-04-stable-16.png"]
    assert len(list((run_dir / "grids").glob("tick-*.png"))) == len(records)  # one grid per log line
    assert (run_dir / "final.png").is_file()
    checkpoints = sorted((run_dir / "checkpoints").glob("ckpt-*.safetensors"))
    assert len(checkpoints) == 2  # keep_checkpoints
    assert checkpoints[-1].name == f"ckpt-{images_shown:09d}.safetensors"
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]  # atomic writes leave no temporaries
    from PIL import Image

    with Image.open(run_dir / "grids" / "stage-04-stable-16.png") as grid:
        assert grid.mode == "RGB" and min(grid.size) >= 64


def test_a_tiny_run_grows_from_4_to_16_and_logs_trains_and_writes_its_files(tiny_images, tmp_path):
    trainer = make_trainer(tiny_images, tmp_path, kimg=0.1, tick_kimg=0.05, checkpoint_kimg=0.15, keep_checkpoints=2)
    initial = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    steps = []
    result = trainer.run(progress=lambda t, state: steps.append((state.resolution, state.alpha)))

    assert result.reason == "finished"
    assert trainer.images_shown >= trainer.schedule.total_img == 500
    resolutions = [r for r, _ in steps]
    assert resolutions == sorted(resolutions) and resolutions[0] == 4 and resolutions[-1] == 16
    assert any(0 < a < 1 for _, a in steps)  # some steps were trained mid-fade

    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    check_log(records, trainer.images_shown)
    check_files(tmp_path, records, trainer.images_shown)

    for name, value in trainer.G.state_dict().items():
        if name.startswith(("blocks.0", "to_rgb.0", "blocks.1", "blocks.2", "to_rgb.2")):  # every trained layer moved
            assert not torch.equal(value, initial[name]), name
    assert all(torch.isfinite(p).all() for p in trainer.G.parameters())
