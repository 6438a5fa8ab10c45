"""Every hook progan calls, in one module (marker ``progan``).

Registration hooks receive a ``register(name, factory)`` callback; the core validates the
names and refuses duplicates.  Lifecycle hooks are called by the trainer; implement only
the ones you need.  See docs/plugins.md for the contract of each factory.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

import pluggy

if TYPE_CHECKING:
    from progan.trainer import Trainer

hookspec = pluggy.HookspecMarker("progan")
hookimpl = pluggy.HookimplMarker("progan")

Register = Callable[[str, Callable[..., Any]], None]


@hookspec
def progan_register_architectures(register: Register) -> None:
    """Register architectures: ``register(name, factory)``, factory(options: dict) -> Architecture."""


@hookspec
def progan_register_losses(register: Register) -> None:
    """Register losses: ``register(name, factory)``, factory(options: dict) -> Loss."""


@hookspec
def progan_register_datasets(register: Register) -> None:
    """Register datasets: ``register(name, factory)``, factory(argument: str, *, resolution: int) -> ImageSet."""


@hookspec
def progan_register_metrics(register: Register) -> None:
    """Register metrics: ``register(name, factory)``, factory(options: dict) -> Metric."""


@hookspec
def progan_register_callbacks(register: Register) -> None:
    """Register callbacks: ``register(name, factory)``, factory(options: dict) -> object with lifecycle methods."""


@hookspec
def progan_train_start(trainer: Trainer) -> None:
    """Called once at the start of ``Trainer.run``, after a resumed state is loaded (so again on every resume)."""


@hookspec
def progan_stage_start(trainer: Trainer, resolution: int, fading: bool) -> None:
    """Called when a schedule phase (a stabilisation or a fade-in) begins: after ``train_start`` when the run stands at
    a phase's first image (a fresh run, or a resume exactly at a boundary), then after each ``stage_end`` but the last.
    A run resumed mid-phase gets no ``stage_start`` for that phase."""


@hookspec
def progan_stage_end(trainer: Trainer, resolution: int, fading: bool) -> None:
    """Called when a schedule phase ends, after its end-of-stage sample grid is written."""


@hookspec
def progan_tick(trainer: Trainer, stats: Mapping[str, float]) -> None:
    """Called at every tick (every ``tick_kimg``, at each phase end and on interruption) with the record written to log.jsonl."""


@hookspec
def progan_checkpoint(trainer: Trainer, path: str) -> None:
    """Called after a checkpoint has been written atomically to ``path`` (every ``checkpoint_kimg``, at each phase end, on interruption)."""


@hookspec
def progan_train_end(trainer: Trainer) -> None:
    """Called once when ``Trainer.run`` returns or raises (finished, interrupted or failed)."""
