"""What a checkpoint or export holds, read from its header without loading the tensors."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import safetensors

from progan import checkpoint
from progan.export import check_config_json, progress, resolve
from progan.model import ModelSpec

NETWORKS = ("G", "D", "G_ema")


def describe(path: str | Path) -> dict[str, Any]:
    """Format, model, training progress, parameter counts and size of a checkpoint, export or run folder."""
    file = resolve(path)
    metadata = checkpoint.read_progan_metadata(file)
    if metadata["format"] == checkpoint.EXPORT_FORMAT:
        check_config_json(file, metadata)
    spec = ModelSpec.from_metadata(metadata, str(file))
    with safetensors.safe_open(str(file), framework="pt") as handle:  # the header only; tensors stay on disk
        shapes = {name: handle.get_slice(name).get_shape() for name in handle.keys()}
    counts = {net: sum(math.prod(shape) for name, shape in shapes.items() if name.startswith(net + ".")) for net in NETWORKS}
    info = {
        "path": str(file),
        "file_bytes": file.stat().st_size,
        "format": metadata["format"],
        "format_version": int(metadata["format_version"]),
        "progan_version": metadata.get("progan_version"),
        "architecture": spec.arch,
        "package": spec.package,
        "arch_options": spec.arch_options,
        "resolution": spec.resolution,
        "channels": spec.channels,
        "latent_size": spec.latent_size,
        "progress": progress(metadata, file),
        "parameters": {net: count for net, count in counts.items() if count},
    }
    if metadata["format"] == checkpoint.CHECKPOINT_FORMAT:  # the training config; an export's model is above
        info["config"] = checkpoint.json_field(metadata, "config", file)
    return info
