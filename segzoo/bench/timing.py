"""Measurement for the benchmark runner: per-call timing (CUDA events on GPU, ``perf_counter``
on the CPU), latency statistics, and peak memory of a block (CUDA allocator peak, or growth of
the process's peak resident set on Linux)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import statistics
import time
from typing import Any, Callable, Sequence

import torch

from .flops import synchronize

__all__ = ["MemoryMeter", "latency_stats", "timed_call"]


def _rss_bytes(field_name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _trim_heap() -> None:
    """Give freed heap memory back to the OS (glibc ``malloc_trim``) so RSS growth is measurable."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class MemoryMeter:
    """Peak memory of a block: the CUDA allocator's peak above the start on GPU; on the CPU, the
    process's peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs``) above its
    resident set at the start (after ``malloc_trim``). ``peak_mib`` is None where neither works."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_allocator_peak" if device.type == "cuda" else "rss_growth"
        self.peak_mib: float | None = None

    def __enter__(self) -> "MemoryMeter":
        if self.device.type == "cuda":
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            _trim_heap()
            self._start = _rss_bytes("VmRSS")
            try:
                with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
                    f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
                self._hwm_reset = True
            except OSError:
                self._hwm_reset = False
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.device.type == "cuda":
            synchronize(self.device)
            self.peak_mib = (torch.cuda.max_memory_allocated(self.device) - self._start) / 2**20
        elif self._start is not None and self._hwm_reset:
            peak = _rss_bytes("VmHWM")
            self.peak_mib = None if peak is None else max(0, peak - self._start) / 2**20


def timed_call(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """Milliseconds of one call of ``fn`` and its output: CUDA events and a synchronisation on
    CUDA, ``perf_counter`` on the CPU."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end), out
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def _percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default)."""
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def latency_stats(times_ms: Sequence[float]) -> dict[str, float]:
    """``latency_mean_ms``, ``latency_p50_ms``, ``latency_p90_ms``, ``latency_min_ms``."""
    return {
        "latency_mean_ms": statistics.fmean(times_ms),
        "latency_p50_ms": _percentile(times_ms, 50),
        "latency_p90_ms": _percentile(times_ms, 90),
        "latency_min_ms": min(times_ms),
    }
