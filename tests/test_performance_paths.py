"""The speed paths compute what the plain ones do: fused passes, folded scales, the upsampling conv,
the EMA that skips untrained blocks, channels-last, bf16 autocast and torch.compile (on the CPU).

No timings here: speed is measured by bench/throughput.py.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core_helpers import make_trainer, tiny_config
from progan import performance
from progan.interfaces import StepContext
from progan.layers import EqualizedConv2d, EqualizedLinear, MinibatchStd, upsample2x
from progan.losses import WganGp, WganGpOptions, real_and_fake_scores
from progan.networks import ProganDiscriminator, ProganGenerator, ProganOptions

SMALL = ProganOptions(latent_size=16, fmap_base=64, fmap_max=16, mbstd_group_size=4)


def nets(resolution=16, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    G = ProganGenerator(SMALL, resolution=resolution, channels=3).to(dtype)
    D = ProganDiscriminator(SMALL, resolution=resolution, channels=3).to(dtype)
    with torch.no_grad():
        for p in [*G.parameters(), *D.parameters()]:
            if p.dim() == 1:
                p.normal_(0, 0.3)  # non-zero biases: a misplaced bias would show
    return G, D


# -- layers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [4, 8, 16])
def test_the_upsampling_conv_is_a_conv_over_the_nearest_upsampled_input(size):
    torch.manual_seed(0)
    conv = EqualizedConv2d(5, 7, 3).double()
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(3, 5, size, size, dtype=torch.float64, requires_grad=True)
    fused = conv.upsampled(x)
    plain = conv(upsample2x(x))
    torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(plain)
    grads = torch.autograd.grad(fused, (x, conv.weight, conv.bias), g)
    expected = torch.autograd.grad(plain, (x, conv.weight, conv.bias), g)
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch, size", [(2, 2), (64, 8)])  # the output-scaled and the weight-scaled path
def test_both_ways_of_applying_the_equalized_scale_agree(batch, size):
    torch.manual_seed(1)
    conv = EqualizedConv2d(6, 5, 3).double()
    dense = EqualizedLinear(40, 7).double()
    with torch.no_grad():
        conv.bias.normal_()
        dense.bias.normal_()
    x = torch.randn(batch, 6, size, size, dtype=torch.float64)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1), rtol=1e-12, atol=1e-12)
    v = torch.randn(batch, 40, dtype=torch.float64)
    torch.testing.assert_close(dense(v), F.linear(v, dense.weight * dense.scale, dense.bias), rtol=1e-12, atol=1e-12)


def test_minibatch_std_over_stacked_parts_equals_separate_calls():
    torch.manual_seed(2)
    layer = MinibatchStd(group_size=4)
    a, b = torch.randn(8, 5, 4, 4), torch.randn(8, 5, 4, 4) * 3 + 1
    fused = layer(torch.cat([a, b]), parts=2)
    torch.testing.assert_close(fused, torch.cat([layer(a), layer(b)]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_one_pass_over_reals_and_fakes_scores_like_two(alpha):
    _, D = nets()
    reals, fakes = torch.randn(8, 3, 16, 16, dtype=torch.float64), torch.randn(8, 3, 16, 16, dtype=torch.float64)
    ctx = StepContext(None, D, 16, alpha, 16, 0, torch.Generator())
    real_scores, fake_scores = real_and_fake_scores(ctx, reals, fakes)
    torch.testing.assert_close(real_scores, D(reals, alpha), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fake_scores, D(fakes, alpha), rtol=1e-12, atol=1e-12)


def test_the_fused_wgan_gp_loss_and_its_gradients_equal_the_unfused_ones():
    G, D = nets()

    class Unfused(torch.nn.Module):  # the same D without accepts_parts: two passes
        def __init__(self, d):
            super().__init__()
            self.d = d

        def forward(self, images, alpha=1.0):
            return self.d(images, alpha)

    reals, z = torch.randn(8, 3, 16, 16, dtype=torch.float64), torch.randn(8, 16, dtype=torch.float64)
    results = []
    for disc in (D, Unfused(D)):
        D.zero_grad(set_to_none=True)
        ctx = StepContext(G, disc, 16, 0.6, 32, 0, torch.Generator().manual_seed(5))
        loss, _ = WganGp(WganGpOptions()).discriminator_loss(ctx, reals, z)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in D.parameters() if p.grad is not None]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-10, atol=1e-12)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


# -- the trainer ----------------------------------------------------------------------------------------

DATA = np.random.default_rng(3).integers(0, 256, (32, 16, 16, 3), dtype=np.uint8)


def test_the_ema_that_skips_untrained_blocks_equals_a_full_ema_bitwise(tmp_path):
    trainer = make_trainer(DATA, tmp_path, kimg=0.024, optim={"ema_beta": 0.9})
    reference = [p.detach().clone() for p in trainer.G_ema.parameters()]
    for _ in range(8):  # 4×4, then into the fade to 8×8: the block 8×8 joins the average mid-run
        trainer.step()
        torch._foreach_lerp_(reference, [p.detach() for p in trainer.G.parameters()], 1.0 - trainer.ema_beta)  # β of the phase
    assert len(trainer._ema_idle) > 0  # the 16×16 block was really skipped
    for a, b in zip(trainer.G_ema.parameters(), reference):
        assert torch.equal(a, b)


def test_channels_last_trains_like_the_default_layout(tmp_path):
    finals = []
    for layout in (True, False):
        trainer = make_trainer(DATA, tmp_path / str(layout), kimg=0.024, performance={"channels_last": layout})
        for _ in range(7):
            trainer.step()
        finals.append([p.detach().contiguous() for p in trainer.G.parameters()])
    for a, b in zip(*finals):
        torch.testing.assert_close(a, b, rtol=2e-4, atol=2e-4)  # rounding, grown by 7 Adam steps of ~lr (0.002) each


def test_channels_last_layers_hand_on_that_layout():
    # a layer that hands its neighbours another layout sends the CPU down slow mixed-layout paths
    G, D = nets(resolution=8, dtype=torch.float32)
    nhwc = torch.channels_last
    G.to(memory_format=nhwc), D.to(memory_format=nhwc)
    seen = []

    def record(module, inputs, output):
        if output.dim() == 4:  # not the pixel norm of the latents
            seen.append((type(module).__name__, output.is_contiguous(memory_format=nhwc)))

    for module in [G.blocks[0].norm, D.head.conv, D.head.mbstd]:
        module.register_forward_hook(record)
    D(torch.randn(8, 3, 8, 8).contiguous(memory_format=nhwc), 0.5)
    G(torch.randn(8, 16), 8, 0.5)
    assert len(seen) == 4 and all(ok for _, ok in seen), seen
    x = torch.randn(8, 5, 4, 4)
    torch.testing.assert_close(MinibatchStd(group_size=4)(x.contiguous(memory_format=nhwc)), MinibatchStd(group_size=4)(x))


def test_a_channels_last_run_resumes_with_optimizer_state_in_the_parameters_layout(tmp_path):
    # the fused Adam kernel pairs elements by memory position: loaded moments must take the weights' layout
    first = make_trainer(DATA, tmp_path / "a", kimg=0.024, performance={"channels_last": True})
    for _ in range(2):
        first.step()
    path = first.save(tmp_path / "ckpt.safetensors")
    second = make_trainer(DATA, tmp_path / "b", kimg=0.024, performance={"channels_last": True})
    second.load(path)
    for opt in (second.opt_G, second.opt_D):
        for p, state in opt.state.items():
            assert state["exp_avg"].stride() == p.stride() and state["exp_avg_sq"].stride() == p.stride()
    first.step()
    second.step()
    for a, b in zip(first.G.parameters(), second.G.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("capability, nchw_from", [("AVX2", 32), ("DEFAULT", 32), ("AVX512", None)])
def test_the_default_cpu_layout_is_nhwc_up_to_16px_and_above_only_with_avx512(monkeypatch, capability, nchw_from):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    cpu = torch.device("cpu")
    for resolution in (4, 8, 16, 32, 64, 1024):
        assert performance.default_channels_last(cpu, resolution, "none") == (nchw_from is None or resolution < nchw_from)
    assert performance.default_channels_last(cpu, 64, "bf16") == (nchw_from is None)  # amp changes nothing on the CPU


def test_the_default_cuda_layout_is_nhwc_with_amp_only():
    cuda = torch.device("cuda")
    assert [performance.default_channels_last(cuda, r, "none") for r in (4, 64)] == [False, False]
    assert [performance.default_channels_last(cuda, r, "bf16") for r in (4, 64)] == [True, True]


def test_the_default_layout_follows_the_resolution_and_resumes_bitwise_across_the_switch(tmp_path, monkeypatch):
    # on a CPU without AVX-512: channels-last up to 16×16, NCHW from 32×32 (4 -> 32 here, 2 steps of 8 per phase)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    data = np.random.default_rng(4).integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    full = make_trainer(data, tmp_path / "full", resolution=32, kimg=0.016)
    layouts = []
    for _ in range(14):
        state = full.step()
        layouts.append((state.resolution, full.channels_last))
        assert all(p.is_contiguous(memory_format=torch.channels_last if full.channels_last else torch.contiguous_format)
                   for p in full.D.parameters() if p.dim() == 4)
    assert {r: cl for r, cl in layouts} == {4: True, 8: True, 16: True, 32: False}
    first = make_trainer(data, tmp_path / "first", resolution=32, kimg=0.016)
    for _ in range(9):  # stop inside the 16×16 stabilisation (channels-last); the resumed run switches at 32
        first.step()
    path = first.save(tmp_path / "ckpt.safetensors")
    second = make_trainer(data, tmp_path / "second", resolution=32, kimg=0.016)
    second.load(path)
    for _ in range(5):
        second.step()
    for a, b in zip([*full.G.parameters(), *full.D.parameters(), *full.G_ema.parameters()], [*second.G.parameters(), *second.D.parameters(), *second.G_ema.parameters()]):
        assert torch.equal(a, b)


def test_bf16_autocast_trains_on_the_cpu_and_stays_close_to_fp32(tmp_path):
    losses = {}
    for amp in ("none", "bf16"):
        trainer = make_trainer(DATA, tmp_path / amp, kimg=0.024, performance={"amp": amp})
        for _ in range(4):
            trainer.step()
        losses[amp] = {k: (v / 4).item() for k, v in trainer._sums.items()}
        assert all(math.isfinite(v) for v in losses[amp].values())
        assert all(p.dtype == torch.float32 for p in trainer.G.parameters())  # autocast leaves the weights fp32
    for key in ("loss/G", "D/real", "D/fake"):
        assert abs(losses["bf16"][key] - losses["none"][key]) < 0.05 + 0.05 * abs(losses["none"][key]), key


def test_the_gradient_penalty_pass_runs_in_fp32_under_autocast():
    G, D = nets(dtype=torch.float32)
    seen = []
    D.head.dense1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    ctx = StepContext(G, D, 16, 1.0, 16, 0, torch.Generator().manual_seed(0))
    with performance.autocast(torch.device("cpu"), "bf16"):
        loss, _ = WganGp(WganGpOptions()).discriminator_loss(ctx, torch.randn(8, 3, 16, 16), torch.randn(8, 16))
    assert seen == [torch.bfloat16, torch.float32]  # the real/fake pass in bf16, the penalty's pass in fp32
    assert loss.dtype == torch.float32


def test_compiled_networks_match_eager_and_a_fade_does_not_recompile(tmp_path):
    # backend "eager": dynamo's graph capture and guards (what decides recompiles) without code
    # generation; PROGAN_TEST_COMPILE_BACKEND=inductor runs the real backend (minutes on a small CPU)
    from torch._dynamo.utils import counters

    backend = os.environ.get("PROGAN_TEST_COMPILE_BACKEND", "eager")
    eager = make_trainer(DATA, tmp_path / "eager", kimg=0.024)
    compiled = make_trainer(DATA, tmp_path / "compiled", kimg=0.024)
    torch._dynamo.reset()
    counters.clear()
    compiled.G_step = performance.CompiledNet(compiled.G, backend=backend)
    compiled.D_step = performance.CompiledNet(compiled.D, backend=backend)
    for _ in range(4):  # 4×4 stable (3 steps), then the first step of the fade to 8×8
        eager.step()
        compiled.step()
    graphs = counters["stats"]["unique_graphs"]
    for _ in range(2):  # two more alphas of the fade
        eager.step()
        compiled.step()
    assert counters["stats"]["unique_graphs"] == graphs  # alpha is data: no graph per alpha
    for a, b in zip(eager.G.parameters(), compiled.G.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_compile_skips_the_gradient_penalty_pass():
    G, D = nets(dtype=torch.float32)
    compiled = performance.CompiledNet(D, backend="eager")
    assert performance.eager(compiled) is D and performance.eager(D) is D
    assert compiled.accepts_parts and compiled.resolution == 16  # attribute reads reach the module


# -- settings -------------------------------------------------------------------------------------------


def test_performance_keys_parse_and_the_cli_flags_set_them():
    from progan.cli import build_parser
    from progan.commands.train import overrides
    from progan.config import from_dict

    config = from_dict({"performance": {"amp": "bf16", "compile": True, "tf32": True, "channels_last": False}})
    assert (config.performance.amp, config.performance.compile, config.performance.tf32, config.performance.channels_last) == ("bf16", True, True, False)
    args = build_parser().parse_args(["train", "--amp", "bf16", "--compile", "--tf32", "--no-channels-last"])
    assert overrides(args)["performance"] == {"amp": "bf16", "compile": True, "tf32": True, "channels_last": False}
    assert "performance" not in overrides(build_parser().parse_args(["train"]))


def test_freed_memory_is_retained_on_linux():
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc only")
    assert performance.retain_freed_memory() is True
    assert performance.retain_freed_memory() is True  # idempotent
