"""Summing metric state across processes with ``torch.distributed`` (no-op when not initialised).

Metric states in this package are additive counts (a confusion matrix, per-category
TP/FP/FN and IoU sums), so the distributed reduction is one ``all_reduce(SUM)``.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["distributed_ready", "all_reduce_sum"]


def distributed_ready() -> bool:
    """True when ``torch.distributed`` is available and a process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Return a copy of ``tensor`` summed over all processes; ``tensor`` itself is left as it is.

    Working on a copy keeps ``compute()`` idempotent: calling it twice does not double the
    local counts. Every process must call this (collective), also those that saw no data.
    """
    if not distributed_ready():
        return tensor
    out = tensor.clone()
    # NCCL reduces CUDA tensors only; the state of a process that saw no data lives on the CPU.
    if dist.get_backend() == "nccl" and out.device.type != "cuda":
        out = out.to(torch.device("cuda", torch.cuda.current_device()))
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(tensor.device)
