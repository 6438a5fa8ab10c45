"""Metrics during training: the EMA generator scored at the current resolution every ``metrics_every_kimg``.

The figures join the tick's log record as ``metric/<figure>``.  The best checkpoint by
``best_metric`` is kept as RUN_DIR/best.safetensors; only figures measured at the target resolution
and alpha 1 are compared, since a lower resolution's figures are not comparable with the target's.
Evaluation leaves training untouched: the metrics draw from their own seeded generators, the global
RNGs are restored afterwards, and G_ema is only read, so a resumed run stays bitwise exact.
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import numpy as np
import torch

from progan.config import TrainConfig
from progan.errors import ConfigError
from progan.interfaces import Generator
from progan.plugins import PluginHost

PREFIX = "metric/"


class AtAlpha(torch.nn.Module):
    """A generator with a fixed fade ``alpha``: what the metrics call as ``G(z, resolution)``."""

    def __init__(self, generator: Generator, alpha: float) -> None:
        super().__init__()
        self.generator, self.alpha = generator, alpha
        self.latent_size, self.channels, self.resolution = generator.latent_size, generator.channels, generator.resolution

    def forward(self, z: torch.Tensor, resolution: int | None = None) -> torch.Tensor:
        return self.generator(z, resolution, self.alpha)


@contextmanager
def global_rngs_kept() -> Iterator[None]:
    """Restore the global torch (CPU and CUDA), numpy and python RNGs on exit."""
    numpy_state, python_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_available() else []):
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


class MetricMonitor:
    """Runs ``config.metrics`` when due and tracks the best figure; a no-op when no metrics are configured."""

    def __init__(self, config: TrainConfig, host: PluginHost) -> None:
        self.every_img = int(config.metrics_every_kimg * 1000)
        self.num, self.seed = config.metrics_num, config.seed
        self.metrics = {name: host.create("metrics", name, dict(config.metric_options.get(name, {}))) for name in config.metrics}
        self.best_figure = config.best_metric
        self.best: dict[str, Any] | None = None  # {"figure", "value", "images_shown"}; saved in checkpoints
        self.higher_is_better = False  # that of the metric whose figure is best_figure

    def due(self, before: int, after: int, done: bool) -> bool:
        """Whether the images shown crossed an evaluation point in (before, after], or training just ended."""
        return bool(self.metrics) and (after // self.every_img > before // self.every_img or done)

    @torch.no_grad()
    def evaluate(self, generator: Generator, reals: np.ndarray, alpha: float) -> dict[str, float]:
        """``metric/<figure>`` for every figure of every metric, at the reals' resolution and ``alpha``."""
        figures: dict[str, float] = {}
        with global_rngs_kept():
            for metric in self.metrics.values():
                if reals.shape[1] < getattr(metric, "min_size", 1):
                    continue
                values = metric.compute(AtAlpha(generator, alpha), reals, num=self.num, seed=self.seed)
                if self.best_figure is None and metric is next(iter(self.metrics.values())):
                    self.best_figure = next(iter(values))  # the default: the first figure of the first metric
                if self.best_figure in values:
                    self.higher_is_better = bool(getattr(metric, "higher_is_better", False))
                figures.update({PREFIX + key: float(value) for key, value in values.items()})
        return figures

    def improved(self, figures: Mapping[str, float], images_shown: int) -> bool:
        """Record ``figures`` (measured at the target resolution, alpha 1) if they beat the best so far."""
        if not figures:  # the target is smaller than every metric's min_size
            return False
        if PREFIX + str(self.best_figure) not in figures:
            raise ConfigError(f"'best_metric' {self.best_figure!r} is not a figure of metrics {list(self.metrics)}; figures: {', '.join(k[len(PREFIX):] for k in figures)}")
        value = figures[PREFIX + self.best_figure]
        if self.best is not None and not (value > self.best["value"] if self.higher_is_better else value < self.best["value"]):
            return False
        self.best = {"figure": self.best_figure, "value": value, "images_shown": images_shown}
        return True
