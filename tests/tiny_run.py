"""A tiny trained run folder (4 -> 16 px, a few dozen steps) for the export, generate and tools tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core_helpers import make_trainer


def images(count: int = 32, size: int = 16) -> np.ndarray:
    """Random uint8 NHWC images: enough for a smoke run, which learns nothing anyway."""
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def train(run_dir: Path) -> Path:
    """Train 4 -> 16 px with 48 images per phase; every stage end leaves a checkpoint and grids."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run outside conftest's one-thread fixture
    try:
        make_trainer(images(), run_dir, kimg=0.048, keep_checkpoints=10).run()
    finally:
        torch.set_num_threads(threads)
    return run_dir


def mid_fade_checkpoint(path: Path) -> Path:
    """A checkpoint saved halfway through the 4 -> 8 fade-in."""
    trainer = make_trainer(images(), path.parent / "mid-fade-run", kimg=0.048)
    while not (trainer.schedule.at(trainer.images_shown).phase.fading and trainer.schedule.at(trainer.images_shown).alpha >= 0.5):
        trainer.step()
    return trainer.save(path)
