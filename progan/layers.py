"""The paper's layers: equalized learning rate, pixel norm, minibatch stddev, resampling."""
from __future__ import annotations

import math

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
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        out_channels, in_channels, k, _ = self.weight.shape
        return f"{in_channels}, {out_channels}, kernel_size={k}, gain={self.gain:.4g}"


class EqualizedLinear(nn.Module):
    """Dense layer with the same run-time He scaling as :class:`EqualizedConv2d`."""

    def __init__(self, in_features: int, out_features: int, *, gain: float = SQRT2, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.gain = gain
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = mbstd_group_size(n, self.group_size)
        y = x.float().reshape(g, n // g, c, h, w)  # [G, M, C, H, W]; group m holds samples m, m+M, ...
        y = (y.var(dim=0, unbiased=False) + self.eps).sqrt()  # [M, C, H, W]
        y = y.mean(dim=(1, 2, 3)).to(x.dtype)  # [M]
        y = y.repeat(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)  # sample n gets y[n % M]
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour ×2 (each pixel becomes a 2×2 block)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """2×2 average pooling."""
    return F.avg_pool2d(x, 2)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)
