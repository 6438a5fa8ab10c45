"""The hook implementations: the factories that turn option dicts into architectures and losses."""
from __future__ import annotations

from typing import Any, Mapping

from progan.errors import ConfigError
from progan.hookspecs import Register, hookimpl
from progan.options import parse
from progan_classic.dcgan import DCGANArchitecture, DCGANOptions
from progan_classic.losses import LSGAN, Hinge, LSGANOptions, Minimax
from progan_classic.mlp import MLPArchitecture, MLPOptions
from progan_classic.tricks import LABEL_RANGE_OPTIONS, LabelTrickOptions, TrickOptions


def mlp(options: Mapping[str, Any]) -> MLPArchitecture:
    return MLPArchitecture(options=parse(MLPOptions, options, where="arch"))


def dcgan(options: Mapping[str, Any]) -> DCGANArchitecture:
    return DCGANArchitecture(options=parse(DCGANOptions, options, where="arch"))


def minimax(options: Mapping[str, Any]) -> Minimax:
    return Minimax(options=parse(LabelTrickOptions, options, where="loss"))


def hinge(options: Mapping[str, Any]) -> Hinge:
    smoothing = [name for name in LABEL_RANGE_OPTIONS if name in (options or {})]
    if smoothing:
        raise ConfigError(
            f"'loss.{smoothing[0]}' does not apply to the hinge loss, which has no label targets to smooth; "
            f"drop it, or use loss minimax or lsgan"
        )
    return Hinge(options=parse(TrickOptions, options, where="loss"))


def lsgan(options: Mapping[str, Any]) -> LSGAN:
    return LSGAN(options=parse(LSGANOptions, options, where="loss"))


@hookimpl
def progan_register_architectures(register: Register) -> None:
    register("mlp", mlp)
    register("dcgan", dcgan)


@hookimpl
def progan_register_losses(register: Register) -> None:
    register("minimax", minimax)
    register("hinge", hinge)
    register("lsgan", lsgan)
