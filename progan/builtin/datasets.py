"""Built-in datasets: ``shapes`` (embedded, no files) and ``files`` (a folder, .npz or .npy)."""
from __future__ import annotations

from progan.data import ImageSet, read_path
from progan.errors import ConfigError
from progan.hookspecs import hookimpl
from progan.shapes import make_shapes


def shapes(argument: str, *, resolution: int) -> ImageSet:
    """``shapes`` or ``shapes:COUNT`` — the embedded coloured-shapes set (default 4096 images), drawn at the target size."""
    try:
        count = int(argument) if argument else 4096
    except ValueError:
        raise ConfigError(f"data: 'shapes:{argument}' needs an image count, e.g. shapes:4096") from None
    if count < 1:
        raise ConfigError(f"data: 'shapes:{argument}' needs a positive image count")
    return make_shapes(count, resolution=resolution)


def files(argument: str, *, resolution: int) -> ImageSet:
    """``files:PATH`` (or a bare path) — a folder of images, or a .npz/.npy of uint8 images."""
    return read_path(argument)


@hookimpl
def progan_register_datasets(register) -> None:
    register("shapes", shapes)
    register("files", files)
