"""Built-in plugin: the swd, msssim, fid and kid metrics; factory(options: dict) -> Metric."""
from __future__ import annotations

from progan.hookspecs import Register, hookimpl
from progan.metrics.evaluate import FIDMetric, KIDMetric, MSSSIMMetric, SWDMetric


@hookimpl
def progan_register_metrics(register: Register) -> None:
    """Register the paper's metrics (swd, msssim) and the feature-network ones (fid, kid)."""
    register("swd", SWDMetric)
    register("msssim", MSSSIMMetric)
    register("fid", FIDMetric)
    register("kid", KIDMetric)
