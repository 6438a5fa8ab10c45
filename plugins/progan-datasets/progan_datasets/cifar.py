"""CIFAR-10 and CIFAR-100 from their "binary version" files: fixed-length records, no pickle.

Each record is the label byte(s) then 3072 pixel bytes: the red, green and blue 32×32 planes,
rows top to bottom.  The factories ignore ``resolution``: the core fits the 32×32 images to it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from progan.data import ImageSet
from progan.errors import DataError
from progan_datasets.arguments import parse_argument

SIDE = 32
PIXEL_BYTES = 3 * SIDE * SIDE


@dataclass(frozen=True)
class Layout:
    """Where one CIFAR variant keeps its records and how a record's label bytes read."""

    name: str
    archive: str  # the official download, named in error messages
    folder: str  # the folder the archive extracts to
    files: dict[str, tuple[str, ...]]  # split -> record files, in order
    label_bytes: int
    label_index: int  # which label byte is the label kept
    classes: int

    @property
    def record(self) -> int:
        """Bytes per record: the label bytes and the three colour planes."""
        return self.label_bytes + PIXEL_BYTES


CIFAR10 = Layout(
    name="CIFAR-10",
    archive="cifar-10-binary.tar.gz",
    folder="cifar-10-batches-bin",
    files={"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)},
    label_bytes=1,
    label_index=0,
    classes=10,
)
CIFAR100 = Layout(
    name="CIFAR-100",
    archive="cifar-100-binary.tar.gz",
    folder="cifar-100-binary",
    files={"train": ("train.bin",), "test": ("test.bin",)},
    label_bytes=2,  # coarse (20 superclasses), then fine (100 classes)
    label_index=1,
    classes=100,
)


def read_records(path: Path, *, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 32, 32, 3] and int64 labels [N] of one record file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: missing; extract {layout.archive} and point at its {layout.folder} folder") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); check its permissions") from exc
    if not raw or len(raw) % layout.record:
        raise DataError(
            f"{path}: {len(raw)} bytes is not a whole number of {layout.record}-byte {layout.name} records; "
            f"the file is truncated or from another dataset, extract {layout.archive} again"
        )
    records = np.frombuffer(raw, np.uint8).reshape(-1, layout.record)
    labels = records[:, layout.label_index].astype(np.int64)
    if labels.max() >= layout.classes:
        index = int(np.argmax(labels >= layout.classes))
        raise DataError(
            f"{path}: record {index} has label {labels[index]}, outside 0–{layout.classes - 1}; "
            f"not a {layout.name} binary file"
        )
    planes = records[:, layout.label_bytes :].reshape(-1, 3, SIDE, SIDE)
    return np.ascontiguousarray(planes.transpose(0, 2, 3, 1)), labels  # planes -> [N, H, W, RGB]


def load(argument: str, *, dataset: str, layout: Layout) -> ImageSet:
    """The ImageSet ``dataset:argument`` names: a split of the extracted binary-version folder."""
    path, split = parse_argument(argument, dataset=dataset)
    if path.is_dir() and (path / layout.folder).is_dir():  # the folder the archive was extracted in
        path = path / layout.folder
    if not path.is_dir():
        kind = "a file, not a directory" if path.exists() else "no such directory"
        raise DataError(f"{path}: {kind}; extract {layout.archive} and point {dataset} at its {layout.folder} folder")
    parts = ("train", "test") if split == "all" else (split or "train",)
    pieces = [read_records(path / name, layout=layout) for part in parts for name in layout.files[part]]
    images = np.concatenate([images for images, _ in pieces])
    labels = np.concatenate([labels for _, labels in pieces])
    return ImageSet(images, labels, f"{dataset}:{argument}")


def cifar10(argument: str, *, resolution: int) -> ImageSet:
    """``cifar10:DIR[:train|test|all]`` — CIFAR-10 (50,000 train, 10,000 test, labels 0–9)."""
    return load(argument, dataset="cifar10", layout=CIFAR10)


def cifar100(argument: str, *, resolution: int) -> ImageSet:
    """``cifar100:DIR[:train|test|all]`` — CIFAR-100 (50,000 train, 10,000 test, fine labels 0–99)."""
    return load(argument, dataset="cifar100", layout=CIFAR100)
