"""Built-in losses: ``wgan-gp`` (the paper's default) and ``logistic`` (non-saturating BCE, optional R1)."""
from __future__ import annotations

from progan import options
from progan.hookspecs import hookimpl
from progan.losses import Logistic, LogisticOptions, WganGp, WganGpOptions


def wgan_gp(opts: dict) -> WganGp:
    return WganGp(options.parse(WganGpOptions, opts, where="loss"))


def logistic(opts: dict) -> Logistic:
    return Logistic(options.parse(LogisticOptions, opts, where="loss"))


@hookimpl
def progan_register_losses(register) -> None:
    register("wgan-gp", wgan_gp)
    register("logistic", logistic)
