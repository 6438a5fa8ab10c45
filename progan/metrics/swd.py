"""Sliced Wasserstein Distance between Laplacian-pyramid patch descriptors, as in the ProGAN paper (§5).

Per pyramid level, each image gives 128 random 7×7×3 neighbourhoods (147-D descriptors); each set is
normalised per colour channel by its own statistics; the distance is the mean, over 4 × 128 random unit
directions, of the 1-D Wasserstein-1 distance between the sorted projections; figures are ×1e3.
"""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

NHOOD_SIZE = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
LOWPASS_SIZE = 16
BATCH_SIZE = 256


# -- pyramid ------------------------------------------------------------------------------------
def pyramid_sizes(size: int) -> list[int]:
    """Level sides, finest first, down to the 16×16 low-pass (64 → [64, 32, 16]); below 16 the image alone."""
    sizes = []
    while size >= LOWPASS_SIZE:
        sizes.append(size)
        size //= 2
    return sizes or [size]


_BINOMIAL = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)  # 1-D factor of the 5×5 kernel of cv2.pyrDown
# Zero-insertion then the 1-D kernel ×2 makes even outputs (x[i-1] + 6 x[i] + x[i+1]) / 8 and odd ones
# (x[i] + x[i+1]) / 2: two phases over the 3 samples x[i-1], x[i], x[i+1].
_UP_PHASES = ((1 / 8, 6 / 8, 1 / 8), (0.0, 1 / 2, 1 / 2))
_BLOCK = 32  # positions per matmul block: large enough for fast matmuls, small enough to stay O(pixels)


@functools.lru_cache(maxsize=None)
def _banded_kernel(phases: tuple[tuple[float, ...], ...], block: int, stride: int) -> torch.Tensor:
    """[stride*(block-1) + taps, block*phases]: column j*phases + p holds phase p's taps from row stride*j."""
    taps = torch.tensor(phases, dtype=torch.float64)  # [phases, taps]
    kernel = torch.zeros(stride * (block - 1) + taps.shape[1], block * len(phases), dtype=torch.float64)
    for j in range(block):
        kernel[stride * j : stride * j + taps.shape[1], j * len(phases) : (j + 1) * len(phases)] = taps.T
    return kernel


def _filter_last(x: torch.Tensor, phases: tuple[tuple[float, ...], ...], stride: int) -> torch.Tensor:
    """'Valid' filter of the last axis: each phase's taps at every ``stride``-th position, phases interleaved."""
    # A banded linear map run as small matmuls over blocks of positions: on CPU several times faster
    # than conv2d with one input channel, and still linear in the number of pixels.
    positions = (x.shape[-1] - len(phases[0])) // stride + 1
    block = max(b for b in range(1, min(positions, _BLOCK) + 1) if positions % b == 0)
    kernel = _banded_kernel(phases, block, stride).to(x)
    windows = x.unfold(-1, kernel.shape[0], stride * block)  # [..., positions/block, window], overlapping view
    return (windows.contiguous() @ kernel).flatten(-2)  # [..., positions*phases]; contiguous multiplies faster


def _separable(x: torch.Tensor, phases: tuple[tuple[float, ...], ...], stride: int) -> torch.Tensor:
    x = _filter_last(x, phases, stride)
    return _filter_last(x.transpose(-1, -2), phases, stride).transpose(-1, -2).contiguous()


def filter_2d(x: torch.Tensor, taps: Sequence[float], *, stride: int = 1) -> torch.Tensor:
    """'Valid' separable filter of [..., H, W] with ``taps`` on both axes, every ``stride``-th output."""
    return _separable(x, (tuple(float(t) for t in taps),), stride)


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """Binomial blur then every second pixel, like cv2.pyrDown: [N, C, H, W] → [N, C, H/2, W/2]."""
    # torch's 'reflect' is scipy's 'mirror': the edge sample is not repeated (… 2 1 | 0 1 2 …).
    return _separable(F.pad(x, (2, 2, 2, 2), mode="reflect"), (_BINOMIAL,), 2)


def pyr_up(x: torch.Tensor) -> torch.Tensor:
    """Zero-insert then blur with 4× the kernel, like cv2.pyrUp: [N, C, H, W] → [N, C, 2H, 2W]."""
    # Mirroring the zero-inserted image reflects x at the start (x[-1] = x[1]) but repeats its last
    # sample at the end (x[n] = x[n-1]), because the sample after x[n-1] is an inserted zero.
    x = torch.cat([x[..., 1:2, :], x, x[..., -1:, :]], dim=-2)  # [N, C, H+2, W]
    x = torch.cat([x[..., 1:2], x, x[..., -1:]], dim=-1)  # [N, C, H+2, W+2]
    return _separable(x, _UP_PHASES, 1)


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels of float [N, C, S, S] images, finest first; the last is the Gaussian low-pass."""
    pyramid = [images]
    for _ in range(1, levels):
        low = pyr_down(pyramid[-1])
        pyramid[-1] = pyramid[-1] - pyr_up(low)
        pyramid.append(low)
    return pyramid


# -- descriptors --------------------------------------------------------------------------------
def random_centres(count: int, size: int, *, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and columns [count] of 7×7 neighbourhood centres, uniform in [3, size-4] so the patch fits."""
    r = NHOOD_SIZE // 2
    ys = torch.randint(r, size - r, (count,), generator=generator, dtype=torch.int32)
    xs = torch.randint(r, size - r, (count,), generator=generator, dtype=torch.int32)
    return ys, xs


def extract_patches(level: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """The 7×7 neighbourhoods centred at (ys, xs), an equal number per image in order, as rows [len(ys), C*49]."""
    n, c = level.shape[:2]
    r = NHOOD_SIZE // 2
    images = torch.arange(n).repeat_interleave(len(ys) // n)
    windows = level.unfold(2, NHOOD_SIZE, 1).unfold(3, NHOOD_SIZE, 1)  # [N, C, S-6, S-6, 7, 7], a view
    patches = windows[images, :, ys.long() - r, xs.long() - r]  # [len(ys), C, 7, 7]
    return patches.reshape(len(ys), c * NHOOD_SIZE**2)


def as_float_images(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, S, S, C] as float [N, 3, S, S], grayscale tiled to three channels."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected uint8 images [N, H, W, 1 or 3], got {images.dtype} {images.shape}")
    if images.shape[1] != images.shape[2]:
        raise ValueError(f"expected square images, got {images.shape[1]}×{images.shape[2]}")
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()  # [N, C, S, S]
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class SWDDescriptors:
    """Collects the raw descriptors of up to ``capacity`` images batch by batch; ``finish`` normalises them."""

    def __init__(self, capacity: int, *, seed: int, nhoods_per_image: int = NHOODS_PER_IMAGE) -> None:
        self.capacity = capacity
        self.nhoods = nhoods_per_image
        self.sizes: list[int] = []
        self.count = 0
        self._generator = torch.Generator().manual_seed(seed)
        self._centres: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._levels: list[torch.Tensor] = []

    def add(self, images: np.ndarray) -> None:
        """Add the descriptors of one uint8 NHWC batch."""
        x = as_float_images(images)
        if not self._levels:
            self._allocate(x.shape[-1])
        elif x.shape[-1] != self.sizes[0]:
            raise ValueError(f"batch of {x.shape[-1]}×{x.shape[-1]} images after {self.sizes[0]}×{self.sizes[0]} ones")
        if self.count + len(x) > self.capacity:
            raise ValueError(f"more than the {self.capacity} images this collector was made for")
        rows = slice(self.count * self.nhoods, (self.count + len(x)) * self.nhoods)
        for store, (ys, xs), level in zip(self._levels, self._centres, laplacian_pyramid(x, len(self.sizes))):
            store[rows] = extract_patches(level, ys[rows], xs[rows])
        self.count += len(x)

    def _allocate(self, size: int) -> None:
        if size < NHOOD_SIZE:
            raise ValueError(f"SWD needs images of at least {NHOOD_SIZE}×{NHOOD_SIZE}, got {size}×{size}")
        self.sizes = pyramid_sizes(size)
        if any(side % 2 for side in self.sizes[:-1]):
            raise ValueError(f"SWD needs a side that halves evenly down to {LOWPASS_SIZE}, got {size}")
        rows = self.capacity * self.nhoods
        # Drawn up front so the descriptors do not depend on how the images are split into batches.
        self._centres = [random_centres(rows, side, generator=self._generator) for side in self.sizes]
        # Preallocated so the 2M × 147 floats per level are never held twice (pages are touched lazily).
        self._levels = [torch.empty(rows, 3 * NHOOD_SIZE**2) for _ in self.sizes]

    def finish(self) -> list[torch.Tensor]:
        """Per-level descriptors [count*128, 147], each channel normalised to zero mean and unit std."""
        if self.count == 0:
            raise ValueError("no images were added")
        levels = [store[: self.count * self.nhoods] for store in self._levels]
        for desc in levels:
            _normalise_(desc)
        self._levels, self._centres = [], []
        return levels


def _normalise_(desc: torch.Tensor) -> None:
    per_channel = desc.view(len(desc), 3, -1)  # [N, C, 49]
    var, mean = torch.var_mean(per_channel, dim=(0, 2), correction=0, keepdim=True)
    # A constant set (a collapsed generator) has std 0: keep its descriptors finite (all zero).
    per_channel.sub_(mean).div_(var.sqrt().clamp_min(1e-8))


def descriptors_for_swd(
    images: np.ndarray,
    *,
    seed: int,
    index: np.ndarray | None = None,
    nhoods_per_image: int = NHOODS_PER_IMAGE,
    batch_size: int = BATCH_SIZE,
) -> list[torch.Tensor]:
    """Normalised per-level descriptors of uint8 NHWC ``images`` (only the rows in ``index`` if given)."""
    index = np.arange(len(images)) if index is None else index
    collector = SWDDescriptors(len(index), seed=seed, nhoods_per_image=nhoods_per_image)
    for start in range(0, len(index), batch_size):
        collector.add(images[index[start : start + batch_size]])  # copies one batch, never the whole set
    return collector.finish()


# -- distance -----------------------------------------------------------------------------------
def sliced_wasserstein(
    desc_a: Sequence[torch.Tensor],
    desc_b: Sequence[torch.Tensor],
    *,
    seed: int,
    dir_repeats: int = DIR_REPEATS,
    dirs_per_repeat: int = DIRS_PER_REPEAT,
) -> list[float]:
    """Per-level SWD (not yet ×1e3) between two descriptor sets; the larger set is cut to the smaller's size."""
    if len(desc_a) != len(desc_b):
        raise ValueError(f"{len(desc_a)} pyramid levels against {len(desc_b)}")
    generator = torch.Generator().manual_seed(seed)
    return [_level_distance(a, b, generator, dir_repeats, dirs_per_repeat) for a, b in zip(desc_a, desc_b)]


def _level_distance(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator, repeats: int, dirs: int) -> float:
    # Sorted projections are only comparable index by index when both sets have the same size.
    count = min(len(a), len(b))
    a, b = a[:count], b[:count]
    distances = []
    for _ in range(repeats):
        directions = torch.randn(a.shape[1], dirs, generator=generator, dtype=torch.float64)
        directions = (directions / directions.norm(dim=0, keepdim=True)).float()  # [147, dirs] unit columns
        projected_a = _sorted_projections(a, directions)
        projected_b = _sorted_projections(b, directions)
        distances.append(projected_a.sub_(projected_b).abs_().sum(dtype=torch.float64).item() / projected_a.numel())
    return float(np.mean(distances))


def _sorted_projections(desc: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """[dirs, N]: each row the projections on one direction, sorted ascending."""
    projected = torch.mm(directions.T, desc.T)  # [dirs, N], rows contiguous for the sort
    if projected.device.type != "cpu":
        return projected.sort(dim=1).values
    # numpy's SIMD sort is several times faster than torch.sort on CPU and releases the GIL.
    rows = projected.numpy()
    workers = max(1, torch.get_num_threads())
    bounds = np.linspace(0, len(rows), workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda lo, hi: rows[lo:hi].sort(axis=1), bounds[:-1], bounds[1:]))
    return projected


# -- figures ------------------------------------------------------------------------------------
def derive_seed(seed: int, stream: int) -> int:
    """An independent seed for one random stream (real patches, fake patches, directions) of ``seed``."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def swd_figures(
    desc_a: Sequence[torch.Tensor],
    desc_b: Sequence[torch.Tensor],
    sizes: Sequence[int],
    *,
    seed: int,
    prefix: str = "swd",
    dir_repeats: int = DIR_REPEATS,
    dirs_per_repeat: int = DIRS_PER_REPEAT,
) -> dict[str, float]:
    """``{prefix}_avg`` then ``{prefix}_<side>`` per level, ×1e3 as in the paper."""
    distances = sliced_wasserstein(desc_a, desc_b, seed=seed, dir_repeats=dir_repeats, dirs_per_repeat=dirs_per_repeat)
    per_level = {f"{prefix}_{side}": 1e3 * d for side, d in zip(sizes, distances)}
    return {f"{prefix}_avg": float(np.mean(list(per_level.values()))), **per_level}


def swd(reals: np.ndarray, fakes: np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """Paper SWD×1e3 between two uint8 NHWC sets: ``swd_avg`` then ``swd_<side>`` per level."""
    real = descriptors_for_swd(reals, seed=derive_seed(seed, 0))
    fake = descriptors_for_swd(fakes, seed=derive_seed(seed, 1))
    return swd_figures(real, fake, pyramid_sizes(reals.shape[1]), seed=derive_seed(seed, 2))


def swd_floor(
    reals: np.ndarray,
    *,
    seed: int = 0,
    index: np.ndarray | None = None,
    nhoods_per_image: int = NHOODS_PER_IMAGE,
    dir_repeats: int = DIR_REPEATS,
    dirs_per_repeat: int = DIRS_PER_REPEAT,
) -> dict[str, float]:
    """Real-vs-real noise floor: SWD×1e3 between two disjoint random halves of ``reals[index]`` (``swd_floor_*``)."""
    index = np.arange(len(reals)) if index is None else index
    order = np.random.default_rng(derive_seed(seed, 3)).permutation(index)
    half = len(order) // 2
    first, second = (
        descriptors_for_swd(reals, seed=derive_seed(seed, stream), index=np.sort(part), nhoods_per_image=nhoods_per_image)
        for stream, part in ((0, order[:half]), (1, order[half : 2 * half]))
    )
    return swd_figures(
        first, second, pyramid_sizes(reals.shape[1]), seed=derive_seed(seed, 2), prefix="swd_floor",
        dir_repeats=dir_repeats, dirs_per_repeat=dirs_per_repeat,
    )
