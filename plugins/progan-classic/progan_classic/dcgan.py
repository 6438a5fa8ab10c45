"""The ``dcgan`` architecture: Radford et al. 2016, all-convolutional G and D with BatchNorm."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch import nn

from progan.interfaces import Architecture
from progan.options import to_dict
from progan_classic.nets import FixedDiscriminator, FixedGenerator, check_size

RESOLUTIONS = (16, 32, 64, 128)
INIT_STD = 0.02  # the paper: "all weights were initialized from a zero-centered Normal distribution with standard deviation 0.02"


@dataclass(frozen=True)
class DCGANOptions:
    """Options of the ``dcgan`` architecture; defaults follow the paper's 64×64 model at half width."""

    latent_size: int = 100
    ngf: int = 64  # G channels at resolution/2, doubled at every halving down to 4×4
    ndf: int = 64  # D channels after its first conv, doubled at every stride-2 conv
    # "transpose": 4×4 stride-2 transposed convs as in the paper; "nearest": ×2 nearest upsampling
    # then a 3×3 conv, which avoids the transposed conv's checkerboard artefacts
    upsample: Literal["transpose", "nearest"] = "transpose"
    dropout: float = 0.0  # in D, after every LeakyReLU
    batchnorm_d: bool = True  # BatchNorm after every D conv but the first, as in the paper

    def __post_init__(self) -> None:
        for name in ("latent_size", "ngf", "ndf"):
            if getattr(self, name) < 1:
                raise ValueError(f"'{name}' must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"'dropout' must be in [0, 1), got {self.dropout}")


class DCGANArchitecture(Architecture):
    """G: project z to 4×4, then stride-2 upsampling with BN + ReLU and a tanh output; D: strided convs with LeakyReLU."""

    progressive = False

    def __init__(self, *, options: DCGANOptions) -> None:
        self.opts = options

    def build(self, *, resolution: int, channels: int) -> tuple[FixedGenerator, FixedDiscriminator]:
        check_size("dcgan", resolution=resolution, channels=channels, resolutions=RESOLUTIONS)
        stages = int(math.log2(resolution)) - 2  # stride-2 steps between 4×4 and the resolution
        networks = self._generator(resolution, channels, stages), self._discriminator(resolution, channels, stages)
        for network in networks:
            network.apply(init_weights)
        return networks

    def options(self) -> dict:
        return to_dict(self.opts)

    def _generator(self, resolution: int, channels: int, stages: int) -> FixedGenerator:
        o = self.opts
        widths = [o.ngf * 2 ** (stages - 1 - k) for k in range(stages)]  # at 4×4, 8×8, …, resolution/2
        layers: list[nn.Module] = [
            nn.Linear(o.latent_size, widths[0] * 4 * 4, bias=False),  # BN follows, so a bias would be cancelled
            nn.Unflatten(1, (widths[0], 4, 4)),  # [N, c·16] -> [N, c, 4, 4]
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        for width_in, width_out in zip(widths, widths[1:]):
            layers += [self._upsample(width_in, width_out, bias=False), nn.BatchNorm2d(width_out), nn.ReLU()]
        layers += [self._upsample(widths[-1], channels, bias=True), nn.Tanh()]  # the paper: no BN on G's output
        return FixedGenerator(net=nn.Sequential(*layers), latent_size=o.latent_size, resolution=resolution, channels=channels)

    def _upsample(self, width_in: int, width_out: int, *, bias: bool) -> nn.Module:
        if self.opts.upsample == "transpose":
            return nn.ConvTranspose2d(width_in, width_out, 4, stride=2, padding=1, bias=bias)
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width_in, width_out, 3, padding=1, bias=bias))

    def _discriminator(self, resolution: int, channels: int, stages: int) -> FixedDiscriminator:
        o = self.opts
        widths = [o.ndf * 2**k for k in range(stages)]  # at resolution/2, …, 4×4
        layers: list[nn.Module] = []
        for k, (width_in, width_out) in enumerate(zip((channels, *widths), widths)):
            norm = o.batchnorm_d and k > 0  # the paper: no BN on D's input layer
            layers.append(nn.Conv2d(width_in, width_out, 4, stride=2, padding=1, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(width_out))
            layers.append(nn.LeakyReLU(0.2))
            if o.dropout > 0:
                layers.append(nn.Dropout(o.dropout))
        layers += [nn.Conv2d(widths[-1], 1, 4), nn.Flatten(0)]  # [N, c, 4, 4] -> [N, 1, 1, 1] -> [N]
        return FixedDiscriminator(net=nn.Sequential(*layers), resolution=resolution, channels=channels)


def init_weights(module: nn.Module) -> None:
    """The paper's init: conv and linear weights ~ N(0, 0.02), BN scales ~ N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0 if isinstance(module, nn.BatchNorm2d) else 0.0, INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
