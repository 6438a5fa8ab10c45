"""The training configuration: frozen dataclasses from TOML files, presets and CLI overrides."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping

from progan import options
from progan.errors import ConfigError
from progan.schedule import ScheduleConfig, check_resolution


@dataclass(frozen=True)
class Component:
    """A registered name plus the options handed to its factory (the TOML table's other keys)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataConfig:
    source: str = "shapes"  # a dataset name, NAME:ARGUMENT, or a path (folder, .npz, .npy)
    channels: int | None = None  # 1 or 3; None keeps the data's own
    mirror: bool = False  # random horizontal flips, per sample
    strict: bool = False  # refuse unreadable image files instead of skipping them

    def __post_init__(self) -> None:
        if self.channels not in (None, 1, 3):
            raise ValueError(f"'data.channels' must be 1 or 3, got {self.channels}")


@dataclass(frozen=True)
class OptimConfig:
    name: Literal["adam", "rmsprop"] = "adam"
    betas: tuple[float, ...] = (0.0, 0.99)  # Adam; paper β1 = 0, β2 = 0.99
    eps: float = 1e-8
    rmsprop_alpha: float = 0.99
    reset_each_phase: bool = True  # the paper resets Adam's state at every phase boundary
    clip_grad_norm: float | None = None  # clip both networks' gradient norms (off by default)
    ema_beta: float = 0.999  # G_ema <- G + (G_ema - G)·β after every step
    # ... with β lowered in a phase where its half-life (batch·ln 0.5 / ln β images) would exceed this
    # fraction of the phase: each phase trains a new network, and an average over a large part of a
    # short phase lags behind it (bench/ema_sweep.py). The paper's 0.999 at 800k-image phases is a
    # half-life of 1.4%, so the cap changes nothing there; 0 turns it off.
    ema_phase_fraction: float = 0.05

    def __post_init__(self) -> None:
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError("'optim.betas' must be two numbers in [0, 1)")
        if not 0 <= self.ema_beta < 1:
            raise ValueError("'optim.ema_beta' must be in [0, 1)")
        if not 0 <= self.ema_phase_fraction <= 1:
            raise ValueError("'optim.ema_phase_fraction' must be in [0, 1]")
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            raise ValueError("'optim.clip_grad_norm' must be positive")
        if not self.eps >= 0 or not self.rmsprop_alpha >= 0:
            raise ValueError("'optim.eps' and 'optim.rmsprop_alpha' must be 0 or more")


@dataclass(frozen=True)
class PerformanceConfig:
    """How fast, not what: none of these changes the algorithm (see docs/performance.md)."""

    amp: Literal["none", "bf16"] = "none"  # autocast G and D in bfloat16; the gradient penalty and minibatch stddev stay fp32
    compile: bool = False  # torch.compile G and D (the gradient-penalty pass stays eager: no double backward)
    tf32: bool = False  # TF32 matmuls and convolutions on CUDA (Ampere and newer)
    channels_last: bool | None = None  # NHWC activations and weights; None: per resolution and machine (performance.default_channels_last)
    retain_cpu_memory: bool = True  # CPU on Linux/glibc: keep freed blocks for reuse instead of page-faulting fresh memory every step


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; stored as sorted JSON in the run directory and in checkpoints."""

    resolution: int = 32  # target resolution, a power of two in 4..1024
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    arch: Component = field(default_factory=lambda: Component("progan"))
    loss: Component = field(default_factory=lambda: Component("wgan-gp"))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    tick_kimg: float = 4.0  # a log line and a sample grid every tick
    checkpoint_kimg: float = 20.0  # a checkpoint every this many kimg (and at stage ends and exit)
    keep_checkpoints: int = 3  # the last K periodic checkpoints are kept
    grid_size: int = 36  # images in each sample grid (fixed latents)
    plugins: tuple[str, ...] = ()  # local plugin modules to load
    callbacks: tuple[str, ...] = ()  # callback names (progan_register_callbacks), active during the run
    callback_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # NAME -> options for its factory
    on_nan: Literal["stop", "rollback"] = "stop"  # a NaN/Inf loss, gradient or weight: stop, or reload the last checkpoint at half the lr
    max_rollbacks: int = 3  # with on_nan = "rollback": stop after this many rollbacks
    metrics: tuple[str, ...] = ()  # metric names (swd, msssim, fid, kid, plugins') scored on G_ema during training
    metrics_every_kimg: float = 100.0  # and at the end of training
    metrics_num: int = 2048  # fakes (and reals) per evaluation: the paper's 16384 takes minutes per SWD on a CPU
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # NAME -> options for its factory
    best_metric: str | None = None  # the figure that picks RUN_DIR/best.safetensors (lowest, or highest if its metric says higher_is_better); None: the first figure of the first metric
    performance: PerformanceConfig = field(default_factory=PerformanceConfig)  # speed only: amp, compile, tf32, channels_last

    def __post_init__(self) -> None:
        check_resolution(self.resolution, "resolution")
        for name in ("tick_kimg", "checkpoint_kimg"):
            if not getattr(self, name) > 0:
                raise ValueError(f"'{name}' must be positive, got {getattr(self, name)}")
        if self.keep_checkpoints < 1 or self.grid_size < 1:
            raise ValueError("'keep_checkpoints' and 'grid_size' must be at least 1")
        if len(set(self.callbacks)) != len(self.callbacks):
            raise ValueError(f"'callbacks' names a callback twice: {list(self.callbacks)}")
        stray = sorted(set(self.callback_options) - set(self.callbacks))
        if stray:
            raise ValueError(f"'callback_options.{stray[0]}' is for a callback not listed in 'callbacks' {list(self.callbacks)}")
        if self.max_rollbacks < 0:
            raise ValueError(f"'max_rollbacks' must be 0 or more, got {self.max_rollbacks}")
        if not self.metrics_every_kimg > 0 or self.metrics_num < 2:
            raise ValueError("'metrics_every_kimg' must be positive and 'metrics_num' at least 2")
        stray = sorted(set(self.metric_options) - set(self.metrics))
        if stray:
            raise ValueError(f"'metric_options.{stray[0]}' is for a metric not listed in 'metrics' {list(self.metrics)}")
        if self.best_metric is not None and not self.metrics:
            raise ValueError("'best_metric' needs 'metrics' to name at least one metric")


def from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """A TrainConfig from nested plain data; [arch] and [loss] tables take ``name`` plus options."""
    data = dict(data)
    for key in ("arch", "loss"):
        if key in data:
            table = data[key]
            if isinstance(table, str):
                table = {"name": table}
            if not isinstance(table, Mapping):
                raise ConfigError(f"'{key}' must be a table with a 'name' key, got {table!r}")
            table = dict(table)
            nested = table.pop("options", {})
            if not isinstance(nested, Mapping):
                raise ConfigError(f"'{key}.options' must be a table, got {type(nested).__name__} {nested!r}")
            data[key] = {"name": table.pop("name", "progan" if key == "arch" else "wgan-gp"), "options": {**nested, **table}}
    return options.parse(TrainConfig, data, where="")


def to_dict(config: TrainConfig) -> dict[str, Any]:
    return options.to_dict(config)


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def preset(name: str) -> dict[str, Any]:
    """A packaged preset (progan/presets/NAME.toml)."""
    names = sorted(p.name[:-5] for p in resources.files("progan.presets").iterdir() if p.name.endswith(".toml"))
    if name not in names:
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(names)}")
    return tomllib.loads(resources.files("progan.presets").joinpath(f"{name}.toml").read_text())


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of plain dicts: tables merge, everything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            if key in ("arch", "loss") and value.get("name", out[key].get("name")) != out[key].get("name"):
                out[key] = dict(value)  # another architecture or loss: its predecessor's options don't apply
            else:
                out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def dotted(assignments: list[str]) -> dict[str, Any]:
    """``["schedule.fade_kimg=10", "arch.fmap_max=64"]`` as a nested dict."""
    out: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set schedule.fade_kimg=10")
        node = out
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = options.parse_value(value)
    return out


__all__ = ["TrainConfig", "DataConfig", "OptimConfig", "PerformanceConfig", "Component", "from_dict", "to_dict", "read_toml", "preset", "merge", "dotted", "replace"]
