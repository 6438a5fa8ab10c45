"""Generate a progan plugin package: ``python tools/new_plugin.py NAME [--out DIR]`` writes DIR/progan-NAME/."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from string import Template

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "A progan plugin: the $name architecture, the $name-hinge loss and the $name-log callback"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["progan"]

[project.optional-dependencies]
test = ["pytest"]

# progan finds the plugin through this entry-point group: NAME = "module"
[project.entry-points.progan]
$name = "$module"

[tool.setuptools]
packages = ["$module"]
'''

README = '''\
# $dist

A plugin for progan, the progressive GAN toolkit. It registers

| kind | name | what |
|---|---|---|
| architecture | `$name` | a tiny fixed-resolution convolutional G and D (options `latent_size`, `width`) |
| loss | `$name-hinge` | the hinge loss (option `margin`) |
| callback | `$name-log` | prints the losses every `every` ticks and a line when the run ends |

```sh
pip install -e .              # add --no-deps when progan itself is installed from a checkout
progan plugins                # lists $name, $name-hinge and $name-log
progan train --arch $name --loss $name-hinge --callback $name-log --resolution 16 --kimg 2 --batch 16
python -m pytest tests        # works without installing, too: PYTHONPATH=. python -m pytest tests
```

See progan's docs/plugins.md for the hooks and the interfaces.
'''

MODULE = '''\
"""progan plugin $dist: the $name architecture, the $name-hinge loss and the $name-log callback."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from progan.hookspecs import Register, hookimpl
from progan.interfaces import Architecture, Discriminator, Generator, Loss, StepContext
from progan.options import parse, to_dict


# -- the architecture --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArchOptions:
    """Options of the $name architecture; progan.options.parse refuses unknown keys and wrong types."""

    latent_size: int = 64
    width: int = 32  # channels of every hidden layer

    def __post_init__(self) -> None:
        if self.latent_size < 1 or self.width < 1:
            raise ValueError("'latent_size' and 'width' must be at least 1")


class TinyGenerator(Generator):
    """z -> 4x4 features -> doubled up to the resolution -> an image in [-1, 1]."""

    def __init__(self, opts: ArchOptions, *, resolution: int, channels: int) -> None:
        super().__init__()
        self.latent_size, self.resolution, self.channels = opts.latent_size, resolution, channels
        layers: list[nn.Module] = [nn.Linear(opts.latent_size, opts.width * 16), nn.Unflatten(1, (opts.width, 4, 4)), nn.LeakyReLU(0.2)]
        for _ in range(int(math.log2(resolution)) - 2):
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(opts.width, opts.width, 3, padding=1), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(opts.width, channels, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, resolution: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        return self.net(z)  # one resolution: ``resolution`` and ``alpha`` matter only to growing architectures


class TinyDiscriminator(Discriminator):
    """An image -> halved down to 4x4 -> one score."""

    def __init__(self, opts: ArchOptions, *, resolution: int, channels: int) -> None:
        super().__init__()
        self.resolution, self.channels = resolution, channels
        layers: list[nn.Module] = [nn.Conv2d(channels, opts.width, 1), nn.LeakyReLU(0.2)]
        for _ in range(int(math.log2(resolution)) - 2):
            layers += [nn.Conv2d(opts.width, opts.width, 3, padding=1), nn.LeakyReLU(0.2), nn.AvgPool2d(2)]
        layers += [nn.Flatten(), nn.Linear(opts.width * 16, 1), nn.Flatten(0)]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        return self.net(images)


class TinyArchitecture(Architecture):
    progressive = False  # trained in a single stage at the target resolution

    def __init__(self, opts: ArchOptions) -> None:
        self.opts = opts

    def build(self, *, resolution: int, channels: int) -> tuple[TinyGenerator, TinyDiscriminator]:
        return TinyGenerator(self.opts, resolution=resolution, channels=channels), TinyDiscriminator(self.opts, resolution=resolution, channels=channels)

    def options(self) -> dict[str, Any]:
        return to_dict(self.opts)  # saved in checkpoints: the factory rebuilds the same networks from it


# -- the loss ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HingeOptions:
    margin: float = 1.0


class Hinge(Loss):
    """D: relu(margin - D(x)) + relu(margin + D(G(z))); G: -D(G(z))."""

    def __init__(self, opts: HingeOptions) -> None:
        self.opts = opts

    def options(self) -> dict[str, Any]:
        return to_dict(self.opts)

    def discriminator_loss(self, ctx: StepContext, reals: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.no_grad():  # D's step needs no gradient through G
            fakes = ctx.generator(z, ctx.resolution, ctx.alpha)
        real, fake = ctx.discriminator(reals, ctx.alpha), ctx.discriminator(fakes, ctx.alpha)
        loss = F.relu(self.opts.margin - real).mean() + F.relu(self.opts.margin + fake).mean()
        return loss, {"loss/D": loss.detach(), "D/real": real.detach().mean(), "D/fake": fake.detach().mean()}

    def generator_loss(self, ctx: StepContext, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = -ctx.discriminator(ctx.generator(z, ctx.resolution, ctx.alpha), ctx.alpha).mean()
        return loss, {"loss/G": loss.detach()}


# -- the callback ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogOptions:
    every: int = 1  # print every this many ticks

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("'every' must be at least 1")


class LogCallback:
    """Prints the losses every few ticks and one line when the run ends; active only in runs that name it."""

    def __init__(self, opts: LogOptions) -> None:
        self.opts, self.ticks = opts, 0

    @hookimpl
    def progan_tick(self, trainer, stats: Mapping[str, float]) -> None:
        self.ticks += 1
        if self.ticks % self.opts.every == 0:
            losses = " ".join(f"{key}={value:.4g}" for key, value in stats.items() if key.startswith("loss/"))
            print(f"[$name] {stats['kimg']:.3f} kimg {losses}", file=sys.stderr)

    @hookimpl
    def progan_train_end(self, trainer) -> None:
        print(f"[$name] stopped at {trainer.images_shown} images after {self.ticks} ticks", file=sys.stderr)


# -- the hooks: factories take the options dict of the config's [arch], [loss] or callback_options table
@hookimpl
def progan_register_architectures(register: Register) -> None:
    register("$name", lambda options: TinyArchitecture(parse(ArchOptions, options, where="arch")))


@hookimpl
def progan_register_losses(register: Register) -> None:
    register("$name-hinge", lambda options: Hinge(parse(HingeOptions, options, where="loss")))


@hookimpl
def progan_register_callbacks(register: Register) -> None:
    register("$name-log", lambda options: LogCallback(parse(LogOptions, options, where="callback_options.$name-log")))
'''

TEST = '''\
"""The plugin's names, its networks, and short training runs through progan's own Trainer."""
from __future__ import annotations

import importlib.metadata

import pytest
import torch

import $module
from progan.config import from_dict
from progan.errors import ConfigError
from progan.export import load_generator
from progan.plugins import PluginHost
from progan.trainer import Trainer

RUN = {  # 8x8 images of the built-in shapes dataset, batches of 4, two steps per run
    "resolution": 8, "data": {"source": "shapes:32"}, "arch": {"name": "$name", "width": 8, "latent_size": 16},
    "loss": {"name": "$name-hinge"}, "callbacks": ["$name-log"], "schedule": {"batch_size": 4, "total_kimg": 0.008},
    "tick_kimg": 0.004, "grid_size": 4,
}


def host() -> PluginHost:
    return PluginHost(entry_points=False, modules=["$module"])  # this plugin only, installed or not


def test_the_names_are_registered() -> None:
    assert host().info["$module"].names == {"architectures": ["$name"], "losses": ["$name-hinge"], "callbacks": ["$name-log"]}


@pytest.mark.parametrize("resolution", [4, 16])
def test_the_networks_have_the_right_shapes(resolution: int) -> None:
    generator, discriminator = host().create("architectures", "$name", {"width": 8}).build(resolution=resolution, channels=3)
    images = generator(torch.randn(2, generator.latent_size))
    assert images.shape == (2, 3, resolution, resolution) and images.abs().max() <= 1
    assert discriminator(images).shape == (2,)


def test_an_unknown_option_is_refused() -> None:
    with pytest.raises(ConfigError, match="arch.widht"):
        host().create("architectures", "$name", {"widht": 8})


def test_it_trains_checkpoints_and_exports(tmp_path, capsys) -> None:
    trainer = Trainer(from_dict(RUN), run_dir=tmp_path, host=host())
    assert trainer.run().reason == "finished" and trainer.images_shown == 8
    assert "[$name] stopped at 8 images after 2 ticks" in capsys.readouterr().err
    generator = load_generator(tmp_path, host=host())
    assert generator(torch.randn(3, generator.latent_size)).shape == (3, 3, 8, 8)


def test_a_resumed_run_continues_bitwise(tmp_path) -> None:
    straight = Trainer(from_dict(RUN), run_dir=tmp_path / "straight", host=host())
    straight.run()
    first = Trainer(from_dict(RUN), run_dir=tmp_path / "resumed", host=host())
    first.step()
    second = Trainer(from_dict(RUN), run_dir=tmp_path / "resumed", host=host())
    second.load(first.save())
    second.run()
    for a, b in zip(straight.G_ema.state_dict().values(), second.G_ema.state_dict().values()):
        assert torch.equal(a, b)


def test_the_entry_point_names_the_module() -> None:
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group="progan")}
    if "$name" not in entry_points:
        pytest.skip("not installed: pip install -e .")
    assert entry_points["$name"].load() is $module
'''

FILES = {"pyproject.toml": PYPROJECT, "README.md": README, "$module/__init__.py": MODULE, "tests/test_plugin.py": TEST}


def render(name: str) -> dict[str, str]:
    """The package's files, path -> text, for plugin ``name`` (distribution progan-NAME, module progan_NAME)."""
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name):
        raise ValueError(f"plugin name {name!r}: use lower-case letters, digits and single hyphens, starting with a letter")
    names = {"name": name, "dist": f"progan-{name}", "module": "progan_" + name.replace("-", "_")}
    return {Template(path).substitute(names): Template(text).substitute(names) for path, text in FILES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", help="the plugin's name: its entry point and architecture name (e.g. tiny)")
    parser.add_argument("--out", default=".", help="folder to create progan-NAME/ in (default: .)")
    args = parser.parse_args(argv)
    try:
        files = render(args.name)
    except ValueError as exc:
        parser.error(str(exc))
    root = Path(args.out) / f"progan-{args.name}"
    if root.exists():
        parser.error(f"{root} exists; choose another --out or name")
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    print(f"wrote {root}/: {', '.join(files)}\nnext: pip install -e {root} && python -m pytest {root}/tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
