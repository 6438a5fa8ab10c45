"""Shared test set-up: one torch thread, no installed plugins unless a test asks, a fresh plugin host."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ["PROGAN_DISABLE_PLUGINS"] = "1"  # installed entry points stay out of tests unless asked for


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """One thread (tiny ops on a shared 2-core box are faster and repeatable) and a fresh plugin host."""
    from progan import plugins

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    plugins.reset_host()
    yield
    plugins.reset_host()
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_images() -> np.ndarray:
    """64 deterministic 16×16 RGB images with some structure (gradients plus a square)."""
    rng = np.random.default_rng(0)
    images = np.zeros((64, 16, 16, 3), np.uint8)
    ramp = np.linspace(0, 255, 16, dtype=np.float32)
    for i in range(64):
        colour = rng.integers(0, 256, 3)
        images[i] = (ramp[None, :, None] * colour / 255).astype(np.uint8)
        x, y = rng.integers(0, 10, 2)
        images[i, y : y + 6, x : x + 6] = 255 - colour
    return images
