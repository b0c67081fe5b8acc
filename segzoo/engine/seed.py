"""Seeding and random-state capture for reproducible, resumable training.

The common PyTorch practice ("Reproducibility", PyTorch notes): seed Python's ``random``,
NumPy and torch in the main process; seed each DataLoader worker from the per-worker seed
torch gives it (``worker_init_fn``); give the loader its own ``torch.Generator``. On top of
that, segzoo seeds every *sample* from ``(seed, epoch, position)`` (:func:`sample_seed`,
:func:`local_seed`), so random augmentations do not depend on the number of workers, the
rank, or on whether training was interrupted and resumed.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any, Iterator

import numpy as np
import torch

__all__ = [
    "seed_everything",
    "worker_init_fn",
    "sample_seed",
    "local_seed",
    "get_rng_state",
    "set_rng_state",
]


def seed_everything(seed: int, *, rank: int = 0, deterministic: bool = False) -> int:
    """Seed ``random``, NumPy and torch (CPU and CUDA) with ``seed + rank``; returns that seed.

    Args:
        seed: the run's seed (non-negative).
        rank: the process rank; each rank gets its own stream (DDP broadcasts rank 0's
            initial weights, so models still start identical).
        deterministic: also ask torch for deterministic kernels (``warn_only``) and turn off
            cuDNN's benchmark mode; slower on GPU, no effect on CPU results.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    value = seed + int(rank)
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)  # also seeds every CUDA device
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return value


def worker_init_fn(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed ``random`` and NumPy from the seed torch gave the worker.

    torch seeds each worker's torch RNG with ``base_seed + worker_id`` (``base_seed`` drawn
    from the loader's generator) but leaves ``random`` and NumPy alone, so without this
    every forked worker would draw the same NumPy numbers.
    """
    info = torch.utils.data.get_worker_info()
    seed = info.seed if info is not None else torch.initial_seed()
    random.seed(seed)
    np.random.seed(seed % 2**32)


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A 63-bit seed for the sample at ``position`` of ``epoch`` (well mixed by NumPy's SeedSequence)."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(position)]).generate_state(2, np.uint32)
    return int(state[0]) << 31 ^ int(state[1])


@contextlib.contextmanager
def local_seed(seed: int) -> Iterator[None]:
    """Run a block with ``random``, NumPy and torch's CPU RNG seeded by ``seed``; restore them after.

    Used around each sample's loading and augmentation so transforms that draw from the
    global RNGs (``generator=None``) give the same result in any process, in any order.
    """
    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)  # the CPU generator only: CUDA streams are left alone
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)


def get_rng_state() -> dict[str, Any]:
    """The global RNG states as plain Python/tensor values (safe for ``torch.load(weights_only=True)``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
