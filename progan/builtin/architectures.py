"""Built-in architecture ``progan``: the paper's progressively grown G and D."""
from __future__ import annotations

from progan import options
from progan.hookspecs import hookimpl
from progan.interfaces import Architecture
from progan.networks import ProganDiscriminator, ProganGenerator, ProganOptions


class ProganArchitecture(Architecture):
    progressive = True

    def __init__(self, opts: ProganOptions) -> None:
        self.opts = opts

    def build(self, *, resolution: int, channels: int):
        return (
            ProganGenerator(self.opts, resolution=resolution, channels=channels),
            ProganDiscriminator(self.opts, resolution=resolution, channels=channels),
        )

    def options(self) -> dict:
        return options.to_dict(self.opts)


def progan(opts: dict) -> ProganArchitecture:
    return ProganArchitecture(options.parse(ProganOptions, opts, where="arch"))


@hookimpl
def progan_register_architectures(register) -> None:
    register("progan", progan)
