"""progan: paper-exact progressive GAN training with plugins, safe weights and exact resume."""
from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name: str):
    """``progan.load_generator`` without importing torch at ``import progan``."""
    if name == "load_generator":
        from progan.export import load_generator

        return load_generator
    raise AttributeError(f"module 'progan' has no attribute {name!r}")
