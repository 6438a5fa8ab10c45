"""progan plugin: the FID Inception-v3 as feature network ``inception-v3`` for the fid and kid metrics."""
from __future__ import annotations

from progan.hookspecs import Register, hookimpl
from progan.metrics.fid import register_feature_network
from progan_inception.network import FIDInceptionV3, build_inception_v3, load_weights

__all__ = ["FIDInceptionV3", "build_inception_v3", "load_weights"]


@hookimpl
def progan_register_metrics(register: Register) -> None:
    """Feature networks are no metrics: ``inception-v3`` goes to the fid/kid feature-network registry."""
    register_feature_network("inception-v3", build_inception_v3)
