"""Metrics of a generator against real images: fakes are made in batches and fed straight to the metric.

Each metric holds its options; ``compute(generator, reals, num=, seed=)`` draws ``num`` fakes from
``latents(num, seed=seed)`` at the reals' resolution and compares them with ``num`` reals (a seeded
random subset when there are more).  Pass the EMA generator: that is the one the paper evaluates.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch

from progan.errors import ConfigError
from progan.interfaces import Generator, Metric, latents
from progan.metrics.fid import (
    feature_network,
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    network_features,
)
from progan.metrics.msssim import MIN_SIZE, ms_ssim_pairs
from progan.metrics.swd import (
    DIR_REPEATS,
    DIRS_PER_REPEAT,
    NHOOD_SIZE,
    NHOODS_PER_IMAGE,
    SWDDescriptors,
    batch_size_for,
    derive_seed,
    swd_figures,
    swd_floor,
)


# -- images -------------------------------------------------------------------------------------
def quantise(images: torch.Tensor) -> np.ndarray:
    """Float images [N, C, H, W] in about [-1, 1] as uint8 [N, H, W, C]: x·127.5 + 127.5, rounded, clipped."""
    u8 = (images.float() * 127.5 + 127.5).round_().clamp_(0, 255).to(torch.uint8)
    return u8.permute(0, 2, 3, 1).contiguous().cpu().numpy()  # [N, H, W, C]


@torch.no_grad()
def generate_uint8(
    generator: Generator, num: int, *, seed: int, batch_size: int, resolution: int | None = None
) -> Iterator[np.ndarray]:
    """``num`` fakes from ``latents(num, seed=seed)`` as uint8 NHWC batches (the same images for any batch size)."""
    device = next(generator.parameters()).device
    z = latents(num, generator.latent_size, seed=seed)  # drawn at once so batch_size cannot change them
    was_training = generator.training
    generator.eval()
    try:
        for start in range(0, num, batch_size):
            yield quantise(generator(z[start : start + batch_size].to(device), resolution))
    finally:
        generator.train(was_training)


def indexed_batches(images: np.ndarray, index: np.ndarray, *, batch_size: int) -> Iterator[np.ndarray]:
    """``images[index]`` in batches, copying one batch at a time (``images`` may be a memmap)."""
    for start in range(0, len(index), batch_size):
        yield images[index[start : start + batch_size]]


def rebatch(batches: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The same images in batches of ``size`` (the last may be smaller)."""
    pending: list[np.ndarray] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += len(batch)
        while count >= size:
            joined = np.concatenate(pending)
            yield joined[:size]
            pending, count = [joined[size:]], count - size
    if count:
        yield np.concatenate(pending)


def real_subset(count: int, num: int, *, seed: int) -> np.ndarray:
    """Sorted indices of ``min(num, count)`` reals drawn without replacement (all of them when num >= count)."""
    if num >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(derive_seed(seed, 4)).choice(count, num, replace=False))


def check_reals(reals: np.ndarray, generator: Generator) -> int:
    """The side of uint8 NHWC ``reals`` after checking they fit ``generator``; the fakes are made at that side."""
    if not isinstance(reals, np.ndarray) or reals.dtype != np.uint8 or reals.ndim != 4 or len(reals) == 0:
        described = f"{reals.dtype} {reals.shape}" if isinstance(reals, np.ndarray) else type(reals).__name__
        raise ConfigError(f"reals must be a non-empty uint8 [N, H, W, C] array, got {described}")
    _, height, width, channels = reals.shape
    if height != width:
        raise ConfigError(f"reals must be square, got {height}×{width}")
    if channels != generator.channels:
        raise ConfigError(f"reals have {channels} channels but the generator makes {generator.channels}")
    if height > generator.resolution:
        top = generator.resolution
        raise ConfigError(f"reals are {height}×{height} but the generator makes at most {top}×{top}")
    return height


# -- options ------------------------------------------------------------------------------------
def parse_options(metric: str, options: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``options``; unknown keys and wrong types are ConfigErrors."""
    parsed = dict(defaults)
    for key, value in (options or {}).items():
        if key not in defaults:
            raise ConfigError(f"metric {metric!r} has no option {key!r}; options: {', '.join(sorted(defaults))}")
        default = defaults[key]
        if default is None and value is None:
            continue
        expected = type(default) if default is not None else str
        # bool is an int subclass: an int option must not accept true/false.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"metric {metric!r} option {key!r} must be {expected.__name__}, got {value!r}")
        if expected is int and value < 1:
            raise ConfigError(f"metric {metric!r} option {key!r} must be at least 1, got {value}")
        parsed[key] = value
    return parsed


# -- metrics ------------------------------------------------------------------------------------
class SWDMetric(Metric):
    """Paper SWD×1e3 per Laplacian level and averaged (``swd_avg`` first); ``floor`` adds real-vs-real figures."""

    default_num = 16384
    min_size = NHOOD_SIZE
    defaults = {
        "batch_size": 64,
        "floor": False,
        "nhoods_per_image": NHOODS_PER_IMAGE,
        "dir_repeats": DIR_REPEATS,
        "dirs_per_repeat": DIRS_PER_REPEAT,
    }

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = parse_options("swd", options, self.defaults)

    def compute(self, generator: Generator, reals: np.ndarray, *, num: int, seed: int) -> dict[str, float]:
        size = check_reals(reals, generator)
        if size < NHOOD_SIZE:
            raise ConfigError(f"SWD needs images of at least {NHOOD_SIZE}×{NHOOD_SIZE}, got {size}×{size}")
        o = self.options
        index = real_subset(len(reals), num, seed=seed)
        real = SWDDescriptors(len(index), seed=derive_seed(seed, 0), nhoods_per_image=o["nhoods_per_image"])
        for batch in indexed_batches(reals, index, batch_size=batch_size_for(size)):
            real.add(batch)
        fake = SWDDescriptors(num, seed=derive_seed(seed, 1), nhoods_per_image=o["nhoods_per_image"])
        # The generator's batches are regrouped: describing small batches is several times slower.
        fakes = generate_uint8(generator, num, seed=seed, batch_size=o["batch_size"], resolution=size)
        for batch in rebatch(fakes, batch_size_for(size)):
            fake.add(batch)
        directions = {"dir_repeats": o["dir_repeats"], "dirs_per_repeat": o["dirs_per_repeat"]}
        figures = swd_figures(real.finish(), fake.finish(), real.sizes, seed=derive_seed(seed, 2), **directions)
        if o["floor"]:
            figures.update(swd_floor(reals, seed=seed, index=index, nhoods_per_image=o["nhoods_per_image"], **directions))
        return figures


class MSSSIMMetric(Metric):
    """Mean MS-SSIM of consecutive pairs of fakes (``msssim``), and of random pairs of reals for reference."""

    default_num = 20000  # 10,000 pairs, as in the paper
    min_size = MIN_SIZE
    defaults = {"batch_size": 500, "reals": True}

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = parse_options("msssim", options, self.defaults)
        if self.options["batch_size"] % 2:
            raise ConfigError(f"metric 'msssim' option 'batch_size' must be even, got {self.options['batch_size']}")

    def compute(self, generator: Generator, reals: np.ndarray, *, num: int, seed: int) -> dict[str, float]:
        size = check_reals(reals, generator)
        if size < MIN_SIZE:
            raise ConfigError(f"MS-SSIM needs images of at least {MIN_SIZE}×{MIN_SIZE}, got {size}×{size}")
        num -= num % 2  # an odd last image has no partner
        if num < 2:
            raise ConfigError(f"MS-SSIM needs num >= 2 images, got {num}")
        batch_size = self.options["batch_size"]
        fakes = generate_uint8(generator, num, seed=seed, batch_size=batch_size, resolution=size)
        figures = {"msssim": ms_ssim_pairs(fakes)}
        if self.options["reals"] and len(reals) >= 2:
            # Random pairs, because consecutive dataset entries may be related (same class, same source).
            order = np.random.default_rng(derive_seed(seed, 5)).permutation(len(reals))
            order = order[: min(num, len(order) - len(order) % 2)]
            figures["msssim_reals"] = ms_ssim_pairs(indexed_batches(reals, order, batch_size=batch_size))
        return figures


class FeatureMetric(Metric):
    """Shared by FID and KID: builds the feature network once, then features of reals and fakes per call."""

    name = ""
    default_num = 50000
    defaults: dict[str, Any] = {"network": "inception-v3", "weights": None, "batch_size": 50}

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = parse_options(self.name, options, self.defaults)
        # Built now so a missing weights file fails when the metric is set up, not at the first evaluation.
        self.network = feature_network(self.options["network"], weights=self.options["weights"])

    def features(self, generator: Generator, reals: np.ndarray, *, num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Features of up to ``num`` reals and of ``num`` fakes, on the generator's device."""
        size = check_reals(reals, generator)
        device = next(generator.parameters()).device
        network = self.network.to(device)
        batch_size = self.options["batch_size"]
        index = real_subset(len(reals), num, seed=seed)
        real = network_features(network, indexed_batches(reals, index, batch_size=batch_size), device=device)
        fakes = generate_uint8(generator, num, seed=seed, batch_size=batch_size, resolution=size)
        return real, network_features(network, fakes, device=device)


class FIDMetric(FeatureMetric):
    """Fréchet distance between the feature statistics of reals and fakes (``fid``)."""

    name = "fid"

    def compute(self, generator: Generator, reals: np.ndarray, *, num: int, seed: int) -> dict[str, float]:
        real, fake = self.features(generator, reals, num=num, seed=seed)
        return {"fid": frechet_distance(*feature_statistics(real), *feature_statistics(fake))}


class KIDMetric(FeatureMetric):
    """Unbiased kernel (MMD²) distance between reals' and fakes' features over random subsets (``kid``, ``kid_std``)."""

    name = "kid"
    defaults = {**FeatureMetric.defaults, "subsets": 100, "subset_size": 1000}

    def compute(self, generator: Generator, reals: np.ndarray, *, num: int, seed: int) -> dict[str, float]:
        real, fake = self.features(generator, reals, num=num, seed=seed)
        o = self.options
        mean, std = kernel_inception_distance(real, fake, subsets=o["subsets"], subset_size=o["subset_size"], seed=seed)
        return {"kid": mean, "kid_std": std}


# -- entry point for the CLI --------------------------------------------------------------------
def run_metrics(
    generator: Generator,
    reals: np.ndarray,
    names: Sequence[str],
    *,
    num: int | None = None,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, float]]:
    """Figures per metric name, in order, from the registry's metrics; ``num`` None: each one's paper default."""
    # Paper defaults: swd 16384 images, msssim 20000 (10,000 pairs), fid and kid 50000.
    from progan.plugins import host  # the registry imports the built-in plugins, which import this module

    options = options or {}
    unknown = set(options) - set(names)
    if unknown:
        raise ConfigError(f"options given for metrics that are not run: {', '.join(sorted(unknown))}")
    registry = host()
    metrics = {name: registry.create("metrics", name, dict(options.get(name, {}))) for name in names}
    results = {}
    for name, metric in metrics.items():
        count = num if num is not None else getattr(metric, "default_num", 10000)
        results[name] = dict(metric.compute(generator, reals, num=count, seed=seed))
    return results
