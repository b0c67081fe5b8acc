"""The hardware/software fingerprint stamped on every benchmark result.

Benchmark numbers mean nothing without the machine they came from: CPU model and
instruction-set flags (from ``/proc/cpuinfo`` on Linux), thread count, GPU name, torch /
CUDA / cuDNN versions, and the load average (other jobs on a shared machine slow every
row down). ``cpu_supports_bf16`` decides whether the fast path autocasts to bfloat16 on
the CPU: only with native bf16 dot products (AVX512-BF16 or AMX-BF16); without them
PyTorch emulates bf16 matmuls and they are slower than fp32.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from functools import lru_cache
from typing import Any

import torch

__all__ = ["fingerprint", "cpu_model", "cpu_flags", "cpu_supports_bf16", "load_average", "SIMD_FLAGS", "FINGERPRINT_KEYS"]

# The flags that matter for deep-learning kernels, reported in the Markdown header.
SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "bf16",
)  # fmt: skip
BF16_FLAGS = ("avx512_bf16", "amx_bf16")

FINGERPRINT_KEYS = (
    "cpu_model", "cpu_flags", "simd_flags", "cpu_count", "torch_threads", "cpu_capability", "cpu_bf16",
    "memory_gib", "gpu_name", "gpu_count", "cuda_version", "cudnn_version", "torch", "torchvision", "timm",
    "segzoo", "python", "platform", "load_average", "timestamp",
)  # fmt: skip


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor block of ``/proc/cpuinfo`` as a dict ({} where there is none)."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    if info:
                        break
                    continue
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def cpu_model() -> str:
    """The CPU's marketing name (``model name`` in ``/proc/cpuinfo``, else ``platform.processor()``)."""
    info = _cpuinfo()
    return info.get("model name") or info.get("Model") or platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """Instruction-set flags of the CPU (``flags`` on x86, ``Features`` on ARM); [] when unknown."""
    info = _cpuinfo()
    return sorted((info.get("flags") or info.get("Features") or "").split())


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 dot products (AVX512-BF16 or AMX-BF16)."""
    flags = set(cpu_flags())
    return any(f in flags for f in BF16_FLAGS)


def load_average() -> tuple[float, float, float] | None:
    """The 1/5/15-minute load averages (None where the OS has none)."""
    try:
        return tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[return-value]
    except (OSError, AttributeError):
        return None


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - any import problem means "not available"
        return None


def fingerprint() -> dict[str, Any]:
    """Hardware and software of this process: the keys of ``FINGERPRINT_KEYS``.

    ``cpu_flags`` is the full flag list (space-separated); ``simd_flags`` the subset that
    matters for kernels. GPU fields are None without CUDA.
    """
    flags = cpu_flags()
    cuda = torch.cuda.is_available()
    from ..version import __version__

    return {
        "cpu_model": cpu_model(),
        "cpu_flags": " ".join(flags),
        "simd_flags": " ".join(f for f in SIMD_FLAGS if f in set(flags)),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16": cpu_supports_bf16(),
        "memory_gib": _memory_gib(),
        "gpu_name": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if cuda else None,
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "timm": _version("timm"),
        "segzoo": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average": load_average(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
