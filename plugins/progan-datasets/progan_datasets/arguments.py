"""The ``PATH[:SPLIT]`` argument that every dataset of this package takes."""
from __future__ import annotations

from pathlib import Path

from progan.errors import ConfigError

# Selector -> canonical split; MNIST names its test files "t10k", so that spelling is accepted too.
SPLITS = {"train": "train", "test": "test", "t10k": "test", "all": "all"}


def parse_argument(argument: str, *, dataset: str) -> tuple[Path, str | None]:
    """The path and the split selector (None when none was given) of ``argument``."""
    example = f"{dataset}:/data/{dataset}:train"
    if not argument:
        raise ConfigError(f"data: '{dataset}' needs a directory or an images file, e.g. {example}")
    head, sep, tail = argument.rpartition(":")
    if sep and tail in SPLITS:
        if not head:
            raise ConfigError(f"data: '{dataset}:{argument}' names a split but no directory, e.g. {example}")
        return Path(head).expanduser(), SPLITS[tail]
    # "DIR:tset" would otherwise surface as "no such directory DIR:tset", hiding the typo.
    if sep and head and Path(head).expanduser().exists() and not Path(argument).expanduser().exists():
        raise ConfigError(f"data: '{dataset}:{argument}' has unknown split {tail!r}; use train, test (or t10k) or all")
    return Path(argument).expanduser(), None
