"""The mlp and dcgan architectures: shapes, layers, init and options."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from progan.errors import ConfigError
from progan_classic.plugin import dcgan, mlp

SMALL = {"mlp": (mlp, {"hidden": [32, 64]}), "dcgan": (dcgan, {"ngf": 8, "ndf": 8})}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("resolution", [16, 32, 64])
@pytest.mark.parametrize("name", sorted(SMALL))
def test_output_shapes(name: str, resolution: int, channels: int) -> None:
    factory, options = SMALL[name]
    architecture = factory(options)
    generator, discriminator = architecture.build(resolution=resolution, channels=channels)
    assert architecture.progressive is False
    assert (generator.latent_size, generator.resolution, generator.channels) == (100, resolution, channels)
    images = generator(torch.randn(4, 100))
    assert images.shape == (4, channels, resolution, resolution)
    assert images.abs().max() <= 1.0
    assert generator(torch.randn(4, 100), resolution, alpha=0.5).shape == images.shape  # alpha is ignored
    assert discriminator(images).shape == (4,)


@pytest.mark.parametrize("output", ["tanh", "sigmoid"])
def test_mlp_outputs_span_minus_one_to_one(output: str) -> None:
    generator, _ = mlp({"hidden": [8], "output": output, "activation": "relu"}).build(resolution=4, channels=1)
    with torch.no_grad():
        generator.net[-3].weight.mul_(1000.0)  # saturate the output layer to reach both ends
        images = generator(torch.randn(64, 100))
    assert images.min() < -0.99 and images.max() > 0.99 and images.abs().max() <= 1.0


def test_dcgan_nearest_upsampling_shapes() -> None:
    generator, _ = dcgan({"ngf": 8, "upsample": "nearest"}).build(resolution=32, channels=3)
    assert generator(torch.randn(2, 100)).shape == (2, 3, 32, 32)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in generator.modules())
    assert sum(isinstance(m, nn.Upsample) for m in generator.modules()) == 3  # 4 -> 8 -> 16 -> 32


def _followed_by_batchnorm(discriminator: nn.Module) -> list[bool]:
    layers = list(discriminator.net)
    return [isinstance(layers[i + 1], nn.BatchNorm2d) for i, layer in enumerate(layers[:-1]) if isinstance(layer, nn.Conv2d)]


def test_dcgan_discriminator_batchnorm_skips_the_first_layer() -> None:
    _, discriminator = dcgan({"ndf": 8}).build(resolution=64, channels=3)
    assert _followed_by_batchnorm(discriminator) == [False, True, True, True, False]  # the last conv gives the logit
    _, plain = dcgan({"ndf": 8, "batchnorm_d": False}).build(resolution=64, channels=3)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert all(conv.bias is not None for conv in plain.modules() if isinstance(conv, nn.Conv2d))


def test_dcgan_generator_has_no_batchnorm_on_its_output() -> None:
    generator, _ = dcgan({"ngf": 8}).build(resolution=16, channels=3)
    assert isinstance(generator.net[-1], nn.Tanh) and isinstance(generator.net[-2], nn.ConvTranspose2d)


def test_dcgan_init_follows_the_paper() -> None:
    for network in dcgan({}).build(resolution=64, channels=3):
        for module in network.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and module.weight.numel() > 1000:
                assert module.weight.std().item() == pytest.approx(0.02, rel=0.1)
                assert abs(module.weight.mean().item()) < 0.005
            if isinstance(module, nn.BatchNorm2d):
                assert module.weight.mean().item() == pytest.approx(1.0, abs=0.01)
            if getattr(module, "bias", None) is not None:
                assert torch.count_nonzero(module.bias) == 0


def test_dropout_is_configurable() -> None:
    def dropouts(network: nn.Module) -> list[float]:
        return [m.p for m in network.modules() if isinstance(m, nn.Dropout)]

    assert dropouts(mlp({"hidden": [8, 16]}).build(resolution=4, channels=1)[1]) == [0.3, 0.3]
    assert dropouts(mlp({"hidden": [8, 16], "dropout": 0.0}).build(resolution=4, channels=1)[1]) == []
    assert dropouts(dcgan({"ndf": 8}).build(resolution=16, channels=1)[1]) == []
    assert dropouts(dcgan({"ndf": 8, "dropout": 0.25}).build(resolution=16, channels=1)[1]) == [0.25, 0.25]


@pytest.mark.parametrize("factory", [mlp, dcgan])
def test_options_are_resolved_and_rebuild_the_same_architecture(factory) -> None:
    options = factory({"latent_size": 16}).options()
    assert options["latent_size"] == 16 and len(options) > 1  # defaults filled in
    rebuilt = factory(json.loads(json.dumps(options)))
    assert rebuilt.options() == options


def test_resolved_defaults() -> None:
    assert mlp({}).options() == {"latent_size": 100, "hidden": [256, 512, 1024], "activation": "leaky_relu", "output": "tanh", "dropout": 0.3}
    assert dcgan({}).options() == {"latent_size": 100, "ngf": 64, "ndf": 64, "upsample": "transpose", "dropout": 0.0, "batchnorm_d": True}


@pytest.mark.parametrize("factory, typo, meant", [(dcgan, "ngff", "ngf"), (mlp, "hiden", "hidden"), (dcgan, "batchnorm", "batchnorm_d")])
def test_unknown_option_names_it_and_suggests(factory, typo: str, meant: str) -> None:
    with pytest.raises(ConfigError, match=rf"'arch\.{typo}'.*'arch\.{meant}'"):
        factory({typo: 1})


@pytest.mark.parametrize(
    "factory, options",
    [(dcgan, {"ngf": 0}), (dcgan, {"upsample": "bilinear"}), (dcgan, {"dropout": 1.0}), (dcgan, {"batchnorm_d": "yes"}),
     (mlp, {"hidden": []}), (mlp, {"hidden": [64, 0]}), (mlp, {"output": "relu"}), (mlp, {"latent_size": 2.5})],
)
def test_invalid_option_values_are_refused(factory, options: dict) -> None:
    (name,) = options
    with pytest.raises(ConfigError, match=name):
        factory(options)


@pytest.mark.parametrize("resolution", [4, 8, 48, 256])
def test_dcgan_refuses_unsupported_resolutions(resolution: int) -> None:
    with pytest.raises(ConfigError, match="16, 32, 64, 128"):
        dcgan({}).build(resolution=resolution, channels=3)


def test_networks_refuse_other_resolutions() -> None:
    generator, discriminator = dcgan({"ngf": 8, "ndf": 8}).build(resolution=16, channels=3)
    with pytest.raises(ValueError, match="16×16"):
        generator(torch.randn(2, 100), resolution=32)
    with pytest.raises(ValueError, match=r"\[N, 3, 16, 16\]"):
        discriminator(torch.zeros(2, 3, 32, 32))
