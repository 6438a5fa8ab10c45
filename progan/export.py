"""Generators from checkpoints, exports and run folders (one validated code path), and writing exports.

An export is a folder: ``model.safetensors`` (the EMA generator as ``G.*`` tensors),
``config.json`` (the same metadata as JSON) and, with ``format="onnx"``, ``model.onnx``.
See docs/formats.md.
"""
from __future__ import annotations

import io
import json
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import torch

from progan import __version__, checkpoint
from progan.errors import CheckpointError, ProganError
from progan.interfaces import Generator, latents
from progan.model import ModelSpec, architecture
from progan.plugins import PluginHost, host as default_host

GENERATOR_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
CONFIG_FILE = "config.json"
FORMATS = ("safetensors", "onnx")
ONNX_TOLERANCE = 1e-4  # largest |ONNX - PyTorch| accepted when onnxruntime checks an export
PROGRESS_KEYS = ("images_shown", "stage", "resolution", "alpha")


@dataclass(frozen=True)
class Saved:
    """A validated progan file: its tensors, its metadata and the model it holds."""

    file: Path
    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str]
    spec: ModelSpec

    @property
    def is_checkpoint(self) -> bool:
        return self.metadata["format"] == checkpoint.CHECKPOINT_FORMAT

    @property
    def prefix(self) -> str:
        """The tensor prefix of the generator to use: the EMA one of a checkpoint, the only one of an export."""
        return "G_ema" if self.is_checkpoint else "G"


@dataclass(frozen=True)
class Exported:
    """What :func:`export` wrote."""

    files: list[Path]
    spec: ModelSpec
    origin: dict[str, Any]
    onnx_error: float | None  # max |ONNX - PyTorch| on test latents, None when not checked


def resolve(path: str | Path) -> Path:
    """The safetensors file behind a checkpoint file, an export folder or a run folder (its latest checkpoint)."""
    path = Path(path)
    if path.is_dir():
        if (path / GENERATOR_FILE).is_file():
            return path / GENERATOR_FILE
        found = sorted((path / "checkpoints").glob("ckpt-*.safetensors"))
        if found:
            return found[-1]
        raise CheckpointError(f"{path}: holds neither {GENERATOR_FILE} (an export) nor checkpoints/ (a run folder)")
    return path


def read(path: str | Path) -> Saved:
    """Read and validate a checkpoint, export or run folder; an export's config.json must agree with its file."""
    file = resolve(path)
    tensors, metadata = checkpoint.read(file)
    if metadata["format"] == checkpoint.EXPORT_FORMAT:
        check_config_json(file, metadata)
    return Saved(file, tensors, metadata, ModelSpec.from_metadata(metadata, str(file)))


def progress(metadata: Mapping[str, str], path: str | Path) -> dict[str, Any]:
    """How far training had got: images shown, stage, resolution, alpha (an export keeps its checkpoint's)."""
    if metadata.get("format") == checkpoint.CHECKPOINT_FORMAT:
        state = checkpoint.json_field(metadata, "state", path)
        return {key: state.get(key) for key in PROGRESS_KEYS}
    return checkpoint.json_field(metadata, "origin", path) if "origin" in metadata else {}


def start_resolution(metadata: Mapping[str, str], path: str | Path) -> int:
    """The resolution training started at: the lowest stage with trained weights."""
    if metadata.get("format") == checkpoint.CHECKPOINT_FORMAT:
        return checkpoint.json_field(metadata, "config", path).get("schedule", {}).get("start_resolution", 4)
    return progress(metadata, path).get("start_resolution", 4)


def stages(saved: Saved, *, progressive: bool) -> list[int]:
    """The resolutions at which the saved generator has trained weights."""
    if not progressive:
        return [saved.spec.resolution]
    top = progress(saved.metadata, saved.file)["resolution"] if saved.is_checkpoint else saved.spec.resolution
    return [2**k for k in range(start_resolution(saved.metadata, saved.file).bit_length() - 1, top.bit_length())]


def generator(saved: Saved, *, resolution: int | None = None, host: PluginHost | None = None) -> Generator:
    """The saved generator on the CPU, built at ``resolution`` (default: the trained one) with only the tensors it has."""
    # Only modules the user loads (--plugin, PROGAN_PLUGINS) count, never ones a file names: loading must not run code.
    arch = architecture(saved.spec, host or default_host(), path=str(saved.file))
    available = stages(saved, progressive=arch.progressive)
    resolution = resolution or available[-1]
    if resolution not in available:
        raise CheckpointError(f"{saved.file}: has no trained stage at {resolution}px; choose one of {', '.join(map(str, available))}")
    built, _ = arch.build(resolution=resolution, channels=saved.spec.channels)
    tensors = saved.tensors
    if resolution < saved.spec.resolution:  # an earlier stage: the smaller network holds a subset of the tensors
        own = {f"{saved.prefix}.{name}" for name in built.state_dict()}
        tensors = {name: t for name, t in tensors.items() if name in own}
    checkpoint.load_module(saved.prefix, built, tensors, saved.file)
    return built.eval().requires_grad_(False)


def load_generator(path: str | Path, *, resolution: int | None = None, device: str | torch.device = "cpu", host: PluginHost | None = None) -> Generator:
    """The generator of a checkpoint (its EMA copy), export or run folder, in eval mode; never executes code from the file.

    Call it as ``G(z)`` with z of shape [N, G.latent_size], or ``G.sample(n, seed=0)``; images are
    float [N, C, H, W] in about [-1, 1] at ``resolution`` (default: the resolution trained so far).
    """
    return generator(read(path), resolution=resolution, host=host).to(device)


def export(path: str | Path, out: str | Path, *, resolution: int | None = None, format: str = "safetensors", host: PluginHost | None = None) -> Exported:
    """Write the generator of a checkpoint, export or run folder to the folder ``out``; needs no training data."""
    if format not in FORMATS:
        raise ProganError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if (out / "checkpoints").is_dir():
        raise CheckpointError(f"{out}: is a run folder; export to another folder")
    saved = read(path)
    G = generator(saved, resolution=resolution, host=host)
    spec = replace(saved.spec, resolution=G.resolution)
    origin = progress(saved.metadata, saved.file)
    if saved.is_checkpoint:
        origin = {"checkpoint": saved.file.name, **origin, "start_resolution": start_resolution(saved.metadata, saved.file)}
    config = {"format": checkpoint.EXPORT_FORMAT, "format_version": checkpoint.FORMAT_VERSION, "progan_version": __version__, "model": asdict(spec), "origin": origin}
    metadata = as_metadata(config)
    files = [out / GENERATOR_FILE]
    checkpoint.save(files[0], checkpoint.module_tensors("G", G), metadata)
    onnx_error = None
    if format == "onnx":
        files.append(out / ONNX_FILE)
        onnx_error = write_onnx(G, files[-1], metadata)
    files.append(out / CONFIG_FILE)
    checkpoint.write_atomic(files[-1], (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    return Exported(files, spec, origin, onnx_error)


def as_metadata(config: Mapping[str, Any]) -> dict[str, str]:
    """config.json's entries as safetensors string metadata: strings as they are, anything else as JSON."""
    return {key: value if isinstance(value, str) else json.dumps(value, sort_keys=True) for key, value in config.items()}


def check_config_json(file: Path, metadata: Mapping[str, str]) -> None:
    """An export's config.json, when present, must say what the safetensors metadata says."""
    config_file = file.with_name(CONFIG_FILE)
    if not config_file.is_file():
        return
    try:
        config = json.loads(config_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{config_file}: not readable JSON ({exc}); re-export or delete it") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_file}: not a JSON object; re-export or delete it")
    for key, value in sorted(config.items()):
        stored = metadata.get(key)
        if stored is not None and not isinstance(value, str):
            stored = json.loads(stored)
        difference = _difference(value, stored, key)
        if difference:
            where, ours, theirs = difference
            raise CheckpointError(f"{config_file}: disagrees with {file.name} on {where} ({ours!r} vs {theirs!r}); re-export or delete config.json")


def _difference(a: Any, b: Any, where: str) -> tuple[str, Any, Any] | None:
    """The first dotted key at which ``a`` and ``b`` differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _difference(a.get(key), b.get(key), f"{where}.{key}")
            if found:
                return found
        return None
    return None if a == b else (where, a, b)


def write_onnx(G: Generator, path: Path, metadata: Mapping[str, str]) -> float | None:
    """``G`` (on the CPU) as an ONNX graph z -> images with a free batch size; checked with onnxruntime if installed."""
    try:
        import onnx
    except ImportError:
        raise ProganError("ONNX export needs the onnx extra: pip install 'progan[onnx]'") from None
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the tracer's notes on Python control flow: the graph is fixed at one resolution and alpha 1
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _FromLatents(G), (latents(2, G.latent_size, seed=0),), buffer, input_names=["z"], output_names=["images"],
            dynamic_axes={"z": {0: "batch"}, "images": {0: "batch"}}, opset_version=17, dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    checkpoint.write_atomic(path, model.SerializeToString())
    return _check_onnx(G, path)


class _FromLatents(torch.nn.Module):
    """``G(z)`` with z as the only input: the exporter would otherwise turn ``alpha``'s default into a graph input."""

    def __init__(self, G: Generator) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.G(z)


def _check_onnx(G: Generator, path: Path) -> float | None:
    """Max |ONNX - PyTorch| on three seeded latents, or None without onnxruntime; refuses a mismatch."""
    try:
        import onnxruntime
    except ImportError:
        return None
    z = latents(3, G.latent_size, seed=1)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    error = float((torch.from_numpy(session.run(None, {"z": z.numpy()})[0]) - G(z)).abs().max())
    if not error <= ONNX_TOLERANCE:
        raise CheckpointError(f"{path}: ONNX output differs from PyTorch by {error:.2g} (> {ONNX_TOLERANCE}); keep model.safetensors")
    return error
