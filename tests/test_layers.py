"""The paper's layers checked against direct computations (equalized LR, pixel norm, minibatch stddev, resampling)."""
from __future__ import annotations

import contextlib
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from core_helpers import nearest_up
from progan import layers, networks
from progan.layers import EqualizedConv2d, EqualizedLinear, MinibatchStd, PixelNorm, downsample2x, mbstd_group_size, penalty_pass, upsample2x
from progan.losses import gradient_norms


# -- equalized learning rate ---------------------------------------------------------------------------


def test_equalized_conv_weights_are_unit_normal_and_biases_zero_at_init():
    torch.manual_seed(0)
    layer = EqualizedConv2d(256, 256, 3)  # 590k weights: mean and std are pinned to ~0.003
    assert layer.weight.mean().abs() < 0.01
    assert abs(layer.weight.std().item() - 1.0) < 0.01  # N(0,1), not He-initialised: scaling happens at run time
    assert torch.count_nonzero(layer.bias) == 0


def test_equalized_linear_weights_are_unit_normal_and_biases_zero_at_init():
    torch.manual_seed(0)
    layer = EqualizedLinear(512, 1024)
    assert layer.weight.mean().abs() < 0.01
    assert abs(layer.weight.std().item() - 1.0) < 0.01
    assert torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize("gain", [math.sqrt(2), 1.0, math.sqrt(2) / 4])
def test_equalized_conv_output_is_conv_with_weights_times_gain_over_sqrt_fan_in(kernel, gain):
    torch.manual_seed(1)
    layer = EqualizedConv2d(5, 7, kernel, gain=gain)
    with torch.no_grad():
        layer.bias.normal_()  # a non-zero bias must be added unscaled
    x = torch.randn(2, 5, 6, 6)
    fan_in = 5 * kernel * kernel
    expected = F.conv2d(x, layer.weight * (gain / math.sqrt(fan_in)), layer.bias, padding=kernel // 2)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-6)
    assert layer(x).shape == (2, 7, 6, 6)  # "same" padding keeps the size


def test_equalized_linear_output_is_matmul_with_weights_times_gain_over_sqrt_fan_in():
    torch.manual_seed(2)
    layer = EqualizedLinear(12, 3, gain=1.0)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(4, 12)
    expected = x @ (layer.weight / math.sqrt(12)).T + layer.bias
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-6)


def test_equalized_scaling_keeps_unit_variance_through_a_linear_layer():
    # The point of He scaling: unit-variance input -> output variance ≈ gain² for N(0,1) weights.
    torch.manual_seed(3)
    layer = EqualizedLinear(1024, 1024, gain=1.0)
    out = layer(torch.randn(256, 1024))
    assert abs(out.var().item() - 1.0) < 0.05


# -- pixel norm ---------------------------------------------------------------------------------------------


def test_pixel_norm_gives_unit_rms_over_channels_at_every_pixel():
    x = torch.randn(3, 10, 5, 5) * 7.0 + 2.0
    y = PixelNorm()(x)
    rms = y.square().mean(dim=1).sqrt()  # over channels only
    torch.testing.assert_close(rms, torch.ones_like(rms), rtol=0, atol=1e-5)
    # each pixel's vector is only rescaled, not rotated: the ratio to the input is constant over channels
    ratio = y / x
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))


def test_pixel_norm_epsilon_is_1e_minus_8_inside_the_square_root():
    # mean(x²) = 1e-8 exactly: with ε = 1e-8 the result is x / sqrt(2e-8) = 1/sqrt(2).
    x = torch.full((1, 4, 1, 1), 1e-4, dtype=torch.float64)
    torch.testing.assert_close(PixelNorm()(x), torch.full_like(x, 1 / math.sqrt(2)))
    assert torch.equal(PixelNorm()(torch.zeros(1, 4, 2, 2)), torch.zeros(1, 4, 2, 2))  # no NaN at zero


# -- minibatch standard deviation ----------------------------------------------------------------------------


def naive_mbstd(x: torch.Tensor, group: int) -> torch.Tensor:
    """The paper's statistic with explicit loops: sample n belongs to strided group n % M (M = N / group)."""
    n = x.shape[0]
    m = n // group
    values = torch.empty(n, dtype=torch.float64)
    for g in range(m):
        members = [x[i].double() for i in range(n) if i % m == g]
        stack = torch.stack(members)
        mean = sum(members) / len(members)
        var = sum((s - mean) ** 2 for s in members) / len(members)  # biased variance
        std = torch.sqrt(var + 1e-8)  # ε inside the square root
        for i in range(n):
            if i % m == g:
                values[i] = std.mean()  # averaged over C, H, W
        assert stack.shape[0] == group
    return values


def extra_channel(out: torch.Tensor) -> torch.Tensor:
    """The appended map, checked to be constant over H, W; one value per sample."""
    last = out[:, -1]
    assert torch.equal(last, last[:, :1, :1].expand_as(last))
    return last[:, 0, 0].double()


@pytest.mark.parametrize("batch, group_size, group", [(8, 4, 4), (12, 4, 4), (8, 2, 2), (2, 4, 2), (3, 4, 3), (6, 4, 3)])
def test_minibatch_std_matches_a_naive_loop_over_strided_groups(batch, group_size, group):
    torch.manual_seed(4)
    # Samples differ in scale so that a contiguous grouping (or a tile that doesn't match the strided
    # grouping) gives different numbers than the strided one.
    x = torch.randn(batch, 3, 4, 4) * torch.arange(1, batch + 1, dtype=torch.float32).reshape(-1, 1, 1, 1)
    out = MinibatchStd(group_size=group_size)(x)
    assert out.shape == (batch, 4, 4, 4)  # exactly one extra channel
    assert torch.equal(out[:, :3], x)  # the input passes through untouched
    assert mbstd_group_size(batch, group_size) == group
    torch.testing.assert_close(extra_channel(out), naive_mbstd(x, group), rtol=1e-5, atol=1e-6)


def test_minibatch_std_groups_are_strided_not_contiguous():
    # Batch 4, group 2 -> M = 2: groups {0, 2} and {1, 3}. Samples 0 and 2 are identical, so their
    # group's stddev is sqrt(ε) = 1e-4, while a contiguous grouping {0, 1} would see a large spread.
    x = torch.tensor([0.0, 10.0, 0.0, -10.0]).reshape(4, 1, 1, 1).expand(4, 2, 4, 4).contiguous()
    values = extra_channel(MinibatchStd(group_size=2)(x))
    torch.testing.assert_close(values, torch.tensor([1e-4, 10.0, 1e-4, 10.0], dtype=torch.float64), rtol=1e-4, atol=1e-6)


def test_minibatch_std_group_is_clamped_to_a_small_batch():
    x = torch.randn(2, 3, 4, 4)
    values = extra_channel(MinibatchStd(group_size=16)(x))
    torch.testing.assert_close(values, naive_mbstd(x, 2), rtol=1e-5, atol=1e-6)
    assert values[0] == values[1]  # the whole batch is one group


@pytest.mark.parametrize("batch, group_size, expected", [(6, 4, 3), (7, 4, 1), (9, 4, 3), (10, 4, 2), (5, 8, 5), (1, 4, 1), (16, 16, 16)])
def test_mbstd_group_size_is_the_largest_divisor_of_the_batch_not_above_the_request(batch, group_size, expected):
    # The documented rule: clamp to the batch, then the largest size <= that which divides the batch.
    assert mbstd_group_size(batch, group_size) == expected
    assert batch % expected == 0
    assert all(batch % g for g in range(expected + 1, min(group_size, batch) + 1))


def test_minibatch_std_on_a_prime_batch_above_the_group_does_not_crash_and_uses_groups_of_one():
    x = torch.randn(7, 3, 4, 4)
    values = extra_channel(MinibatchStd(group_size=4)(x))
    # A group of one sample has zero variance: the statistic is sqrt(ε).
    torch.testing.assert_close(values, torch.full((7,), 1e-4, dtype=torch.float64), rtol=1e-4, atol=0)


# -- resampling --------------------------------------------------------------------------------------------


def test_upsample_is_nearest_neighbour_2x2_replication():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    y = upsample2x(x)
    assert y.shape == (2, 3, 8, 8)
    assert torch.equal(y, nearest_up(x))
    assert torch.equal(y[:, :, 0::2, 0::2], x) and torch.equal(y[:, :, 1::2, 1::2], x)


def test_downsample_is_the_2x2_box_average():
    x = torch.randn(2, 3, 8, 8)
    y = downsample2x(x)
    assert y.shape == (2, 3, 4, 4)
    torch.testing.assert_close(y, (x[:, :, 0::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 0::2] + x[:, :, 1::2, 1::2]) / 4)
    torch.testing.assert_close(downsample2x(upsample2x(x)), x)  # averaging a replicated block gives it back


# -- the gradient-penalty pass ------------------------------------------------------------------------


@contextlib.contextmanager
def _counting(function, calls: list):
    """Records the calls of ``function.apply`` (a torch.autograd.Function) while active."""
    original = function.apply
    function.apply = lambda *args: calls.append(args) or original(*args)
    try:
        yield
    finally:
        function.apply = original


def _penalty_gradients(conv: EqualizedConv2d, x: torch.Tensor, *, in_penalty_pass: bool) -> list[torch.Tensor]:
    """Gradients of a WGAN-GP-like loss, (‖∇ₓ s‖ − 1)² + mean(s), for s = Σ lrelu(conv(conv(x)))."""
    x = x.detach().requires_grad_(True)
    conv.zero_grad(set_to_none=True)
    calls = []
    with penalty_pass() if in_penalty_pass else contextlib.nullcontext(), _counting(layers._PenaltyConv2d, calls):
        scores = F.leaky_relu(conv(F.leaky_relu(conv(x), 0.2)), 0.2).flatten(1).sum(1)
        (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    assert len(calls) == (2 if in_penalty_pass else 0)  # the rewrite is in use where it should be
    assert conv.weight.grad is None  # the first pass asks for the input gradient alone
    ((grad.flatten(1).norm(dim=1) - 1).square().mean() + scores.mean()).backward()
    return [x.grad, conv.weight.grad, conv.bias.grad]


@pytest.mark.parametrize("batch, channels, channels_last", [(4, 6, False), (4, 6, True), (1, 32, False)])
def test_the_penalty_pass_conv_gives_the_native_convs_gradients(batch, channels, channels_last):
    torch.manual_seed(0)
    conv = EqualizedConv2d(channels, channels, 3)  # 1 × 8² < 32 · 9: the output-scaled branch
    with torch.no_grad():
        conv.bias.normal_()
    size = layers.PENALTY_CONV_MIN_SIZE  # the smallest input the rewrite applies to
    x = torch.randn(batch, channels, size, size)
    if channels_last:
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    native = _penalty_gradients(conv, x, in_penalty_pass=False)
    rewritten = _penalty_gradients(conv, x, in_penalty_pass=True)
    for a, b in zip(native, rewritten):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_constant_slope_lrelu_has_leaky_relus_values_and_gradient_and_no_second_derivative_graph(dtype):
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 4.0], dtype=dtype).requires_grad_(True)
    native = F.leaky_relu(x, 0.2)
    (native_grad,) = torch.autograd.grad(native.sum(), x, create_graph=True)
    for in_penalty_pass in (False, True):
        with penalty_pass() if in_penalty_pass else contextlib.nullcontext():
            y = layers.lrelu_constant_slope_(x.clone())  # the in-place form outside the penalty pass
            (grad,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        assert torch.equal(y, native) and torch.equal(grad, native_grad)  # bitwise, in x's dtype
        # PyTorch's leaky-ReLU gradient stays differentiable (to zeros); in the penalty pass this one is a constant
        assert grad.requires_grad == (not in_penalty_pass)
    assert native_grad.requires_grad


def _discriminator_gradients(D, images: torch.Tensor) -> list[torch.Tensor]:
    """D's parameter gradients of a WGAN-GP D loss, mean(D(x)) + (‖∇ₓ D(x)‖ − 1)², at ``images``."""
    D.zero_grad(set_to_none=True)
    norms, scores = gradient_norms(SimpleNamespace(discriminator=D, alpha=1.0), images)
    (scores.mean() + (norms - 1).square().mean()).backward()
    return [p.grad for p in D.parameters() if p.grad is not None]


@pytest.mark.parametrize("resolution", [4, 8])
def test_the_heads_constant_slope_lrelus_leave_the_penalty_gradients_unchanged_bitwise(monkeypatch, resolution):
    torch.manual_seed(0)
    D = networks.ProganDiscriminator(networks.ProganOptions(latent_size=8, fmap_base=32, fmap_max=8, mbstd_group_size=2), resolution=8, channels=3)
    with torch.no_grad():
        for p in D.parameters():
            p.normal_()  # nonzero biases: every LReLU sees both signs
    images = torch.randn(4, 3, resolution, resolution)
    heads = _discriminator_gradients(D, images)
    monkeypatch.setattr(networks, "lrelu_constant_slope_", layers.lrelu_)  # PyTorch's differentiable-again leaky ReLU
    native = _discriminator_gradients(D, images)
    assert len(heads) == len(native) > 0
    for a, b in zip(heads, native):
        assert torch.equal(a, b)
