#!/usr/bin/env python
"""The benchmark's 3×3 convolutions timed alone in a loop, against the cores' FMA peak.

What one conv of a training step can reach at best on this machine: ``F.conv2d`` forward and
``aten.convolution_backward`` (input and weight gradient), 128→128 channels, NHWC, fp32, for each
``--batches`` × ``--sizes``, on 1 and on ``--threads`` threads; each the median of ``--calls`` calls.
The FMA peak (``bench/fma_peak.c``, see throughput.py) is measured in the same run when a C compiler
is at hand.  docs/performance.md uses it for the 8×8 floor.

  .venv/bin/python bench/conv_loop.py                    # 8×8 at batch 16 and 32, 1 and 2 threads
  .venv/bin/python bench/conv_loop.py --sizes 4 8 16 --batches 16
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import fma_peak, median_ms  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[8], help="image sizes (H = W)")
    p.add_argument("--batches", type=int, nargs="+", default=[16, 32])
    p.add_argument("--channels", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--calls", type=int, default=40)
    args = p.parse_args()

    thread_counts = sorted({1, args.threads})
    tmp = Path(tempfile.mkdtemp(prefix="conv-loop-"))
    peaks = {threads: fma_peak(threads, tmp) for threads in thread_counts}
    c = args.channels
    print("threads | batch | size | forward ms | GFLOP/s | % FMA | input+weight grad ms | GFLOP/s | % FMA")
    for threads in thread_counts:
        torch.set_num_threads(threads)
        for size in args.sizes:
            for batch in args.batches:
                x = torch.randn(batch, c, size, size).contiguous(memory_format=torch.channels_last)
                w = torch.randn(c, c, 3, 3).contiguous(memory_format=torch.channels_last)
                grad = torch.randn(batch, c, size, size).contiguous(memory_format=torch.channels_last)
                gflop = 2 * batch * size * size * c * c * 9 / 1e9  # one pass; the backward is two
                forward = median_ms(lambda: F.conv2d(x, w, padding=1), args.calls)
                backward = median_ms(lambda: torch.ops.aten.convolution_backward(
                    grad, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, True, False]), args.calls)
                rates = gflop / forward * 1e3, 2 * gflop / backward * 1e3
                peak = peaks[threads]
                shares = [f"{rate / peak:6.1%}" if peak else "   n/a" for rate in rates]
                print(f"{threads:7d} | {batch:5d} | {size:4d} | {forward:10.3f} | {rates[0]:7.1f} | {shares[0]} | "
                      f"{backward:20.3f} | {rates[1]:7.1f} | {shares[1]}")


if __name__ == "__main__":
    main()
