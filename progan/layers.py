"""The paper's layers: equalized learning rate, pixel norm, minibatch stddev, resampling."""
from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


class EqualizedConv2d(nn.Module):
    """Conv whose N(0,1) weights are scaled at run time by gain/sqrt(fan_in); zero, unscaled bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, gain: float = SQRT2) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.gain = gain
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The scale applies at every call, to whichever operand is smaller (same maths, fewest
        # elements touched): the weights (conv(x, w·s) + b), or, for small batches of small images,
        # the output (b + s·conv(x, w), one fused op that also adds the bias).
        _, in_channels, k, _ = self.weight.shape
        if x.shape[0] * x.shape[-2] * x.shape[-1] < in_channels * k * k:
            return torch.add(self.bias.view(1, -1, 1, 1), _conv2d(x, self.weight, None, self.padding), alpha=self.scale)
        return _conv2d(x, self.weight * self.scale, self.bias, self.padding)

    def upsampled(self, x: torch.Tensor) -> torch.Tensor:
        """``self(upsample2x(x))`` computed without the upsampled tensor (the same function).

        Each output pixel of a 3×3 conv over a nearest-upsampled image sees only 2×2 input pixels,
        so the pair is a stride-2 transposed conv whose 4×4 kernel sums shifted copies of the 3×3
        one (the official code's ``upscale2d_conv2d``, with the kernel flipped for cross-correlation):
        4 instead of 9 multiply-adds per output, and no 4× larger input.  Used from 16×16 outputs up,
        where it is 1.5-2.4× faster; below, oneDNN's small transposed convs are slower than the pair.
        """
        if self.weight.shape[-1] != 3 or x.shape[-1] < 8:
            return self(upsample2x(x))
        w = F.pad(self.weight * self.scale, (1, 1, 1, 1))
        w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]  # [O, I, 4, 4]
        return F.conv_transpose2d(x, w.flip(2, 3).transpose(0, 1), self.bias, stride=2, padding=1)

    def extra_repr(self) -> str:
        out_channels, in_channels, k, _ = self.weight.shape
        return f"{in_channels}, {out_channels}, kernel_size={k}, gain={self.gain:.4g}"


_in_penalty_pass = False


@contextlib.contextmanager
def penalty_pass() -> Iterator[None]:
    """Run the forward pass of a gradient penalty (differentiated first for the input only, with
    ``create_graph``, then again by the loss): convolutions switch to :class:`_PenaltyConv2d`, and
    :func:`lrelu_constant_slope_` (D's head) to a constant slope."""
    global _in_penalty_pass
    previous, _in_penalty_pass = _in_penalty_pass, True
    try:
        yield
    finally:
        _in_penalty_pass = previous


def _building_penalty_graph() -> bool:
    """Whether this forward is a penalty pass's, recorded to be differentiated twice."""
    return _in_penalty_pass and torch.is_grad_enabled()


PENALTY_CONV_MIN_SIZE = 8  # at 4×4 (D's head) the rewrite measured no faster than the native conv (±3%)


def _conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: int) -> torch.Tensor:
    # measured on the CPU only (a step 1.05x faster at 8 px, 1.04x at 16-32 px); CUDA keeps the native double backward
    if _building_penalty_graph() and x.device.type == "cpu" and x.shape[-1] >= PENALTY_CONV_MIN_SIZE:
        return _PenaltyConv2d.apply(x, weight, bias, padding)
    return F.conv2d(x, weight, bias, padding=padding)


class _PenaltyConv2d(torch.autograd.Function):
    """``F.conv2d`` whose input gradient is differentiated by :class:`_ConvInputGrad`.

    Differentiating a native conv's input gradient again (the gradient penalty's second pass)
    goes through PyTorch's generic double backward, which computes the weight term as a conv with
    batch and channels swapped (a kernel as large as the image): 1.7× slower than a weight
    gradient on the CPU, plus transposing copies.  The same term is the conv's ordinary weight
    gradient, taken at the upstream gradient.  The same function; the gradients differ only in rounding.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, padding):
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.has_bias = padding, bias is not None
        return F.conv2d(x, weight, bias, padding=padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        if torch.is_grad_enabled():
            grad_x = _ConvInputGrad.apply(grad, weight, x, ctx.padding) if ctx.needs_input_grad[0] else None
            # create_graph: the penalty's first pass (gradient_norms), which asks for the input
            # gradient alone; the loss's backward later runs with grad disabled and gets all three
            return grad_x, None, None, None
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]]
        return *_conv_backward(grad, x, weight, ctx.padding, mask, ctx.has_bias), None


def _conv_backward(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, padding: int, mask: list[bool], has_bias: bool = False):
    """(input, weight, bias) gradients of a stride-1 ``conv2d(x, weight)`` for ``grad``, those in ``mask`` (else None)."""
    return torch.ops.aten.convolution_backward(
        grad, x, weight, [weight.shape[0]] if has_bias else None, [1, 1], [padding] * 2, [1, 1], False, [0, 0], 1, mask
    )


class _ConvInputGrad(torch.autograd.Function):
    """The input gradient of ``conv2d(x, weight)`` for the output gradient ``grad`` (oneDNN's own
    backward-data kernel; ``x`` gives only the shape and layout), once differentiable in ``grad`` and
    ``weight``: the loss's backward, which runs without a graph."""

    @staticmethod
    def forward(ctx, grad, weight, x, padding):
        ctx.save_for_backward(grad, weight)
        ctx.padding = padding
        return _conv_backward(grad, x, weight, padding, [True, False, False])[0]

    @staticmethod
    def backward(ctx, h):
        grad, weight = ctx.saved_tensors
        # <h, convT(grad, w)> = <conv(h, w), grad>: d/d grad is conv(h, w), d/dw the weight gradient of conv at h
        d_grad = F.conv2d(h, weight, padding=ctx.padding) if ctx.needs_input_grad[0] else None
        d_w = _conv_backward(grad, h, weight, ctx.padding, [False, True, False])[1] if ctx.needs_input_grad[1] else None
        return d_grad, d_w, None, None


class EqualizedLinear(nn.Module):
    """Dense layer with the same run-time He scaling as :class:`EqualizedConv2d`."""

    def __init__(self, in_features: int, out_features: int, *, gain: float = SQRT2, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.gain = gain
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # As EqualizedConv2d: scale the output (b + s·xWᵀ) when the batch is smaller than the fan-in.
        in_features = self.weight.shape[1]
        if x.numel() < in_features * in_features:  # rows < in_features: the output is smaller than W
            y = F.linear(x, self.weight)
            return y * self.scale if self.bias is None else torch.add(self.bias, y, alpha=self.scale)
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        out_features, in_features = self.weight.shape
        return f"{in_features}, {out_features}, gain={self.gain:.4g}"


class PixelNorm(nn.Module):
    """Scales each pixel's feature vector to unit RMS over channels: x / sqrt(mean(x²) + eps)."""

    def __init__(self, *, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


def mbstd_group_size(batch: int, group_size: int) -> int:
    """The group actually used: ``group_size`` clamped to the batch, then lowered until it divides it.

    The official code fails on a batch not divisible by the group; we use the largest group
    size <= the requested one that divides the batch (a prime batch falls back to the whole
    batch if it is <= group_size, else to groups of 1, whose stddev is 0 — never a crash).
    """
    size = min(group_size, batch)
    while batch % size:
        size -= 1
    return size


class MinibatchStd(nn.Module):
    """Appends one feature map: the stddev over strided groups of samples, averaged over C, H, W."""

    def __init__(self, *, group_size: int = 4, eps: float = 1e-8) -> None:
        super().__init__()
        self.group_size = group_size
        self.eps = eps

    def forward(self, x: torch.Tensor, parts: int = 1) -> torch.Tensor:
        """``parts`` > 1: ``x`` is that many equal sub-batches stacked (reals then fakes, say); each is
        grouped on its own, exactly as if it were passed alone, so no group mixes two of them."""
        n, _, h, w = x.shape
        layout = memory_format(x)
        b = n // parts  # the sub-batch
        g = mbstd_group_size(b, self.group_size)
        m = b // g
        # the statistics of an NHWC x are taken on its [N, H, W, C] view, contiguous like x itself, so
        # that their gradient comes back in x's layout (the mean over C, H, W does not mind the order)
        v = x.permute(0, 2, 3, 1) if layout == torch.channels_last else x
        y = v.float().reshape(parts, g, m, *v.shape[1:])  # [parts, G, M, ...]: group m of a part holds its samples m, m+M, ...
        # the biased variance written out: Tensor.var over a short leading dim is ~40x slower on CPU
        y = y - y.mean(dim=1, keepdim=True)
        y = (y.square().mean(dim=1) + self.eps).sqrt()  # [parts, M, ...]
        y = y.mean(dim=(2, 3, 4)).to(x.dtype)  # [parts, M]
        y = y.unsqueeze(1).expand(parts, g, m).reshape(n, 1, 1, 1).expand(n, 1, h, w)  # sample i gets y[i % M] of its part
        # materialised in x's layout, so that the concatenation (and every op after it) keeps that layout
        return torch.cat([x, y.contiguous(memory_format=layout)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """``torch.channels_last`` for an NHWC tensor, else ``torch.contiguous_format``.

    Elementwise ops and convolutions whose operands differ in layout take slow paths on the CPU
    (10x for a small leaky-ReLU backward), so layers that build a tensor match the layout around them.
    """
    nhwc = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if nhwc else torch.contiguous_format


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour ×2 (each pixel becomes a 2×2 block)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """2×2 average pooling."""
    return F.avg_pool2d(x, 2)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def lrelu_(x: torch.Tensor) -> torch.Tensor:
    """In place, for a fresh layer output nothing else holds: saves an activation-sized tensor
    (time and peak memory); autograd differentiates it twice (the gradient penalty) from its result."""
    return F.leaky_relu_(x, 0.2)


def lrelu_constant_slope_(x: torch.Tensor) -> torch.Tensor:
    """:func:`lrelu_`, but in a gradient-penalty pass (:func:`penalty_pass`) ``x · slope`` with the slope (1 or 0.2)
    a constant: the same values and input gradient, bitwise, and no second-derivative term.

    PyTorch differentiates a leaky ReLU's backward again to an all-zero term, which autograd carries back
    through every layer before it.  Before the minibatch stddev those zeros only join the stddev's own
    second-derivative term; after it, in D's head, they cost a whole backward of the head on zeros, and
    leaving them out makes a 4×4 step 1.06-1.08× faster.  The head's layers use this; the others keep
    :func:`lrelu_`, for which the extra mask would cost what it saves.
    """
    if _building_penalty_graph():
        return x * torch.where(x > 0, 1.0, x.new_tensor(0.2))  # the slope in x's dtype, as leaky_relu's
    return lrelu_(x)


def is_fading(alpha: float | torch.Tensor) -> bool:
    """Whether ``alpha`` blends in the newest block: a float below 1, or a tensor (traced as data, so a
    compiled network is not recompiled for every alpha; a tensor 1.0 gives the new path bitwise,
    since lerp(a, b, 1) = b)."""
    return torch.is_tensor(alpha) or alpha < 1.0
