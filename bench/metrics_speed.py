"""Times paper SWD on 16,384 images at 64×64 and MS-SSIM on 10,000 pairs at 32×32.

Run from the repository root: ``PYTHONPATH=. .venv/bin/python bench/metrics_speed.py [--threads N]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from progan.metrics.msssim import ms_ssim_pairs
from progan.metrics.swd import descriptors_for_swd, derive_seed, pyramid_sizes, swd_figures


def smooth_images(count: int, size: int, *, seed: int, noise: float) -> np.ndarray:
    """Random-ish uint8 NHWC images: blurry colour blobs plus pixel noise, made in chunks."""
    rng = np.random.default_rng(seed)
    chunks = []
    for start in range(0, count, 1024):
        n = min(1024, count - start)
        coarse = torch.from_numpy(rng.uniform(0, 255, (n, 3, size // 8, size // 8)).astype(np.float32))
        x = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
        x = x + torch.from_numpy(rng.normal(0, noise, x.shape).astype(np.float32))
        chunks.append(x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())  # [N, H, W, C]
    return np.concatenate(chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--swd-images", type=int, default=16384)
    parser.add_argument("--msssim-pairs", type=int, default=10000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads: {args.threads}")

    reals = smooth_images(args.swd_images, 64, seed=0, noise=4.0)
    fakes = smooth_images(args.swd_images, 64, seed=1, noise=8.0)
    clock = Clock()
    real = descriptors_for_swd(reals, seed=derive_seed(0, 0))
    fake = descriptors_for_swd(fakes, seed=derive_seed(0, 1))
    described = clock.lap()
    figures = swd_figures(real, fake, pyramid_sizes(64), seed=derive_seed(0, 2))
    distances = clock.lap()
    print(f"SWD {args.swd_images} images 64x64: descriptors {described}, distances {distances}, total {clock.total()}")
    print("  " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))
    del real, fake, reals, fakes

    pairs = smooth_images(2 * args.msssim_pairs, 32, seed=2, noise=8.0)
    clock = Clock()
    value = ms_ssim_pairs(pairs)
    print(f"MS-SSIM {args.msssim_pairs} pairs 32x32: {clock.total()} (mean {value:.4f})")


class Clock:
    """Wall and CPU seconds (CPU counts every thread: on a busy machine it shows the work, wall the wait)."""

    def __init__(self) -> None:
        self.start = self.last = (time.perf_counter(), time.process_time())

    def lap(self) -> str:
        now = (time.perf_counter(), time.process_time())
        text = self._format(self.last, now)
        self.last = now
        return text

    def total(self) -> str:
        return self._format(self.start, (time.perf_counter(), time.process_time()))

    @staticmethod
    def _format(begin: tuple[float, float], end: tuple[float, float]) -> str:
        return f"{end[0] - begin[0]:.1f} s wall ({end[1] - begin[1]:.1f} s CPU)"


if __name__ == "__main__":
    main()
