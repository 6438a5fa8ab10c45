"""Where a checkpoint's fakes put their detail: power per spatial frequency, as a ratio to the reals'.

The fakes (``bench/quality.py``'s latents) and the reals are turned grey, each image's mean removed, and the
|FFT|² averaged over images and over each Chebyshev radius max(|fy|, |fx|) = 1 … H/2 of the full-resolution
grid. A ratio below 1 means missing detail at that frequency (soft edges), above 1 added texture (the fine
grid at radius ~14 of 16 at 32 px).

  .venv/bin/python bench/spectrum.py --data ../shared/data/twemoji32.npz RUN/checkpoints/ckpt-000140000.safetensors ...
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import FAKE_SEED, load_reals  # noqa: E402


def radial_power(images: np.ndarray) -> np.ndarray:
    """Mean power of uint8 NHWC ``images`` at each Chebyshev radius 0 … H/2 of their FFT."""
    grey = images.astype(np.float64).mean(axis=3) / 255.0  # [N, H, W]
    grey -= grey.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(grey)) ** 2).mean(axis=0)  # [H, W]
    size = images.shape[1]
    f = np.abs(np.fft.fftfreq(size) * size)
    radius = np.maximum.outer(f, f)
    return np.array([power[radius == r].mean() for r in range(size // 2 + 1)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data", default="../shared/data/twemoji32.npz", help="as bench/quality.py --data")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from progan.export import load_generator
    from progan.metrics.evaluate import generate_uint8

    reals = load_reals(args.data)
    size = reals.shape[1]
    real_power = radial_power(reals)
    print(f"# fakes' power / reals' power per Chebyshev radius (1 … {size // 2}), {len(reals)} images each")
    for path in args.checkpoints:
        fakes = np.concatenate(list(generate_uint8(load_generator(path), len(reals), seed=FAKE_SEED, batch_size=256, resolution=size)))
        ratio = radial_power(fakes)[1:] / real_power[1:]
        print(path, " ".join(f"{r:.2f}" for r in ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
