"""Sliced Wasserstein Distance between Laplacian-pyramid patch descriptors, as in the ProGAN paper (§5).

Per pyramid level, each image gives 128 random 7×7×3 neighbourhoods (147-D descriptors); each set is
normalised per colour channel by its own statistics; the distance is the mean, over 4 × 128 random unit
directions, of the 1-D Wasserstein-1 distance between the sorted projections; figures are ×1e3.

Memory: the paper's 16384 images give 2M descriptors of 147 float32 per level and set, 1.2 GB each,
so 64×64 images (3 levels) need about 7.4 GB for reals and fakes together, plus 1 GB of projections.
"""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
import torch

NHOOD_SIZE = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
DIRS_PER_CHUNK = 64  # directions projected at a time (memory: 2 × 64 × descriptors floats); 32 makes the
# projection matmul half as fast, more gain little
LOWPASS_SIZE = 16
PIXELS_PER_BATCH = 2**20  # images × pixels per descriptor batch: 256 at 64×64; smaller batches run slower


def derive_seed(seed: int, stream: int) -> int:
    """An independent seed for one random stream of ``seed`` (real patches, fake patches, directions, …)."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def batch_size_for(size: int) -> int:
    """How many size×size images to describe at once: fast, and a pyramid level stays near 12 MB."""
    return max(1, PIXELS_PER_BATCH // (size * size))


# -- pyramid ------------------------------------------------------------------------------------
def pyramid_sizes(size: int) -> list[int]:
    """Level sides, finest first, down to the 16×16 low-pass (64 → [64, 32, 16]); below 16 the image alone."""
    sizes = []
    while size >= LOWPASS_SIZE:
        sizes.append(size)
        size //= 2
    return sizes or [size]


_BINOMIAL = ((1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16),)  # 1-D factor of the 5×5 kernel of cv2.pyrDown
# Zero-insertion then the 1-D kernel ×2 makes even outputs (x[i-1] + 6 x[i] + x[i+1]) / 8 and odd ones
# (x[i] + x[i+1]) / 2: two interleaved phases over the 3 samples x[i-1], x[i], x[i+1].
_UP_PHASES = ((1 / 8, 6 / 8, 1 / 8), (0.0, 1 / 2, 1 / 2))
_DENSE_MAX = 128  # up to this side a whole-axis matrix is fastest; beyond, blocks keep the work O(pixels)
_BLOCK = 32  # positions per matmul block on larger axes

Phases = tuple[tuple[float, ...], ...]


def _mirror(i: int, n: int) -> int:
    """scipy mode='mirror': reflect about the edge samples without repeating them (… 2 1 | 0 1 2 …)."""
    return -i if i < 0 else 2 * (n - 1) - i if i >= n else i


def _padded_index(padding: str, n: int) -> list[int]:
    """Which sample of a length-n axis each padded position reads."""
    if padding == "mirror":
        return [_mirror(i, n) for i in range(-2, n + 2)]
    if padding == "up":
        # Mirroring the zero-inserted signal reflects x at the start (x[-1] = x[1]) but repeats its
        # last sample at the end (x[n] = x[n-1]), because the sample after x[n-1] is an inserted zero.
        return [1, *range(n), n - 1]
    return list(range(n))  # 'valid'


@functools.lru_cache(maxsize=None)
def _axis_matrix(padding: str, phases: Phases, stride: int, n: int) -> torch.Tensor:
    """[n, outputs]: the whole 1-D map as a matrix, so that ``x @ M`` filters the last axis."""
    index = _padded_index(padding, n)
    positions = (len(index) - len(phases[0])) // stride + 1
    matrix = torch.zeros(n, positions * len(phases), dtype=torch.float64)
    for j in range(positions):
        for p, taps in enumerate(phases):
            for k, tap in enumerate(taps):
                matrix[index[stride * j + k], j * len(phases) + p] += tap
    return matrix


@functools.lru_cache(maxsize=None)
def _block_kernel(phases: Phases, block: int, stride: int) -> torch.Tensor:
    """[stride*(block-1) + taps, block*phases]: column j*phases + p holds phase p's taps from row stride*j."""
    taps = torch.tensor(phases, dtype=torch.float64)  # [phases, taps]
    kernel = torch.zeros(stride * (block - 1) + taps.shape[1], block * len(phases), dtype=torch.float64)
    for j in range(block):
        kernel[stride * j : stride * j + taps.shape[1], j * len(phases) : (j + 1) * len(phases)] = taps.T
    return kernel


def _blocked_last(x: torch.Tensor, padding: str, phases: Phases, stride: int) -> torch.Tensor:
    """The same map as ``x @ _axis_matrix(...)``, as small matmuls over blocks of positions."""
    x = x.index_select(-1, torch.tensor(_padded_index(padding, x.shape[-1]), device=x.device))
    positions = (x.shape[-1] - len(phases[0])) // stride + 1
    block = max(b for b in range(1, min(positions, _BLOCK) + 1) if positions % b == 0)
    kernel = _block_kernel(phases, block, stride).to(x)
    windows = x.unfold(-1, kernel.shape[0], stride * block)  # [..., positions/block, window], overlapping view
    return (windows.contiguous() @ kernel).flatten(-2)  # [..., positions*phases]; contiguous multiplies faster


def _separable(x: torch.Tensor, padding: str, phases: Phases, stride: int) -> torch.Tensor:
    """The 1-D map on both image axes of [..., H, W]."""
    h, w = x.shape[-2:]
    # Matmuls instead of conv2d: several times faster on CPU with one channel per image.
    if max(h, w) <= _DENSE_MAX:
        rows, cols = (_axis_matrix(padding, phases, stride, n).to(x) for n in (h, w))
        return rows.T @ x @ cols
    x = _blocked_last(x, padding, phases, stride)
    return _blocked_last(x.transpose(-1, -2), padding, phases, stride).transpose(-1, -2).contiguous()


def filter_2d(x: torch.Tensor, taps: Sequence[float], *, stride: int = 1) -> torch.Tensor:
    """'Valid' separable filter of [..., H, W] with ``taps`` on both axes, every ``stride``-th output."""
    return _separable(x, "valid", (tuple(float(t) for t in taps),), stride)


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """Binomial blur (mirror edges) then every second pixel, like cv2.pyrDown: [N, C, H, W] → [N, C, H/2, W/2]."""
    return _separable(x, "mirror", _BINOMIAL, 2)


def pyr_up(x: torch.Tensor) -> torch.Tensor:
    """Zero-insert then blur with 4× the kernel (mirror edges), like cv2.pyrUp: [N, C, H, W] → [N, C, 2H, 2W]."""
    return _separable(x, "up", _UP_PHASES, 1)


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels of float [N, C, S, S] images, finest first; the last is the Gaussian low-pass."""
    pyramid = [images]
    for _ in range(1, levels):
        low = pyr_down(pyramid[-1])
        pyramid[-1] = pyramid[-1] - pyr_up(low)
        pyramid.append(low)
    return pyramid


# -- descriptors --------------------------------------------------------------------------------
def random_centres(count: int, size: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and columns [count] of 7×7 neighbourhood centres, uniform in [3, size-4] so the patch fits."""
    r = NHOOD_SIZE // 2
    generator = torch.Generator().manual_seed(seed)
    # Drawn as (row, column) pairs, so the first k centres are the same whatever ``count`` is.
    centres = torch.randint(r, size - r, (count, 2), generator=generator, dtype=torch.int32)  # [count, (y, x)]
    return centres[:, 0], centres[:, 1]


def extract_patches(level: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """The 7×7 neighbourhoods centred at (ys, xs), an equal number per image, as (y, x, c) rows [len(ys), 49*C].

    ``out`` (contiguous [len(ys), 49*C]) receives them directly: no temporary of the patches' size.
    """
    # SWD does not depend on the order of a descriptor's components; channels last gathers fastest.
    n, c, h, w = level.shape
    r = NHOOD_SIZE // 2
    # Channels last, a neighbourhood is 7 runs of 7*C contiguous floats; viewed with a stride of one
    # pixel, every pixel starts a run (those that would run past a row's end are never picked), so
    # one row gather over that 2-D view copies all 7 runs of every patch.
    pixels = level.permute(0, 2, 3, 1).contiguous()  # [N, H, W, C]
    runs = pixels.as_strided((n * h * w - NHOOD_SIZE + 1, NHOOD_SIZE * c), (c, 1))  # [pixel, 7*C], a view
    images = torch.arange(n).repeat_interleave(len(ys) // n)
    first_pixel = (images * h + ys.long() - r) * w + xs.long() - r  # [P]: top-left pixel of each patch
    starts = (first_pixel[:, None] + w * torch.arange(NHOOD_SIZE)).reshape(-1)  # [P*7]: its 7 runs, top to bottom
    if out is None:
        out = torch.empty(len(ys), NHOOD_SIZE * NHOOD_SIZE * c)
    torch.index_select(runs, 0, starts, out=out.view(len(ys) * NHOOD_SIZE, NHOOD_SIZE * c))
    return out


def as_float_images(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, S, S, C] as float [N, 3, S, S], grayscale tiled to three channels."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected uint8 images [N, H, W, 1 or 3], got {images.dtype} {images.shape}")
    if images.shape[1] != images.shape[2]:
        raise ValueError(f"expected square images, got {images.shape[1]}×{images.shape[2]}")
    x = torch.from_numpy(np.ascontiguousarray(images)).float().permute(0, 3, 1, 2).contiguous()  # [N, C, S, S]
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # converting before permuting is ~10× faster


class SWDDescriptors:
    """Collects the raw descriptors of up to ``capacity`` images batch by batch; ``finish`` normalises them."""

    def __init__(self, capacity: int, *, seed: int, nhoods_per_image: int = NHOODS_PER_IMAGE) -> None:
        self.capacity = capacity
        self.nhoods = nhoods_per_image
        self.sizes: list[int] = []
        self.count = 0
        self.seed = seed
        self._centres: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._levels: list[torch.Tensor] = []
        self._sums: list[torch.Tensor] = []  # per level and descriptor component, float64
        self._squares: list[torch.Tensor] = []

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
        ones = torch.ones(1, rows.stop - rows.start)
        for level_index, level in enumerate(laplacian_pyramid(x, len(self.sizes))):
            ys, xs = self._centres[level_index]
            patches = extract_patches(level, ys[rows], xs[rows], out=self._levels[level_index][rows])  # [B*nhoods, 147]
            # Per-component sums while the batch is in cache (a reduction over 2M rows later is several
            # times slower), as matmuls: twice as fast as column sums; float32 over one batch, then float64.
            self._sums[level_index] += torch.mm(ones, patches)[0].double()
            self._squares[level_index] += torch.mm(ones, patches.square())[0].double()
        self.count += len(x)

    def _allocate(self, size: int) -> None:
        if size < NHOOD_SIZE:
            raise ValueError(f"SWD needs images of at least {NHOOD_SIZE}×{NHOOD_SIZE}, got {size}×{size}")
        self.sizes = pyramid_sizes(size)
        if any(side % 2 for side in self.sizes[:-1]):
            raise ValueError(f"SWD needs a side that halves evenly down to {LOWPASS_SIZE}, got {size}")
        rows = self.capacity * self.nhoods
        # Drawn up front, one stream per level, so that how the images are split into batches, or how
        # many were expected, does not change the descriptors of the images that were added.
        self._centres = [
            random_centres(rows, side, seed=derive_seed(self.seed, level)) for level, side in enumerate(self.sizes)
        ]
        # Preallocated so the 2M × 147 floats per level are never held twice (pages are touched lazily).
        self._levels = [torch.empty(rows, 3 * NHOOD_SIZE**2) for _ in self.sizes]
        self._sums = [torch.zeros(3 * NHOOD_SIZE**2, dtype=torch.float64) for _ in self.sizes]
        self._squares = [torch.zeros(3 * NHOOD_SIZE**2, dtype=torch.float64) for _ in self.sizes]

    def finish(self) -> list[torch.Tensor]:
        """Per-level descriptors [count*128, 147], each channel normalised to zero mean and unit std."""
        if self.count == 0:
            raise ValueError("no images were added")
        rows = self.count * self.nhoods
        values = rows * NHOOD_SIZE**2  # per channel
        levels = []
        for store, sums, squares in zip(self._levels, self._sums, self._squares):
            mean = sums.view(-1, 3).sum(dim=0) / values  # [3]: components are (y, x, channel)
            std = (squares.view(-1, 3).sum(dim=0) / values - mean**2).clamp_min(0.0).sqrt()
            desc = store[:rows]
            # A constant set (a collapsed generator) has std 0: keep its descriptors finite (all zero).
            scale = (1.0 / std.clamp_min(1e-8)).repeat(NHOOD_SIZE**2)  # [147], per (y, x, channel) component
            shift = -mean.repeat(NHOOD_SIZE**2) * scale
            # (d − mean)/std as d·scale + shift: one pass over the store, with per-component operands
            torch.addcmul(shift.float(), desc, scale.float(), out=desc)
            levels.append(desc)
        self._levels, self._centres, self._sums, self._squares = [], [], [], []
        return levels


def descriptors_for_swd(
    images: np.ndarray,
    *,
    seed: int,
    index: np.ndarray | None = None,
    nhoods_per_image: int = NHOODS_PER_IMAGE,
) -> list[torch.Tensor]:
    """Normalised per-level descriptors of uint8 NHWC ``images`` (only the rows in ``index`` if given)."""
    index = np.arange(len(images)) if index is None else index
    collector = SWDDescriptors(len(index), seed=seed, nhoods_per_image=nhoods_per_image)
    batch_size = batch_size_for(images.shape[1])
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
    """Per-level SWD (not yet ×1e3) between two sets of CPU descriptors; the larger set is cut to the smaller's size."""
    if len(desc_a) != len(desc_b):
        raise ValueError(f"{len(desc_a)} pyramid levels against {len(desc_b)}")
    generator = torch.Generator().manual_seed(seed)
    return [_level_distance(a, b, generator, dir_repeats, dirs_per_repeat) for a, b in zip(desc_a, desc_b)]


def _level_distance(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator, repeats: int, dirs: int) -> float:
    # Sorted projections are only comparable index by index when both sets have the same size.
    count = min(len(a), len(b))
    a, b = a[:count], b[:count]
    # A few directions at a time: two [chunk, count] buffers, reused, instead of two [dirs, count]
    # ones (2 GB for the paper's 2M descriptors), each row sorted and differenced while in cache.
    chunk = min(dirs, DIRS_PER_CHUNK)
    buffers = torch.empty(2, chunk, count)  # [set, direction, descriptor]
    total = 0.0
    for _ in range(repeats):
        directions = torch.randn(a.shape[1], dirs, generator=generator, dtype=torch.float64)
        directions = (directions / directions.norm(dim=0, keepdim=True)).float()  # [D, dirs] unit columns
        for block in directions.split(chunk, dim=1):
            pa, pb = buffers[0, : block.shape[1]], buffers[1, : block.shape[1]]
            torch.mm(block.T, a.T, out=pa)  # one contiguous row per direction
            torch.mm(block.T, b.T, out=pb)
            total += _sorted_abs_difference(pa.numpy(), pb.numpy())
    return total / (repeats * dirs * count)


def _sorted_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Σ |sort(a_i) − sort(b_i)| over the rows i of two [rows, n] float32 arrays, which it overwrites."""
    # numpy's SIMD sort is several times faster than torch.sort on CPU, and like the
    # in-place subtract, abs and sum that follow it releases the GIL: rows go to threads.
    def rows(lo: int, hi: int) -> float:
        total = 0.0
        for x, y in zip(a[lo:hi], b[lo:hi]):
            x.sort()
            y.sort()
            np.subtract(x, y, out=x)
            total += float(np.abs(x, out=x).sum(dtype=np.float64))
        return total

    workers = max(1, min(torch.get_num_threads(), len(a)))
    bounds = np.linspace(0, len(a), workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(rows, bounds[:-1], bounds[1:]))


# -- figures ------------------------------------------------------------------------------------
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
