"""Data loading for training and evaluation: resumable sharded sampling, seeded samples, collation.

The practice of Detectron2's ``TrainingSampler`` and PyTorch's ``DistributedSampler``: one
shuffled permutation per epoch drawn from ``(seed, epoch)`` and shared by all ranks, each
rank taking every ``world_size``-th index. Two additions make interrupted runs resume
exactly: the sampler can start in the middle of an epoch (``set_epoch(epoch, start=...)``)
and every sample is loaded under its own seed ``(seed, epoch, position)`` (see
:mod:`segzoo.engine.seed`), so its random augmentation is the same whether it is loaded in
the first run or after a resume, by any worker of any rank.

Batches: semantic samples are stacked into ``images (B, C, H, W)`` and ``sem_seg (B, H, W)``
(padded with 0 / 255 to the largest size when sizes differ); panoptic samples stay lists
``(images, targets)``, as the panoptic model takes them.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.panoptic_utils import IGNORE_INDEX
from .seed import local_seed, sample_seed, worker_init_fn

__all__ = [
    "ResumableSampler",
    "ShardSampler",
    "SeededSamples",
    "collate_semantic",
    "collate_panoptic",
    "collate",
    "train_loader",
    "eval_loader",
]


class ResumableSampler(Sampler):
    """Yields ``(index, sample_seed)`` of one rank's share of an epoch, from a given position on.

    Args:
        length: dataset size.
        shuffle: a fresh permutation per epoch (from ``(seed, epoch)``), else in order.
        seed: the run's seed.
        rank, world_size: this process's share: positions ``rank, rank + world_size, ...``
            of the epoch's order, padded by wrapping around so every rank gets the same count.
    """

    def __init__(self, length: int, *, shuffle: bool = True, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if length < 1:
            raise ValueError("The training set is empty: it needs at least one sample.")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank={rank}, world_size={world_size}.")
        self.length, self.shuffle, self.seed = int(length), bool(shuffle), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.per_rank = math.ceil(self.length / self.world_size)
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, *, start: int = 0) -> None:
        """Iterate over ``epoch``, skipping this rank's first ``start`` samples (already trained on)."""
        if not 0 <= start <= self.per_rank:
            raise ValueError(f"start must be in [0, {self.per_rank}], got {start}.")
        self.epoch, self.start = int(epoch), int(start)

    def order(self, epoch: int) -> list[int]:
        """The whole epoch's index order (all ranks), padded to a multiple of ``world_size``."""
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        padding = self.per_rank * self.world_size - self.length
        return order + order[:padding]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self.order(self.epoch)
        for k in range(self.start, self.per_rank):
            position = k * self.world_size + self.rank
            yield order[position], sample_seed(self.seed, self.epoch, position)

    def __len__(self) -> int:
        return self.per_rank - self.start


class ShardSampler(Sampler):
    """Evaluation sharding: rank ``r`` gets indices ``r, r + world_size, ...`` (no padding, so
    summed metrics count every sample exactly once)."""

    def __init__(self, length: int, *, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class SeededSamples(Dataset):
    """Wraps a dataset: ``self[(index, seed)]`` loads ``dataset[index]`` with all RNGs seeded by ``seed``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        with local_seed(seed):
            return self.dataset[index]


def _check_sample(image: Any, target: Any, i: int) -> None:
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        raise TypeError(
            f"Sample {i}: expected a (C, H, W) image tensor, got {type(image).__name__} "
            f"{tuple(getattr(image, 'shape', ()))}. segzoo datasets return (image, target) pairs."
        )


def collate_semantic(batch: Sequence[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[(image (C, H, W), {"sem_seg": (H, W)} or (H, W))]`` -> ``images (B, C, H, W)``, ``sem_seg (B, H, W)``.

    Samples of different sizes are padded bottom/right to the largest (image 0, label 255).
    """
    images, labels = [], []
    for i, (image, target) in enumerate(batch):
        _check_sample(image, target, i)
        label = target["sem_seg"] if isinstance(target, dict) else target
        if not isinstance(label, torch.Tensor) or label.shape != image.shape[-2:]:
            raise ValueError(
                f"Sample {i}: the label must be an (H, W) tensor of the image's size {tuple(image.shape[-2:])}, "
                f"got {tuple(getattr(label, 'shape', ()))}."
            )
        images.append(image)
        labels.append(label.long())
    h = max(im.shape[-2] for im in images)
    w = max(im.shape[-1] for im in images)
    if any(im.shape[-2:] != (h, w) for im in images):
        images = [F.pad(im, (0, w - im.shape[-1], 0, h - im.shape[-2])) for im in images]
        labels = [F.pad(lb, (0, w - lb.shape[-1], 0, h - lb.shape[-2]), value=IGNORE_INDEX) for lb in labels]
    return torch.stack(images), torch.stack(labels)


def collate_panoptic(batch: Sequence[tuple[torch.Tensor, dict]]) -> tuple[list[torch.Tensor], list[dict]]:
    """``[(image, panoptic target)]`` -> ``(images list, targets list)`` (images may differ in size)."""
    for i, (image, target) in enumerate(batch):
        _check_sample(image, target, i)
        if not isinstance(target, dict) or "sem_seg" not in target or "masks" not in target:
            raise ValueError(
                f"Sample {i}: a panoptic target needs boxes, labels, masks and sem_seg (see segzoo.data); "
                f"got {sorted(target) if isinstance(target, dict) else type(target).__name__}."
            )
    return [image for image, _ in batch], [target for _, target in batch]


PANOPTIC_TARGET_KEYS = ("masks", "boxes", "segments_info", "panoptic")


def collate(batch: Sequence[tuple[torch.Tensor, Any]]) -> tuple[Any, Any]:
    """Collate by the targets' format: label maps (or ``{"sem_seg"}`` dicts) -> :func:`collate_semantic`
    (one padded batch); panoptic targets (dicts with instances) -> :func:`collate_panoptic` (lists,
    images may differ in size)."""
    if batch and isinstance(batch[0][1], dict) and any(k in batch[0][1] for k in PANOPTIC_TARGET_KEYS):
        return collate_panoptic(batch)
    return collate_semantic(batch)


def train_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    seed: int = 0,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    shuffle: bool = True,
) -> tuple[DataLoader, ResumableSampler]:
    """A training loader over ``dataset`` (incomplete last batches dropped) and its sampler.

    Call ``sampler.set_epoch(epoch, start=...)`` before iterating over each epoch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    sampler = ResumableSampler(len(dataset), shuffle=shuffle, seed=seed, rank=rank, world_size=world_size)
    if sampler.per_rank < batch_size:
        raise ValueError(
            f"The training set has {len(dataset)} samples, fewer than one batch of {batch_size} per process "
            f"({world_size} process(es)); lower batch_size or add data."
        )
    loader = DataLoader(
        SeededSamples(dataset),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        worker_init_fn=worker_init_fn,
        generator=torch.Generator().manual_seed(seed),  # the workers' base seed; keeps the global RNG untouched
        drop_last=True,
        pin_memory=False,
    )
    return loader, sampler


def eval_loader(
    dataset: Dataset, *, batch_size: int = 1, num_workers: int = 0, rank: int = 0, world_size: int = 1
) -> DataLoader:
    """An evaluation loader over this rank's shard of ``dataset``, in order."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset), rank=rank, world_size=world_size),
        num_workers=num_workers,
        collate_fn=collate,
        worker_init_fn=worker_init_fn,
        generator=torch.Generator().manual_seed(0),
    )
