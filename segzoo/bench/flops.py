"""FLOP counting with ``torch.utils.flop_counter.FlopCounterMode`` and the machine's GEMM peak.

Counts are FLOPs, not multiply-accumulates: a ``(M, K) @ (K, N)`` matmul is ``2 * M * K * N``
and a convolution twice its MACs (many papers and tools such as fvcore/ptflops report
MACs and call them FLOPs; divide our numbers by 2 to compare with those). The counter
sees the matmul-like ATen ops (convolutions, (b)mm, addmm, attention); elementwise ops,
normalisation, pooling, interpolation and torchvision's RoI Align and NMS are not counted.
torchvision's deformable convolution is counted as the convolution it computes (``2 * output
elements * in_channels / groups * kernel area``; the bilinear sampling of its inputs is not
counted). For convolutional networks the uncounted ops are a few percent of the total.

The "fraction of peak" the runner reports divides a model's achieved FLOP/s by the
throughput of one large square matmul in the same dtype on the same device, measured by
:func:`gemm_peak` in the same process (so a busy machine lowers both).
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any, Callable

import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision)
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula

__all__ = ["count_flops", "gemm_peak", "measure_gemm_peak", "synchronize"]


def synchronize(device: torch.device | str) -> None:
    """Wait for queued kernels on a CUDA device (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@register_flop_formula(torch.ops.torchvision.deform_conv2d)
def _deform_conv2d_flops(input_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    """A deformable convolution's multiply-adds, as a convolution of the same weights (x 2: FLOPs)."""
    out_channels, in_per_group, kh, kw = weight_shape
    batch, height, width = out_shape[0], out_shape[2], out_shape[3]
    return 2 * batch * out_channels * height * width * in_per_group * kh * kw


@torch.no_grad()
def count_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """FLOPs (not MACs) of one call ``fn(*args, **kwargs)``, counted by ``FlopCounterMode``."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def gemm_peak(
    *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 5
) -> float:
    """The best GFLOP/s of ``repeats`` ``(size, size) @ (size, size)`` matmuls in ``dtype``.

    Cached per (device, dtype, size, repeats, torch thread count). On CUDA the time comes
    from CUDA events.
    """
    return _cached_peak(str(torch.device(device)), dtype, int(size), int(repeats), torch.get_num_threads())


@torch.no_grad()
def measure_gemm_peak(device: str, dtype: torch.dtype, size: int, repeats: int, threads: int, *, warmup: int = 1) -> float:
    """One measurement (uncached); ``threads`` only keys the cache of :func:`gemm_peak`; ``warmup``
    untimed matmuls first (library initialisation, first-touch allocation, AMX tile setup)."""
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=g).to(device=device, dtype=dtype)
    flops = 2.0 * size**3
    for _ in range(max(1, warmup)):
        torch.mm(a, b)
    synchronize(device)
    best = float("inf")
    for _ in range(max(1, repeats)):
        if device.startswith("cuda"):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            torch.mm(a, b)
            end.record()
            torch.cuda.synchronize(device)
            seconds = start.elapsed_time(end) / 1000
        else:
            t0 = time.perf_counter()
            torch.mm(a, b)
            seconds = time.perf_counter() - t0
        best = min(best, seconds)
    return flops / best / 1e9


_cached_peak = lru_cache(maxsize=None)(measure_gemm_peak)
