"""The growth schedule: a pure function of real images shown (after the official TrainingSchedule)."""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from progan.errors import ConfigError


@dataclass(frozen=True)
class ScheduleConfig:
    """How the networks grow; kimg = thousands of real images shown to D."""

    start_resolution: int = 4
    stabilise_kimg: float = 800.0  # paper: 800 per stabilisation ...
    fade_kimg: float = 800.0  # ... and 800 per fade-in
    total_kimg: float | None = None  # None: the growth, then one stabilise_kimg more at the target
    batch_size: int = 16
    batch_by_resolution: dict[int, int] = field(default_factory=lambda: {256: 14, 512: 6, 1024: 3})  # paper
    # Adam's lr for G and D. The paper's is 0.001 (--preset paper keeps it). At 0.002 both data sets of
    # bench/quality.py scored lower SWD on 140k-image schedules: 9% on Twemoji, 17% on Fashion-MNIST (docs/quality.md).
    g_lr: float = 0.002
    d_lr: float = 0.002
    g_lr_by_resolution: dict[int, float] = field(default_factory=dict)
    d_lr_by_resolution: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_resolution(self.start_resolution, "schedule.start_resolution")
        for name in ("stabilise_kimg", "fade_kimg"):
            if not getattr(self, name) > 0:
                raise ValueError(f"'schedule.{name}' must be positive, got {getattr(self, name)}")
        if self.total_kimg is not None and not self.total_kimg > 0:
            raise ValueError(f"'schedule.total_kimg' must be positive, got {self.total_kimg}")
        for name, value in [("batch_size", self.batch_size), *((f"batch_by_resolution.{r}", b) for r, b in self.batch_by_resolution.items())]:
            if value < 1:
                raise ValueError(f"'schedule.{name}' must be at least 1, got {value}")
        for name in ("g_lr", "d_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"'schedule.{name}' must be positive")


def check_resolution(resolution: int, where: str) -> None:
    if not (isinstance(resolution, int) and 4 <= resolution <= 1024 and resolution & (resolution - 1) == 0):
        valid = ", ".join(str(2**k) for k in range(2, 11))
        raise ConfigError(f"'{where}' must be a power of two from 4 to 1024 ({valid}), got {resolution!r}")


@dataclass(frozen=True)
class Phase:
    """One record of the schedule: a stabilisation or a fade-in to ``resolution``."""

    index: int
    resolution: int
    fading: bool
    start_img: int
    end_img: int
    batch_size: int
    g_lr: float
    d_lr: float

    @property
    def name(self) -> str:
        return f"fade-in {self.resolution // 2}→{self.resolution}" if self.fading else f"stabilise {self.resolution}"

    @property
    def steps(self) -> int:
        """Optimiser steps in this phase (the last batch may overrun the end)."""
        return math.ceil((self.end_img - self.start_img) / self.batch_size)


@dataclass(frozen=True)
class State:
    """Everything the trainer needs at one moment."""

    phase: Phase
    alpha: float  # weight of the newest block: rises 0 -> 1 during a fade, 1 otherwise
    done: bool

    @property
    def resolution(self) -> int:
        return self.phase.resolution


class Schedule:
    """Per-phase records for a target resolution; ``at(images_shown)`` is a pure function."""

    def __init__(self, config: ScheduleConfig, *, target_resolution: int, progressive: bool = True) -> None:
        check_resolution(target_resolution, "resolution")
        if config.start_resolution > target_resolution:
            raise ConfigError(
                f"'schedule.start_resolution' ({config.start_resolution}) is above the target resolution ({target_resolution})"
            )
        self.config, self.target_resolution = config, target_resolution
        start = config.start_resolution if progressive else target_resolution
        stable, fade = _images(config.stabilise_kimg), _images(config.fade_kimg)
        growth: list[tuple[int, bool, int]] = [(start, False, stable)]
        resolution = start
        while resolution < target_resolution:
            resolution *= 2
            growth += [(resolution, True, fade), (resolution, False, stable)]
        growth_end = sum(length for _, _, length in growth)
        self.total_img = growth_end if config.total_kimg is None else _images(config.total_kimg)
        phases, begin = [], 0
        for resolution, fading, length in growth:
            end = begin + length
            if (resolution, fading) == growth[-1][:2]:
                end = self.total_img  # the last stabilisation continues to the total
            end = min(end, self.total_img)
            if end <= begin:
                break
            phases.append(self._phase(len(phases), resolution, fading, begin, end))
            begin = end
        self.phases: tuple[Phase, ...] = tuple(phases)
        self._starts = [p.start_img for p in phases]

    def _phase(self, index: int, resolution: int, fading: bool, begin: int, end: int) -> Phase:
        c = self.config
        return Phase(
            index=index,
            resolution=resolution,
            fading=fading,
            start_img=begin,
            end_img=end,
            batch_size=c.batch_by_resolution.get(resolution, c.batch_size),
            g_lr=c.g_lr_by_resolution.get(resolution, c.g_lr),
            d_lr=c.d_lr_by_resolution.get(resolution, c.d_lr),
        )

    def at(self, images_shown: int) -> State:
        """The phase, alpha and done flag after ``images_shown`` real images."""
        index = max(0, bisect.bisect_right(self._starts, images_shown) - 1)
        phase = self.phases[index]
        alpha = 1.0
        if phase.fading:
            alpha = min(1.0, (images_shown - phase.start_img) / (phase.end_img - phase.start_img))
        return State(phase=phase, alpha=alpha, done=images_shown >= self.total_img)

    def table(self) -> list[dict]:
        """The schedule as rows for printing or JSON."""
        return [
            {
                "phase": p.index,
                "name": p.name,
                "resolution": p.resolution,
                "start_kimg": p.start_img / 1000,
                "end_kimg": p.end_img / 1000,
                "alpha": "0→1" if p.fading else "1",
                "batch": p.batch_size,
                "g_lr": p.g_lr,
                "d_lr": p.d_lr,
                "steps": p.steps,
            }
            for p in self.phases
        ]


def _images(kimg: float) -> int:
    return int(round(kimg * 1000))
