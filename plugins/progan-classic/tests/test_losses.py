"""minimax, hinge and lsgan against their formulas on known D scores, and their options."""
from __future__ import annotations

import math

import pytest
import torch

from progan.errors import ConfigError
from progan_classic.plugin import hinge, lsgan, minimax

REAL = torch.tensor([2.0, -1.0, 0.5, 3.0])  # D's scores of the reals
FAKE = torch.tensor([-2.0, 1.5, 0.0, -0.5])  # D's scores of the fakes


def constant_images(values: torch.Tensor) -> torch.Tensor:
    """Images [N, 1, 2, 2] filled with ``values`` [N]: MeanDiscriminator scores them ``values``."""
    return values[:, None, None, None].expand(-1, 1, 2, 2)


def latents(values: torch.Tensor) -> torch.Tensor:
    """Latents [N, 4] whose first entry ValueGenerator turns into fakes scored ``values``."""
    return torch.cat([values[:, None], torch.zeros(len(values), 3)], dim=1)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def losses(loss, ctx) -> tuple[float, float]:
    d_loss, _ = loss.discriminator_loss(ctx, constant_images(REAL), latents(FAKE))
    g_loss, _ = loss.generator_loss(ctx, latents(FAKE))
    return d_loss.item(), g_loss.item()


def test_minimax_matches_the_paper(make_ctx) -> None:
    d_loss, g_loss = losses(minimax({}), make_ctx())
    expected_d = -mean(math.log(sigmoid(r)) for r in REAL.tolist()) - mean(math.log(1 - sigmoid(f)) for f in FAKE.tolist())
    assert d_loss == pytest.approx(expected_d, rel=1e-6)
    assert g_loss == pytest.approx(mean(math.log(1 - sigmoid(f)) for f in FAKE.tolist()), rel=1e-6)


def test_minimax_is_stable_for_extreme_logits(make_ctx) -> None:
    loss = minimax({})
    d_loss, _ = loss.discriminator_loss(make_ctx(), constant_images(torch.tensor([-200.0])), latents(torch.tensor([200.0])))
    g_loss, _ = loss.generator_loss(make_ctx(), latents(torch.tensor([200.0])))
    assert d_loss.item() == pytest.approx(400.0) and g_loss.item() == pytest.approx(-200.0)  # log σ(−200) ≈ −200, no inf


def test_hinge_matches_its_formula(make_ctx) -> None:
    d_loss, g_loss = losses(hinge({}), make_ctx())
    assert d_loss == pytest.approx(mean(max(0, 1 - r) for r in REAL.tolist()) + mean(max(0, 1 + f) for f in FAKE.tolist()))
    assert g_loss == pytest.approx(-mean(FAKE.tolist()))


@pytest.mark.parametrize("a, b, c", [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0)])
def test_lsgan_matches_its_formula(make_ctx, a: float, b: float, c: float) -> None:
    d_loss, g_loss = losses(lsgan({"a": a, "b": b, "c": c}), make_ctx())
    assert d_loss == pytest.approx(0.5 * mean((r - b) ** 2 for r in REAL.tolist()) + 0.5 * mean((f - a) ** 2 for f in FAKE.tolist()))
    assert g_loss == pytest.approx(0.5 * mean((f - c) ** 2 for f in FAKE.tolist()))


def test_label_ranges_draw_targets_from_ctx_rng(make_ctx) -> None:
    """The targets are uniform draws from ctx.rng, real ones first; both losses use them in place of 1/0 or b/a."""
    options = {"real_label_range": [0.7, 1.2], "fake_label_range": [0.0, 0.3]}
    rng = torch.Generator().manual_seed(0)
    real_t = (0.7 + 0.5 * torch.rand(len(REAL), generator=rng)).tolist()
    fake_t = (0.3 * torch.rand(len(FAKE), generator=rng)).tolist()
    assert min(real_t) >= 0.7 and max(real_t) <= 1.2 and min(fake_t) >= 0.0 and max(fake_t) <= 0.3

    d_loss, _ = minimax(options).discriminator_loss(make_ctx(), constant_images(REAL), latents(FAKE))
    bce = lambda s, t: -(t * math.log(sigmoid(s)) + (1 - t) * math.log(1 - sigmoid(s)))  # noqa: E731
    expected = mean(map(bce, REAL.tolist(), real_t)) + mean(map(bce, FAKE.tolist(), fake_t))
    assert d_loss.item() == pytest.approx(expected, rel=1e-6)

    d_loss, _ = lsgan({**options, "a": -5.0, "b": 5.0}).discriminator_loss(make_ctx(), constant_images(REAL), latents(FAKE))
    expected = 0.5 * mean((r - t) ** 2 for r, t in zip(REAL.tolist(), real_t)) + 0.5 * mean((f - t) ** 2 for f, t in zip(FAKE.tolist(), fake_t))
    assert d_loss.item() == pytest.approx(expected, rel=1e-6)


def test_the_generator_loss_ignores_label_ranges(make_ctx) -> None:
    smoothed = minimax({"real_label_range": [0.7, 1.2], "fake_label_range": [0.0, 0.3]})
    assert losses(smoothed, make_ctx())[1] == losses(minimax({}), make_ctx())[1]


def test_instance_noise_reaches_both_d_inputs_and_the_generator_step(make_ctx) -> None:
    loss = hinge({"instance_noise": 0.5, "instance_noise_kimg": 1})
    clean, _ = losses(hinge({}), make_ctx())
    noisy, g_noisy = losses(loss, make_ctx(images_shown=500))
    assert noisy != clean and g_noisy != losses(hinge({}), make_ctx())[1]
    _, stats = loss.discriminator_loss(make_ctx(images_shown=500), constant_images(REAL), latents(FAKE))
    assert stats["D/noise_std"].item() == pytest.approx(0.25)
    assert losses(loss, make_ctx(images_shown=1000)) == losses(hinge({}), make_ctx())  # decayed to 0


def test_stats_are_detached_scalars(make_ctx) -> None:
    loss = minimax({"instance_noise": 0.1, "replay_size": 8})
    _, d_stats = loss.discriminator_loss(make_ctx(), constant_images(REAL), latents(FAKE))
    _, g_stats = loss.generator_loss(make_ctx(), latents(FAKE))
    assert set(d_stats) == {"loss/D", "D/real", "D/fake", "D/noise_std", "D/replay_filled"} and set(g_stats) == {"loss/G"}
    assert all(v.ndim == 0 and not v.requires_grad for v in [*d_stats.values(), *g_stats.values()])
    assert d_stats["D/replay_filled"].item() == 4


@pytest.mark.parametrize("option", ["real_label_range", "fake_label_range"])
def test_hinge_refuses_label_smoothing(option: str) -> None:
    with pytest.raises(ConfigError, match=rf"'loss\.{option}' does not apply to the hinge loss.*minimax or lsgan"):
        hinge({option: [0.7, 1.0]})


@pytest.mark.parametrize("factory", [minimax, hinge, lsgan])
def test_unknown_loss_option_names_it_and_suggests(factory) -> None:
    with pytest.raises(ConfigError, match=r"'loss\.replay_sise'.*'loss\.replay_size'"):
        factory({"replay_sise": 8})


@pytest.mark.parametrize(
    "options",
    [{"real_label_range": [1.0, 0.5]}, {"fake_label_range": [0.1]}, {"replay_fraction": 1.5}, {"replay_size": -1},
     {"instance_noise": -0.1}, {"instance_noise_kimg": 0}, {"a": "zero"}],
)
def test_invalid_loss_option_values_are_refused(options: dict) -> None:
    (name,) = options
    with pytest.raises(ConfigError, match=name):
        lsgan(options)


def test_options_are_resolved() -> None:
    tricks = {"instance_noise": 0.0, "instance_noise_kimg": 100.0, "replay_size": 0, "replay_fraction": 0.5}
    labels = {"real_label_range": None, "fake_label_range": None}
    assert hinge({}).options() == tricks
    assert minimax({"real_label_range": [0.7, 1.2]}).options() == {**tricks, **labels, "real_label_range": [0.7, 1.2]}
    assert lsgan({}).options() == {**tricks, **labels, "a": 0.0, "b": 1.0, "c": 1.0}
    assert minimax(minimax({"replay_size": 4}).options()).options() == minimax({"replay_size": 4}).options()
