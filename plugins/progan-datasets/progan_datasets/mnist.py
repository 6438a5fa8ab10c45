"""MNIST, Fashion-MNIST and EMNIST: finding a split's idx files and shaping their images.

The factories ignore ``resolution``: they return the images as stored (28×28 padded to 32×32)
and the core fits them to the training resolution.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from progan.data import ImageSet
from progan.errors import ConfigError, DataError
from progan_datasets.arguments import parse_argument
from progan_datasets.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

# "<set prefix><train|t10k|test>-images-idx3-ubyte[.gz]"; some mirrors write "-images.idx3-ubyte".
_IMAGES_NAME = re.compile(r"(?P<set>.*?)(?P<split>train|t10k|test)-images[-.]idx3-ubyte(?P<gz>\.gz)?")
# The file-name spellings of each split: MNIST and Fashion-MNIST say "t10k", EMNIST says "test".
_SPLIT_NAMES = {"train": ("train",), "test": ("t10k", "test")}


def labels_path(images: Path) -> Path | None:
    """The labels file named like ``images`` beside it, plain or .gz, or None when there is none."""
    name = images.name.removesuffix(".gz")
    stem = name.replace("-images", "-labels").replace("idx3-ubyte", "idx1-ubyte")
    if stem == name:
        return None
    return next((p for p in (images.with_name(stem), images.with_name(stem + ".gz")) if p.is_file()), None)


def find_sets(directory: Path) -> dict[str, dict[str, Path]]:
    """The idx images files in ``directory`` as {set prefix: {split as spelt in the name: path}}."""
    sets: dict[str, dict[str, Path]] = {}
    for path in sorted(directory.iterdir()):
        match = _IMAGES_NAME.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        splits = sets.setdefault(match["set"], {})
        # With both a plain file and its .gz present, take the plain one: same data, no decompression.
        if match["split"] not in splits or not match["gz"]:
            splits[match["split"]] = path
    return sets


def locate(path: Path, split: str | None, *, dataset: str) -> list[tuple[Path, Path | None]]:
    """The (images, labels) files to read: one split of a directory (or DIR/PREFIX), or one images file."""
    if path.is_file():
        if split is not None:
            raise ConfigError(f"data: {dataset}: {path} is a file; a ':{split}' selector needs a directory, drop it")
        return [(path, labels_path(path))]
    directory, prefix = (path, "") if path.is_dir() else (path.parent, path.name)
    if not directory.is_dir():
        raise DataError(f"{path}: no such directory; point {dataset} at the folder holding train-images-idx3-ubyte.gz and its labels")
    sets = {name: files for name, files in find_sets(directory).items() if name.startswith(prefix)}
    exact = {name: files for name, files in sets.items() if name.rstrip("-_.") == prefix.rstrip("-_.")}
    sets = exact or sets
    if not sets:
        raise DataError(
            f"{path}: no idx images files found (expected names like {prefix}train-images-idx3-ubyte.gz); "
            f"point {dataset} at the extracted dataset folder or at an images file"
        )
    if len(sets) > 1:
        choices = ", ".join(str(directory / name.rstrip("-_.")) for name in sets)
        raise DataError(f"{directory}: holds several sets; name one with its file prefix: {choices}")
    name, files = next(iter(sets.items()))
    pairs: list[tuple[Path, Path | None]] = []
    for part in ("train", "test") if split == "all" else (split or "train",):
        images = next((files[spelling] for spelling in _SPLIT_NAMES[part] if spelling in files), None)
        if images is None:
            raise DataError(
                f"{directory}: no {part} images file {name}{_SPLIT_NAMES[part][0]}-images-idx3-ubyte[.gz]; "
                f"add it or choose another split ({', '.join(sorted(files))} present)"
            )
        labels = labels_path(images)
        if labels is None:
            raise DataError(f"{images}: no labels file beside it; add it, or pass the images file itself to load it unlabelled")
        pairs.append((images, labels))
    return pairs


def read_pair(images_file: Path, labels_file: Path | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Images [N, rows, cols] and their int64 labels [N] (None without a labels file), counts checked."""
    images = read_idx(images_file, magic=IMAGES_MAGIC)
    if labels_file is None:
        return images, None
    labels = read_idx(labels_file, magic=LABELS_MAGIC)
    if len(labels) != len(images):
        raise DataError(
            f"{labels_file}: {len(labels)} labels for the {len(images)} images of {images_file}; "
            f"the two files come from different sets, replace one"
        )
    return images, labels.astype(np.int64)


def pad_to_power_of_two(images: np.ndarray) -> np.ndarray:
    """[N, H, W] images zero-padded, centred, to the next power-of-two square (28×28 -> 32×32)."""
    n, h, w = images.shape
    side = 1 << (max(h, w) - 1).bit_length()
    if h == w == side:
        return images
    top, left = (side - h) // 2, (side - w) // 2
    padded = np.zeros((n, side, side), np.uint8)
    padded[:, top : top + h, left : left + w] = images
    return padded


def load(dataset: str, argument: str, *, transposed: bool) -> ImageSet:
    """The ImageSet ``dataset:argument`` names; ``transposed`` files store each image column by column."""
    path, split = parse_argument(argument, dataset=dataset)
    parts = [read_pair(images, labels) for images, labels in locate(path, split, dataset=dataset)]
    if len({images.shape[1:] for images, _ in parts}) > 1:
        raise DataError(f"{dataset}:{argument}: the train and test images differ in size; the files come from different sets")
    images = np.concatenate([images for images, _ in parts])
    labels = None if parts[0][1] is None else np.concatenate([labels for _, labels in parts])
    if transposed:
        images = images.transpose(0, 2, 1)
    # The official ProGAN dataset_tool pads MNIST the same way, so it trains at a power-of-two size.
    images = np.ascontiguousarray(pad_to_power_of_two(images))[..., None]
    return ImageSet(images, labels, f"{dataset}:{argument}")


def mnist(argument: str, *, resolution: int) -> ImageSet:
    """``mnist:DIR[:train|test|all]`` or ``mnist:IMAGES_FILE`` — MNIST handwritten digits."""
    return load("mnist", argument, transposed=False)


def fashion_mnist(argument: str, *, resolution: int) -> ImageSet:
    """``fashion-mnist:DIR[:train|test|all]`` or ``fashion-mnist:IMAGES_FILE`` — Zalando's garment images."""
    return load("fashion-mnist", argument, transposed=False)


def emnist(argument: str, *, resolution: int) -> ImageSet:
    """``emnist:DIR[/PREFIX][:train|test|all]`` or ``emnist:IMAGES_FILE`` — EMNIST characters, stored transposed."""
    return load("emnist", argument, transposed=True)
