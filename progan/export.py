"""Loading generators from checkpoints, exports and run folders: one validated code path."""
from __future__ import annotations

from pathlib import Path

import torch

from progan import checkpoint
from progan.errors import CheckpointError
from progan.interfaces import Generator
from progan.model import ModelSpec, build
from progan.plugins import PluginHost, host as default_host


def resolve(path: str | Path) -> Path:
    """The safetensors file behind a checkpoint file, an export folder or a run folder."""
    path = Path(path)
    if path.is_dir():
        if (path / "model.safetensors").is_file():
            return path / "model.safetensors"
        found = sorted((path / "checkpoints").glob("ckpt-*.safetensors"))
        if found:
            return found[-1]
        raise CheckpointError(f"{path}: holds neither model.safetensors (an export) nor checkpoints/ (a run folder)")
    return path


def load_generator(path: str | Path, *, device: str | torch.device = "cpu", host: PluginHost | None = None) -> Generator:
    """The EMA generator of a checkpoint, export or run folder, in eval mode; never executes code from the file.

    Call it as ``G(z)`` with z of shape [N, G.latent_size], or ``G.sample(n, seed=0)``; images are
    float [N, C, H, W] in about [-1, 1].
    """
    file = resolve(path)
    tensors, metadata = checkpoint.read(file)
    spec = ModelSpec.from_metadata(metadata, str(file))
    generator, _ = build(spec, host or default_host(), path=str(file))
    prefix = "G_ema" if metadata["format"] == checkpoint.CHECKPOINT_FORMAT else "G"
    checkpoint.load_module(prefix, generator, tensors, file)
    return generator.to(device).eval().requires_grad_(False)
