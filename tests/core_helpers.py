"""Helpers shared by the core test files: tiny configs, trainers on in-memory data, state comparisons."""
from __future__ import annotations

import math
import textwrap
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

from progan.config import TrainConfig, from_dict, merge
from progan.data import Pyramid
from progan.plugins import PluginHost
from progan.trainer import Trainer

# nf(stage) = min(32 / 2**stage, 16): 16 channels at 4×4, 8 at 8×8, 4 at 16×16 — tiny but the paper's layout.
TINY_ARCH: dict[str, Any] = {"name": "progan", "latent_size": 16, "fmap_base": 32, "fmap_max": 16}


def tiny_config(*, resolution: int = 16, kimg: float = 0.1, batch: int = 8, **overrides: Any) -> TrainConfig:
    """A TrainConfig for a tiny network that grows 4 -> ``resolution`` with ``kimg`` per phase."""
    base = {
        "resolution": resolution,
        "seed": 0,
        "arch": dict(TINY_ARCH),
        "schedule": {"stabilise_kimg": kimg, "fade_kimg": kimg, "batch_size": batch},
        "tick_kimg": 0.05,
        "checkpoint_kimg": 1.0,
        "grid_size": 4,
    }
    return from_dict(merge(base, overrides))


def plain_host() -> PluginHost:
    """A host with the built-ins only (no entry points), independent of the process-wide one."""
    return PluginHost(entry_points=False)


def make_trainer(images: np.ndarray, run_dir: str | Path, config: TrainConfig | None = None, **overrides: Any) -> Trainer:
    """A Trainer on ``images`` (uint8 NHWC) fitted into a pyramid at the config's resolution."""
    config = config or tiny_config(**overrides)
    size = config.resolution
    assert images.shape[1] >= size, "helpers expect images at least as large as the target"
    factor = images.shape[1] // size
    if factor > 1:  # box-downsample to the target so that the pyramid's top is the target resolution
        n, h, w, c = images.shape
        images = images.reshape(n, size, factor, size, factor, c).mean(axis=(2, 4)).round().astype(np.uint8)
    return Trainer(config, run_dir=run_dir, host=plain_host(), data=Pyramid(images))


def run_until(trainer: Trainer, stop_at: int | None = None):
    """``trainer.run`` that requests a stop (SIGINT) right after the step that reaches ``stop_at`` images."""

    def progress(t: Trainer, state) -> None:
        if stop_at is not None and t.images_shown >= stop_at:
            t.request_stop(2)

    return trainer.run(progress=progress)


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Every per-parameter state tensor of an optimizer, keyed by parameter index and name."""
    out = {}
    for index, entries in optimizer.state_dict()["state"].items():
        for key, value in entries.items():
            out[f"{index}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return out


def assert_tensors_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], what: str) -> None:
    assert a.keys() == b.keys(), f"{what}: different tensor names"
    different = [name for name in a if not torch.equal(a[name], b[name])]
    assert not different, f"{what}: tensors differ bitwise: {different[:5]}"


def assert_same_training_state(a: Trainer, b: Trainer) -> None:
    """G, D, G_ema, both optimizers (state and lr), images shown and the trainer RNG are bitwise equal."""
    assert a.images_shown == b.images_shown
    for name in ("G", "D", "G_ema"):
        assert_tensors_equal(getattr(a, name).state_dict(), getattr(b, name).state_dict(), name)
    for name in ("opt_G", "opt_D"):
        assert_tensors_equal(optimizer_tensors(getattr(a, name)), optimizer_tensors(getattr(b, name)), name)
        assert [g["lr"] for g in getattr(a, name).param_groups] == [g["lr"] for g in getattr(b, name).param_groups]
    assert torch.equal(a.rng.get_state(), b.rng.get_state())


def box_down(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Average of each factor×factor block, written as a reshape (independent of avg_pool2d)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // factor, factor, w // factor, factor).mean(dim=(3, 5))


def nearest_up(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Each pixel repeated into a factor×factor block (independent of F.interpolate)."""
    return x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def nf(stage: int, *, fmap_base: int, fmap_max: int, fmap_decay: float = 1.0) -> int:
    """The paper's channel formula, nf(stage) = min(fmap_base / 2^(stage·decay), fmap_max)."""
    return min(int(fmap_base / 2.0 ** (stage * fmap_decay)), fmap_max)


def paper_parameter_counts(resolution: int, *, latent: int, channels: int, fmap_base: int, fmap_max: int) -> tuple[int, int]:
    """G and D parameter counts from the paper's Table 2 layout (TF G_paper/D_paper), counted by hand."""
    levels = int(math.log2(resolution)) - 1  # resolutions 4 .. resolution
    f = lambda s: nf(s, fmap_base=fmap_base, fmap_max=fmap_max)  # noqa: E731
    conv = lambda cin, cout, k: cin * cout * k * k + cout  # noqa: E731
    g = latent * f(1) * 16 + f(1)  # dense as "Conv 4×4", one bias per channel
    g += conv(f(1), f(1), 3)
    for r in range(3, levels + 2):  # blocks at 2^r for r = 3 .. log2(resolution)
        g += conv(f(r - 2), f(r - 1), 3) + conv(f(r - 1), f(r - 1), 3)
    g += sum(conv(f(r - 1), channels, 1) for r in range(2, levels + 2))  # one toRGB per resolution
    d = sum(conv(channels, f(r - 1), 1) for r in range(2, levels + 2))  # one fromRGB per resolution
    for r in range(3, levels + 2):
        d += conv(f(r - 1), f(r - 1), 3) + conv(f(r - 1), f(r - 2), 3)
    d += conv(f(1) + 1, f(1), 3) + (f(1) * 16 * f(0) + f(0)) + (f(0) + 1)  # mbstd conv, dense0, dense1
    return g, d


def write_plugin(folder: Path, body: str, *, prefix: str = "plug") -> str:
    """A local plugin module in ``folder`` (which must be on sys.path); returns its unique module name."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    header = "from progan.hookspecs import hookimpl\n"
    (folder / f"{name}.py").write_text(header + textwrap.dedent(body))
    return name
