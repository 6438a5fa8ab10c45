"""progan: paper-exact progressive GAN training with plugins, safe weights and exact resume."""
from __future__ import annotations

__version__ = "0.1.0"
