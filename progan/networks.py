"""The paper's generator and discriminator (Karras et al. 2018, Table 2), growing from 4×4."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from progan.interfaces import Discriminator, Generator
from progan.layers import SQRT2, EqualizedConv2d, EqualizedLinear, MinibatchStd, PixelNorm, downsample2x, is_fading, lrelu_, lrelu_constant_slope_, memory_format, upsample2x


@dataclass(frozen=True)
class ProganOptions:
    """Options of the ``progan`` architecture; defaults are the paper's."""

    latent_size: int = 512  # paper: nf(0) = 512
    fmap_base: int = 8192  # channels at a stage: min(fmap_base / 2**(stage*fmap_decay), fmap_max)
    fmap_decay: float = 1.0
    fmap_max: int = 512
    mbstd_group_size: int = 16  # the paper's (Theano): the whole minibatch up to 16, clamped to a smaller batch; TF code 4
    normalize_latents: bool = True  # pixel-norm z before the first layer

    def __post_init__(self) -> None:
        for name in ("latent_size", "fmap_base", "fmap_max", "mbstd_group_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"'{name}' must be at least 1")

    def features(self, stage: int) -> int:
        """Feature maps at a stage (stage k+1 feeds the block at 4·2^k)."""
        return max(1, min(int(self.fmap_base / 2.0 ** (stage * self.fmap_decay)), self.fmap_max))


def level_of(resolution: int) -> int:
    """Level 0 is 4×4, level 1 is 8×8, ..."""
    return int(math.log2(resolution)) - 2


class _GBlock(nn.Module):
    """Upsample, then two 3×3 convs each followed by LReLU and pixel norm."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, out_channels, 3)
        self.conv1 = EqualizedConv2d(out_channels, out_channels, 3)
        self.norm = PixelNorm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(lrelu_(self.conv0.upsampled(x)))  # = conv0(upsample2x(x)), computed without the upsampled tensor
        return self.norm(lrelu_(self.conv1(x)))


class _GBase(nn.Module):
    """The 4×4 block: latent -> dense (as the paper's 4×4 conv) -> 3×3 conv."""

    def __init__(self, latent_size: int, channels: int, *, normalize_latents: bool) -> None:
        super().__init__()
        self.normalize_latents = normalize_latents
        self.norm = PixelNorm()
        # The paper's dense layer adds one bias per channel after the reshape, not one per unit.
        self.dense = EqualizedLinear(latent_size, channels * 16, gain=SQRT2 / 4, bias=False)
        self.bias = nn.Parameter(torch.zeros(channels))
        self.conv = EqualizedConv2d(channels, channels, 3)
        self.channels = channels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.normalize_latents:
            z = self.norm(z)
        x = self.dense(z).reshape(-1, self.channels, 4, 4)  # [N, C, 4, 4]
        x = x.contiguous(memory_format=memory_format(self.conv.weight))  # the layout of the network (see memory_format)
        x = self.norm(lrelu_(x + self.bias.reshape(1, -1, 1, 1)))
        return self.norm(lrelu_(self.conv(x)))


class ProganGenerator(Generator):
    """G of the paper; ``forward(z, resolution, alpha)`` runs only the blocks up to ``resolution``."""

    def __init__(self, options: ProganOptions, *, resolution: int, channels: int) -> None:
        super().__init__()
        self.latent_size, self.resolution, self.channels = options.latent_size, resolution, channels
        levels = level_of(resolution) + 1
        nf = options.features
        self.blocks = nn.ModuleList([_GBase(options.latent_size, nf(1), normalize_latents=options.normalize_latents)])
        self.blocks.extend(_GBlock(nf(k), nf(k + 1)) for k in range(1, levels))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(nf(k + 1), channels, 1, gain=1.0) for k in range(levels))

    def forward(self, z: torch.Tensor, resolution: int | None = None, alpha: float | torch.Tensor = 1.0) -> torch.Tensor:
        level = level_of(resolution or self.resolution)
        x = self.blocks[0](z)
        for k in range(1, level + 1):
            if k == level and is_fading(alpha):
                old = upsample2x(self.to_rgb[k - 1](x))
                return torch.lerp(old, self.to_rgb[k](self.blocks[k](x)), alpha)
            x = self.blocks[k](x)
        return self.to_rgb[level](x)


class _DBlock(nn.Module):
    """Two 3×3 convs with LReLU, then 2×2 average pooling (the paper's unfused order)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return downsample2x(lrelu_(self.conv1(lrelu_(self.conv0(x)))))


class _DHead(nn.Module):
    """The 4×4 head: minibatch stddev, 3×3 conv, dense (the paper's 4×4 conv), dense to one score."""

    def __init__(self, channels: int, hidden: int, *, group_size: int) -> None:
        super().__init__()
        self.mbstd = MinibatchStd(group_size=group_size)
        self.conv = EqualizedConv2d(channels + 1, channels, 3)
        self.dense0 = EqualizedLinear(channels * 16, hidden)
        self.dense1 = EqualizedLinear(hidden, 1, gain=1.0)

    def forward(self, x: torch.Tensor, parts: int = 1) -> torch.Tensor:
        # after the minibatch stddev: LReLUs with no second derivative in the penalty pass (see lrelu_constant_slope_)
        x = lrelu_constant_slope_(self.conv(self.mbstd(x, parts)).flatten(1))  # [N, C*16]; the LReLU after the flatten's copy, in its layout
        x = lrelu_constant_slope_(self.dense0(x))
        return self.dense1(x).squeeze(1)


class ProganDiscriminator(Discriminator):
    """D of the paper; reads the resolution from its input and blends fromRGB paths by ``alpha``.

    ``forward(images, alpha, parts=k)`` scores k equal sub-batches stacked along the batch (the
    reals and the fakes of a D step, in one pass) exactly as k separate calls would: the only layer
    that mixes samples, the minibatch stddev, groups within each sub-batch.
    """

    accepts_parts = True  # the losses fuse passes only for a D that says so

    def __init__(self, options: ProganOptions, *, resolution: int, channels: int) -> None:
        super().__init__()
        self.resolution, self.channels = resolution, channels
        levels = level_of(resolution) + 1
        nf = options.features
        self.from_rgb = nn.ModuleList(EqualizedConv2d(channels, nf(k + 1), 1) for k in range(levels))
        self.blocks = nn.ModuleList([nn.Identity()])  # level 0 has no block: the head follows
        self.blocks.extend(_DBlock(nf(k + 1), nf(k)) for k in range(1, levels))
        self.head = _DHead(nf(1), nf(0), group_size=options.mbstd_group_size)

    def forward(self, images: torch.Tensor, alpha: float | torch.Tensor = 1.0, parts: int = 1) -> torch.Tensor:
        level = level_of(images.shape[-1])
        x = lrelu_(self.from_rgb[level](images))
        if level > 0:
            x = self.blocks[level](x)
            if is_fading(alpha):
                old = lrelu_(self.from_rgb[level - 1](downsample2x(images)))
                x = torch.lerp(old, x, alpha)
        for k in range(level - 1, 0, -1):
            x = self.blocks[k](x)
        return self.head(x, parts)
