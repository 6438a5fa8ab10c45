"""The paper's G and D: gains, channel counts, parameter count, fade-in blending, linear output."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core_helpers import box_down, nearest_up, nf, paper_parameter_counts
from progan.layers import EqualizedConv2d, EqualizedLinear, lrelu
from progan.networks import ProganDiscriminator, ProganGenerator, ProganOptions

SMALL = ProganOptions(latent_size=16, fmap_base=64, fmap_max=16)  # nf: 16, 16, 16, 8, 4, 2


def build(options: ProganOptions = SMALL, resolution: int = 16, channels: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    return ProganGenerator(options, resolution=resolution, channels=channels), ProganDiscriminator(options, resolution=resolution, channels=channels)


def randomise_biases(*nets: torch.nn.Module) -> None:
    """Zero biases hide mistakes in where a bias is added; give every bias a value."""
    with torch.no_grad():
        for net in nets:
            for name, p in net.named_parameters():
                if name.endswith("bias"):
                    p.normal_(0, 0.3)


# -- equalized learning rate in the built networks ---------------------------------------------------------


def expected_gain(net: str, name: str) -> float:
    """The paper's gains: 1 for toRGB and D's last dense, √2/4 for G's first dense, √2 elsewhere."""
    if net == "G" and name.startswith("to_rgb"):
        return 1.0
    if net == "D" and name == "head.dense1":
        return 1.0
    if net == "G" and name == "blocks.0.dense":
        return math.sqrt(2) / 4
    return math.sqrt(2)


@pytest.mark.parametrize("options, resolution", [(SMALL, 32), (ProganOptions(), 8)])
def test_every_layer_scales_by_its_gain_over_sqrt_fan_in(options, resolution):
    G, D = build(options, resolution)
    seen = set()
    for net_name, net in (("G", G), ("D", D)):
        layers = [(n, m) for n, m in net.named_modules() if isinstance(m, (EqualizedConv2d, EqualizedLinear))]
        assert not any(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in net.modules())  # no unscaled layers
        for name, layer in layers:
            fan_in = math.prod(layer.weight.shape[1:])  # in_channels·k·k, or in_features
            gain = expected_gain(net_name, name)
            assert layer.scale == pytest.approx(gain / math.sqrt(fan_in), rel=1e-12), f"{net_name}.{name}"
            seen.add((net_name, gain))
    # all three special gains are actually present
    assert {("G", 1.0), ("D", 1.0), ("G", math.sqrt(2) / 4), ("G", math.sqrt(2)), ("D", math.sqrt(2))} <= seen


def test_built_networks_start_with_unit_normal_weights_and_zero_biases():
    G, D = build(ProganOptions(), 8)  # big enough for tight statistics
    for net in (G, D):
        weights = torch.cat([p.flatten() for n, p in net.named_parameters() if n.endswith("weight")])
        assert abs(weights.mean().item()) < 0.005 and abs(weights.std().item() - 1) < 0.005
        biases = [p for n, p in net.named_parameters() if n.endswith("bias")]
        assert biases and all(torch.count_nonzero(b) == 0 for b in biases)


def test_generator_first_layer_is_a_dense_with_one_bias_per_channel_and_pixel_norm():
    G, _ = build()
    randomise_biases(G)
    base = G.blocks[0]
    z = torch.randn(3, 16) * 5
    zn = z / z.square().mean(1, keepdim=True).add(1e-8).sqrt()  # the latent is pixel-normalised first
    w = base.dense.weight * (math.sqrt(2) / 4 / math.sqrt(16))
    x = (zn @ w.T).reshape(3, 16, 4, 4) + base.bias.reshape(1, -1, 1, 1)
    x = F.leaky_relu(x, 0.2)
    x = x / x.square().mean(1, keepdim=True).add(1e-8).sqrt()
    x = F.leaky_relu(F.conv2d(x, base.conv.weight * (math.sqrt(2) / math.sqrt(16 * 9)), base.conv.bias, padding=1), 0.2)
    x = x / x.square().mean(1, keepdim=True).add(1e-8).sqrt()
    torch.testing.assert_close(base(z), x, rtol=1e-5, atol=1e-5)


# -- channel counts and size ---------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [SMALL, ProganOptions(latent_size=8, fmap_base=256, fmap_max=32, fmap_decay=0.5)])
def test_channels_per_resolution_follow_the_nf_formula(options):
    G, D = build(options, 64, channels=1)
    f = lambda s: nf(s, fmap_base=options.fmap_base, fmap_max=options.fmap_max, fmap_decay=options.fmap_decay)  # noqa: E731
    z = torch.randn(2, options.latent_size)
    x = G.blocks[0](z)
    assert x.shape == (2, f(1), 4, 4)
    for k in range(1, 5):  # the G block at 2^r = 4·2^k outputs nf(r-1) = nf(k+1)
        x = G.blocks[k](x)
        assert x.shape == (2, f(k + 1), 4 * 2**k, 4 * 2**k)
    for k in range(5):
        assert G.to_rgb[k].weight.shape == (1, f(k + 1), 1, 1)
        assert D.from_rgb[k].weight.shape == (f(k + 1), 1, 1, 1)  # D fromRGB at 2^r outputs nf(r-1)
    for k in range(1, 5):  # D block at 2^r maps nf(r-1) -> nf(r-2) and halves the size
        y = D.blocks[k](torch.randn(2, f(k + 1), 4 * 2**k, 4 * 2**k))
        assert y.shape == (2, f(k), 2 * 2**k, 2 * 2**k)
    assert D.head.conv.weight.shape[1] == f(1) + 1  # the minibatch-stddev map
    assert D.head.dense0.weight.shape == (f(0), f(1) * 16)
    assert D.head.dense1.weight.shape == (1, f(0))


def test_paper_networks_at_1024_have_the_papers_channels_and_about_23_1_million_parameters_each():
    G, D = build(ProganOptions(), 1024)
    # Table 2: 4:512, 8:512, 16:512, 32:512, 64:256, 128:128, 256:64, 512:32, 1024:16
    assert [G.to_rgb[k].weight.shape[1] for k in range(9)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    assert [D.from_rgb[k].weight.shape[0] for k in range(9)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    g = sum(p.numel() for p in G.parameters())
    d = sum(p.numel() for p in D.parameters())
    assert abs(g - 23.1e6) < 0.05e6 and abs(d - 23.1e6) < 0.05e6
    assert (g, d) == paper_parameter_counts(1024, latent=512, channels=3, fmap_base=8192, fmap_max=512)
    assert G.latent_size == 512  # latent = nf(0)


# -- forward passes, fade-in ---------------------------------------------------------------------------------


def test_generator_output_is_linear_to_rgb_without_tanh():
    G, _ = build()
    randomise_biases(G)
    with torch.no_grad():
        G.to_rgb[2].bias.fill_(3.0)  # tanh could never reach 3
    z = torch.randn(4, 16)
    x = G.blocks[2](G.blocks[1](G.blocks[0](z)))
    expected = F.conv2d(x, G.to_rgb[2].weight * (1 / math.sqrt(G.to_rgb[2].weight.shape[1])), G.to_rgb[2].bias)
    out = G(z, 16, 1.0)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert out.shape == (4, 3, 16, 16) and out.mean() > 2.0


@pytest.mark.parametrize("resolution, level", [(8, 1), (16, 2)])
def test_generator_fade_in_blends_upsampled_old_to_rgb_with_the_new_block(resolution, level):
    G, _ = build()
    randomise_biases(G)
    z = torch.randn(4, 16)
    with torch.no_grad():
        features = G.blocks[0](z)
        for k in range(1, level):
            features = G.blocks[k](features)  # the previous resolution's features
        old = nearest_up(G.to_rgb[level - 1](features))
        new = G.to_rgb[level](G.blocks[level](features))
        torch.testing.assert_close(G(z, resolution, 0.0), old, rtol=0, atol=0)
        torch.testing.assert_close(G(z, resolution, 1.0), new, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(G(z, resolution, 0.25), 0.75 * old + 0.25 * new, rtol=1e-5, atol=1e-5)
        # the lower-resolution output of the same G, upsampled, is the alpha = 0 image
        torch.testing.assert_close(G(z, resolution, 0.0), nearest_up(G(z, resolution // 2, 1.0)), rtol=0, atol=0)


def test_generator_at_a_lower_resolution_ignores_the_higher_blocks():
    G, _ = build()
    z = torch.randn(2, 16)
    before = G(z, 8)
    with torch.no_grad():
        G.blocks[2].conv0.weight.mul_(-3)
        G.to_rgb[2].weight.mul_(-3)
    assert torch.equal(G(z, 8), before)
    assert G(z).shape == (2, 3, 16, 16)  # the default is the full resolution


@pytest.mark.parametrize("resolution, level", [(8, 1), (16, 2)])
def test_discriminator_fade_in_blends_from_rgb_of_the_avgpooled_input(resolution, level):
    _, D = build(seed=1)
    randomise_biases(D)
    x = torch.randn(4, 3, resolution, resolution)
    with torch.no_grad():
        # alpha 0 is the lower-resolution network on the 2×2-averaged image
        torch.testing.assert_close(D(x, 0.0), D(box_down(x), 1.0), rtol=1e-6, atol=1e-6)
        new = D.blocks[level](lrelu(D.from_rgb[level](x)))
        old = lrelu(D.from_rgb[level - 1](box_down(x)))

        def tail(h):
            for k in range(level - 1, 0, -1):
                h = D.blocks[k](h)
            return D.head(h)

        torch.testing.assert_close(D(x, 1.0), tail(new), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(D(x, 0.3), tail(0.7 * old + 0.3 * new), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(D(x, 0.0), D(x, 1.0))  # the two paths really differ


def test_discriminator_head_is_mbstd_conv_dense_dense_with_linear_output():
    _, D = build(seed=2)
    randomise_biases(D)
    h = torch.randn(8, 16, 4, 4)
    head = D.head
    y = head.mbstd(h)
    assert y.shape == (8, 17, 4, 4)
    y = F.leaky_relu(F.conv2d(y, head.conv.weight * (math.sqrt(2) / math.sqrt(17 * 9)), head.conv.bias, padding=1), 0.2)
    y = F.leaky_relu(y.flatten(1) @ (head.dense0.weight * (math.sqrt(2) / math.sqrt(256))).T + head.dense0.bias, 0.2)
    y = y @ (head.dense1.weight / math.sqrt(16)).T + head.dense1.bias  # gain 1, no activation
    torch.testing.assert_close(head(h), y.squeeze(1), rtol=1e-5, atol=1e-5)
    assert D(torch.randn(8, 3, 16, 16)).shape == (8,)


def test_discriminator_has_no_normalisation_and_generator_pixel_norms_after_each_conv():
    G, D = build()
    names = {type(m).__name__ for m in D.modules()}
    assert "PixelNorm" not in names and not any("Norm" in n for n in names)
    # G: every block's output has unit RMS over channels (pixel norm is the last op of each block)
    x = G.blocks[0](torch.randn(2, 16))
    for k in range(3):
        if k:
            x = G.blocks[k](x)
        rms = x.square().mean(1).sqrt()
        torch.testing.assert_close(rms, torch.ones_like(rms), rtol=0, atol=1e-4)


def test_options_refuse_sizes_below_one():
    with pytest.raises(ValueError, match="fmap_max"):
        ProganOptions(fmap_max=0)


@pytest.mark.parametrize("batch", [1, 2, 6, 7])
def test_discriminator_accepts_batches_not_divisible_by_the_group(batch):
    _, D = build()  # group 4: 6 -> groups of 3, 7 -> groups of 1, 1 and 2 -> the whole batch
    scores = D(torch.randn(batch, 3, 16, 16), 0.5)
    assert scores.shape == (batch,) and torch.isfinite(scores).all()
