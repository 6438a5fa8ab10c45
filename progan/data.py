"""Real images: loading, fitting to the target size, the uint8 pyramid and the batch stream."""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from progan.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass(frozen=True)
class ImageSet:
    """What a dataset factory returns: uint8 images [N, H, W, C] (C is 1 or 3) and optional labels [N]."""

    images: np.ndarray
    labels: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] not in (1, 3):
            raise DataError(
                f"{self.source or 'dataset'}: expected uint8 images [N, H, W, 1 or 3], "
                f"got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if len(self.images) == 0:
            raise DataError(f"{self.source or 'dataset'}: holds no images; point --data at a folder or file with images")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise DataError(f"{self.source}: {len(self.labels)} labels for {len(self.images)} images")


# -- reading files ---------------------------------------------------------------------------------


def read_path(path: str | os.PathLike, *, strict: bool = False) -> ImageSet:
    """A folder of image files (recursive) or a .npz/.npy of uint8 images, NHWC or NCHW."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; give --data a folder of images, a .npz/.npy file or a dataset name")
    if path.is_dir():
        return _read_folder(path, strict=strict)
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                key = "images" if "images" in archive.files else archive.files[0] if archive.files else None
                if key is None:
                    raise DataError(f"{path}: the .npz holds no arrays")
                images = archive[key]
                labels = archive["labels"] if "labels" in archive.files else None
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: not a readable .npz without pickled objects ({exc})") from exc
        return ImageSet(_to_nhwc(images, path), None if labels is None else np.asarray(labels).astype(np.int64), str(path))
    if path.suffix == ".npy":
        try:
            images = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: not a readable .npy without pickled objects ({exc})") from exc
        return ImageSet(_to_nhwc(images, path), None, str(path))
    if path.suffix.lower() in IMAGE_SUFFIXES:
        try:
            image = _read_image(path)
        except Exception as exc:  # Pillow raises many types for broken files
            raise DataError(f"{path}: unreadable image ({type(exc).__name__}: {exc}); replace the file or point --data at a folder") from None
        return ImageSet(np.stack([image]), None, str(path))
    raise DataError(f"{path}: unsupported file type {path.suffix!r}; use a folder of images or a .npz/.npy of uint8 images")


def _to_nhwc(images: np.ndarray, path: Path) -> np.ndarray:
    if images.dtype != np.uint8:
        raise DataError(f"{path}: images must be uint8, got {images.dtype}; convert with (x*255).round().astype('uint8')")
    if images.ndim == 3:  # [N, H, W] grayscale
        images = images[..., None]
    if images.ndim != 4:
        raise DataError(f"{path}: expected images [N, H, W, C] or [N, C, H, W], got shape {images.shape}")
    if images.shape[-1] not in (1, 3) and images.shape[1] in (1, 3):
        images = images.transpose(0, 2, 3, 1)  # [N, C, H, W] -> [N, H, W, C]
    if images.shape[-1] not in (1, 3):
        raise DataError(f"{path}: images need 1 or 3 channels, got shape {images.shape}")
    return np.ascontiguousarray(images)


def _read_image(path: Path) -> np.ndarray:
    """One image file as uint8 [H, W, 1 or 3]; grayscale stays grayscale, everything else becomes RGB."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        if image.mode in ("1", "L", "I;16", "I;16B", "I;16L", "I", "F"):
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image, dtype=np.float64)
                array = np.round(array / (65535.0 if array.max() > 255 else 255.0) * 255.0)
                return np.clip(array, 0, 255).astype(np.uint8)[..., None]
            return np.asarray(image.convert("L"))[..., None]
        if image.mode in ("LA", "RGBA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # transparent -> white
            rgb = Image.alpha_composite(background, rgba).convert("RGB")
            if image.mode == "LA":  # grayscale with alpha stays grayscale (R = G = B, so L is exact)
                return np.asarray(rgb.convert("L"))[..., None]
            return np.asarray(rgb)
        return np.asarray(image.convert("RGB"))


def _read_folder(folder: Path, *, strict: bool) -> ImageSet:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no PNG/JPEG/WebP images found (searched recursively); add images or fix the path")
    images, bad = [], []
    for file in files:
        try:
            images.append(_read_image(file))
        except Exception as exc:  # Pillow raises many types for broken files
            if strict:
                raise DataError(f"{file}: unreadable image ({type(exc).__name__}: {exc}); remove it or drop --strict") from exc
            bad.append(file)
    if bad:
        warnings.warn(f"{folder}: skipped {len(bad)} unreadable image(s), e.g. {bad[0]}; --strict refuses them instead", stacklevel=2)
    if not images:
        raise DataError(f"{folder}: none of the {len(files)} image files could be read")
    sizes = {im.shape[:2] for im in images}
    channels = 3 if any(im.shape[-1] == 3 for im in images) else 1
    images = [np.repeat(im, 3, axis=-1) if im.shape[-1] != channels else im for im in images]
    if len(sizes) > 1:  # fit each to the smallest common square so that they stack
        side = min(min(s) for s in sizes)
        images = [fit_array(im[None], side)[0] for im in images]
    return ImageSet(np.stack(images), None, str(folder))


# -- fitting to the target --------------------------------------------------------------------------


def fit_array(images: np.ndarray, resolution: int) -> np.ndarray:
    """Centre-crop to square and resize to ``resolution`` with a Lanczos filter (uint8 NHWC in and out)."""
    n, h, w, c = images.shape
    if h == w == resolution:
        return images
    from PIL import Image

    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    out = np.empty((n, resolution, resolution, c), np.uint8)
    for i in range(n):
        crop = images[i, top : top + side, left : left + side]
        image = Image.fromarray(crop[..., 0] if c == 1 else crop)
        resized = image.resize((resolution, resolution), Image.LANCZOS)
        out[i] = np.asarray(resized).reshape(resolution, resolution, c)
    return out


def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Grayscale to RGB by repetition, RGB to grayscale by ITU-R 601 luma."""
    if images.shape[-1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(np.round(luma), 0, 255).astype(np.uint8)[..., None]


class Pyramid:
    """A uint8 image set held at every resolution from the target down to 4×4 (2×2 box filter).

    Lower levels are averaged in float from the level above and rounded once per level, as the
    official dataset tool does, so a batch at any stage is a plain index.
    """

    def __init__(self, images: np.ndarray, *, labels: np.ndarray | None = None, min_resolution: int = 4) -> None:
        n, h, w, _ = images.shape
        if h != w or h & (h - 1):
            raise DataError(f"pyramid needs square power-of-two images, got {h}×{w}")
        self.labels = None if labels is None else torch.from_numpy(np.asarray(labels, np.int64))
        top = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))  # [N, C, H, W]
        self.levels: dict[int, torch.Tensor] = {h: top}
        current = top.float()
        while current.shape[-1] > min_resolution:
            current = F.avg_pool2d(current, 2)
            self.levels[current.shape[-1]] = current.round().clamp(0, 255).to(torch.uint8)

    def __len__(self) -> int:
        return len(next(iter(self.levels.values())))

    @property
    def channels(self) -> int:
        return next(iter(self.levels.values())).shape[1]

    def batch(self, indices: torch.Tensor, resolution: int) -> torch.Tensor:
        """uint8 images [B, C, r, r] at ``resolution``."""
        return self.levels[resolution].index_select(0, indices)

    def nhwc(self, resolution: int) -> np.ndarray:
        """All images at ``resolution`` as uint8 [N, r, r, C] on the CPU (what the metrics take)."""
        return self.levels[resolution].permute(0, 2, 3, 1).contiguous().cpu().numpy()


def prepare(image_set: ImageSet, *, resolution: int, channels: int | None) -> Pyramid:
    """Fit an ImageSet to the training resolution and channel count and build its pyramid."""
    images = image_set.images
    n, h, w, _ = images.shape
    if min(h, w) < resolution:
        warnings.warn(
            f"{image_set.source}: images are {h}×{w}, smaller than the target {resolution}; they are upscaled "
            f"(train at --resolution {2 ** int(math.log2(min(h, w)))} to avoid blur)",
            stacklevel=2,
        )
    images = fit_array(convert_channels(images, channels or images.shape[-1]), resolution)
    return Pyramid(images, labels=image_set.labels)


# -- the batch stream ----------------------------------------------------------------------------


class IndexStream:
    """An endless stream of per-epoch shuffles of ``range(size)``.

    Position ``p`` of the stream is a pure function of (seed, p), so resuming needs only the
    count of images drawn so far; the current epoch's permutation is cached.
    """

    def __init__(self, size: int, *, seed: int) -> None:
        self.size, self.seed = size, seed
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def take(self, position: int, count: int) -> torch.Tensor:
        """Indices at stream positions ``position .. position+count``."""
        parts = []
        while count > 0:
            epoch, offset = divmod(position, self.size)
            if epoch != self._epoch:
                rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._epoch, self._perm = epoch, torch.randperm(self.size, generator=rng)
            step = min(count, self.size - offset)
            parts.append(self._perm[offset : offset + step])
            position, count = position + step, count - step
        return parts[0] if len(parts) == 1 else torch.cat(parts)
