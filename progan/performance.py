"""Speed settings of a run (the ``[performance]`` config table); none of them changes the algorithm.

* ``retain_cpu_memory`` (CPU, Linux/glibc, on by default): freed blocks stay in the process for
  reuse.  glibc returns every large block (an activation at 32×32 and up) to the kernel on free, so
  each step page-faults its activations in afresh; on virtual machines that costs more than the
  arithmetic of a whole layer.  Set once per process with ``mallopt``; peak memory is unchanged.
* ``channels_last``: NHWC weights and activations; unset, :func:`default_channels_last` picks the
  layout per resolution.
* ``amp = "bf16"``: G and D run under ``torch.autocast`` in bfloat16; the gradient-penalty pass,
  the minibatch stddev and every loss term stay fp32.
* ``compile``: G and D through ``torch.compile``; the gradient-penalty pass stays eager (compiled
  graphs do not support the double backward it needs), and a fading ``alpha`` is passed as a 0-d
  tensor so that a fade does not recompile every step.
* ``tf32``: TF32 matmuls and convolutions on CUDA.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
from typing import Any

import torch

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_retained = False


def retain_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (no trim, no per-block mmap); True if it took effect.

    Process-wide and idempotent.  Only blocks the process has already used are kept, so the peak
    resident memory is that of the largest step, as before; between steps it no longer drops.
    """
    global _retained
    if _retained:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # 1 GiB: glibc >= 2.26 accepts thresholds above its dynamic maximum (32 MiB on 64-bit)
    ok = mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1 and mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1
    _retained = ok
    return ok


def default_channels_last(device: torch.device, resolution: int, amp: str) -> bool:
    """The memory layout of a phase when ``channels_last`` is unset (``bench/step_ab.py --compare layout``).

    CPU: NHWC up to 16×16 (oneDNN's NHWC kernels 7-25% faster per step there).  Above, NHWC where
    PyTorch runs AVX-512 kernels: a 32 px step 5-9% and a 64 px step 5% faster on an AVX-512 EPYC.
    Elsewhere NCHW: with oneDNN held to AVX2 on that machine, NHWC's weight gradient took 15-19%
    longer and NCHW steps were 2.5% (32 px) and 5.5% (64 px) faster; the first measurement, on
    another machine, had NCHW 4/13% ahead at 32/64 px.  CUDA: NHWC with amp (tensor cores), NCHW in fp32.
    """
    if device.type == "cpu":
        return resolution <= 16 or torch.backends.cpu.get_cpu_capability() == "AVX512"
    return amp != "none"


def set_tf32(enabled: bool) -> None:
    """TF32 for CUDA matmuls and cuDNN convolutions (process-wide)."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """The autocast context of a step: bfloat16 for ``amp = "bf16"``, else nothing."""
    if amp == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 if autocast made it a 16-bit float; otherwise ``x`` itself (no copy)."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


def eager(net: Any) -> Any:
    """The plain module behind a :class:`CompiledNet` (for passes compiled graphs cannot run)."""
    return getattr(net, "eager", net)


class CompiledNet:
    """``torch.compile(module)`` for the step, with the module itself at hand as ``.eager``.

    Attribute reads (``latent_size``, ``accepts_parts``, ...) go to the module.  A float ``alpha``
    below 1 becomes a 0-d tensor, so that each new alpha of a fade is data, not a new graph: at most
    two graphs per resolution (fading and stable) and per batch size.
    """

    def __init__(self, module: torch.nn.Module, **options: Any) -> None:
        self.eager = module
        self.compiled = torch.compile(module, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        args = list(args)
        if "alpha" in kwargs:
            kwargs["alpha"] = self._alpha(kwargs["alpha"])
        else:
            position = 2 if isinstance(self.eager, _generator_type()) else 1  # G(z, resolution, alpha); D(images, alpha)
            if len(args) > position:
                args[position] = self._alpha(args[position])
        return self.compiled(*args, **kwargs)

    def _alpha(self, alpha: Any) -> Any:
        if torch.is_tensor(alpha) or alpha >= 1.0:
            return alpha
        device = next(self.eager.parameters()).device
        return torch.full((), float(alpha), device=device)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.eager, name)


def _generator_type() -> type:
    from progan.interfaces import Generator

    return Generator
