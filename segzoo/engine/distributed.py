"""Distributed data-parallel helpers: process-group setup, DDP wrapping, SyncBatchNorm, reductions.

PyTorch's DistributedDataParallel (Li et al., "PyTorch Distributed", arXiv:2006.15704) launched
with ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``): one process per device, gradients all-reduced in backward, NCCL on CUDA and
Gloo on CPU. SyncBatchNorm (as in MegDet, arXiv:1711.07240) computes batch statistics over all
processes; it needs GPUs, so on CPU (and with a single process) the model keeps BatchNorm.
Rank 0 logs and writes for the run: the other processes log warnings and errors only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .logs import quiet_other_ranks

__all__ = [
    "DistInfo",
    "init_distributed",
    "dist_info",
    "is_main_process",
    "barrier",
    "cleanup",
    "default_backend",
    "convert_sync_batchnorm",
    "wrap_ddp",
    "all_reduce_mean",
    "any_across_ranks",
    "unwrap",
    "sync_buffers",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place: ``rank`` of ``world_size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def default_backend(device: torch.device | str | None = None) -> str:
    """``nccl`` for CUDA devices, ``gloo`` otherwise."""
    device = torch.device(device) if device is not None else None
    if device is not None:
        return "nccl" if device.type == "cuda" else "gloo"
    return "nccl" if torch.cuda.is_available() else "gloo"


def dist_info() -> DistInfo:
    """The current process group's rank and size (rank 0 of 1 when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return DistInfo()


def init_distributed(
    *,
    backend: str | None = None,
    init_method: str | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    timeout_s: float = 1800.0,
) -> DistInfo:
    """Join the process group described by ``torchrun``'s environment, or by the arguments.

    Without ``WORLD_SIZE`` in the environment and without ``world_size``, nothing happens
    (rank 0 of 1). On CUDA the process uses device ``LOCAL_RANK``. Processes other than
    rank 0 log warnings and errors only (:func:`segzoo.engine.logs.quiet_other_ranks`).
    """
    if dist.is_available() and dist.is_initialized():
        info = dist_info()
        quiet_other_ranks(info.rank)
        return info
    world_size = int(world_size if world_size is not None else os.environ.get("WORLD_SIZE", 1))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this PyTorch build; run on a single process.")
    rank = int(rank if rank is not None else os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    backend = backend or default_backend()
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(
        backend=backend, init_method=init_method or "env://", rank=rank, world_size=world_size,
        timeout=timedelta(seconds=timeout_s),
    )  # fmt: skip
    quiet_other_ranks(rank)
    log.info("Joined process group: %d processes (backend %s).", world_size, backend)
    return DistInfo(rank, world_size, local_rank)


def is_main_process() -> bool:
    """Rank 0 (or no process group): the process that logs and writes checkpoints."""
    return dist_info().rank == 0


def barrier() -> None:
    """Wait for every process (no-op without a process group)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group, if any."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def convert_sync_batchnorm(model: nn.Module, *, device: torch.device) -> nn.Module:
    """BatchNorm -> SyncBatchNorm when several GPU processes train; otherwise the model as it is."""
    info = dist_info()
    if not info.distributed:
        log.info("sync_bn: a single process, keeping BatchNorm.")
        return model
    if device.type != "cuda":
        log.warning("sync_bn: SyncBatchNorm needs CUDA devices; keeping per-process BatchNorm on %s.", device.type)
        return model
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def wrap_ddp(module: nn.Module, *, device: torch.device, find_unused_parameters: bool = False) -> nn.Module:
    """``DistributedDataParallel(module)`` under a process group of more than one process, else ``module``."""
    if not dist_info().distributed:
        return module
    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=find_unused_parameters)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def all_reduce_mean(values: dict[str, Any], *, device: torch.device) -> dict[str, float]:
    """Average scalar values over processes (for logging); floats out."""
    names = sorted(values)
    if not names:
        return {}
    t = torch.tensor([float(values[n]) for n in names], dtype=torch.float64, device=device)
    info = dist_info()
    if info.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= info.world_size
    return dict(zip(names, t.tolist()))


def any_across_ranks(flag: bool, *, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on any (so all skip a step together)."""
    if not dist_info().distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


@torch.no_grad()
def sync_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process.

    DDP broadcasts buffers at the start of each forward, so after the last training step each
    rank holds the statistics of its own last batch; evaluation and checkpoints use rank 0's.
    """
    if not dist_info().distributed:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)
