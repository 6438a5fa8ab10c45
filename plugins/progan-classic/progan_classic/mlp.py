"""The ``mlp`` architecture: fully connected G and D in the style of the original GAN (Goodfellow et al. 2014)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from torch import nn

from progan.interfaces import Architecture
from progan.options import to_dict
from progan_classic.nets import FixedDiscriminator, FixedGenerator, SymmetricSigmoid, check_size

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"leaky_relu": lambda: nn.LeakyReLU(0.2), "relu": nn.ReLU}
OUTPUTS: dict[str, Callable[[], nn.Module]] = {"tanh": nn.Tanh, "sigmoid": SymmetricSigmoid}


@dataclass(frozen=True)
class MLPOptions:
    """Options of the ``mlp`` architecture."""

    latent_size: int = 100
    hidden: tuple[int, ...] = (256, 512, 1024)  # G's hidden widths; D uses them in reverse
    activation: Literal["leaky_relu", "relu"] = "leaky_relu"  # G's hidden activation; D always uses LeakyReLU(0.2)
    output: Literal["tanh", "sigmoid"] = "tanh"  # "sigmoid" is stretched to 2σ(x)−1 so images stay in [-1, 1]
    dropout: float = 0.3  # in D, after every hidden layer

    def __post_init__(self) -> None:
        if self.latent_size < 1:
            raise ValueError(f"'latent_size' must be at least 1, got {self.latent_size}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"'hidden' must be a non-empty list of positive widths, got {list(self.hidden)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"'dropout' must be in [0, 1), got {self.dropout}")


class MLPArchitecture(Architecture):
    """Dense G (z → hidden → image) and D (image → reversed hidden → logit) at one fixed resolution."""

    progressive = False

    def __init__(self, *, options: MLPOptions) -> None:
        self.opts = options

    def build(self, *, resolution: int, channels: int) -> tuple[FixedGenerator, FixedDiscriminator]:
        check_size("mlp", resolution=resolution, channels=channels)
        return self._generator(resolution, channels), self._discriminator(resolution, channels)

    def options(self) -> dict:
        return to_dict(self.opts)

    def _generator(self, resolution: int, channels: int) -> FixedGenerator:
        o = self.opts
        layers: list[nn.Module] = []
        for width_in, width_out in zip((o.latent_size, *o.hidden), o.hidden):
            layers += [nn.Linear(width_in, width_out), ACTIVATIONS[o.activation]()]
        layers += [
            nn.Linear(o.hidden[-1], channels * resolution * resolution),
            OUTPUTS[o.output](),
            nn.Unflatten(1, (channels, resolution, resolution)),  # [N, C·r·r] -> [N, C, r, r]
        ]
        return FixedGenerator(net=nn.Sequential(*layers), latent_size=o.latent_size, resolution=resolution, channels=channels)

    def _discriminator(self, resolution: int, channels: int) -> FixedDiscriminator:
        widths = self.opts.hidden[::-1]
        layers: list[nn.Module] = [nn.Flatten()]  # [N, C, r, r] -> [N, C·r·r]
        for width_in, width_out in zip((channels * resolution * resolution, *widths), widths):
            layers += [nn.Linear(width_in, width_out), nn.LeakyReLU(0.2)]
            if self.opts.dropout > 0:
                layers.append(nn.Dropout(self.opts.dropout))
        layers += [nn.Linear(widths[-1], 1), nn.Flatten(0)]  # [N, 1] -> [N]
        return FixedDiscriminator(net=nn.Sequential(*layers), resolution=resolution, channels=channels)
