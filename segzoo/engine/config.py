"""The trainer's options, one keyword each, checked when the config is made (torch-free).

A field declared with ``_option(default, flag, help)`` is also a ``segzoo train --flag``: the
CLI builds its flags from :func:`train_options`, so each option is written once.

Defaults follow the common semantic-segmentation practice (MMSegmentation / DeepLab): SGD
with momentum 0.9, weight decay 1e-4 (not on norms and biases), poly schedule with power
0.9, heads at the backbone's rate (``head_lr_mult=1``, as :func:`~segzoo.engine.optim.param_groups`).
The papers' own settings (seed 004 trains its decoder at 10x the encoder's rate) are in their
training recipes (:func:`segzoo.train_recipe`), which ``segzoo train`` applies.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TrainConfig", "AMP_MODES", "OPTIMIZERS", "SCHEDULES", "TrainOption", "train_options"]

AMP_MODES = (None, "bf16", "fp16")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("poly", "step", "cosine", "constant")


@dataclass(frozen=True)
class TrainOption:
    """How a :class:`TrainConfig` field appears on the command line (``segzoo train --FLAG``)."""

    field: str
    flag: str
    help: str
    default: Any
    annotation: str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None


def _option(default: Any, flag: str, help: str, *, choices: tuple[str, ...] | None = None, metavar: str | None = None):
    """A field with its command-line flag: declared once, read by ``segzoo train``'s parser."""
    return field(default=default, metadata={"flag": flag, "help": help, "choices": choices, "metavar": metavar})


@dataclass
class TrainConfig:
    """Everything that shapes a training run (see ``docs/training.md``).

    Iterations are optimiser steps; with ``accumulate = n`` each step uses ``n`` batches.
    """

    max_iters: int = _option(1000, "iters", "iterations (optimiser steps)")
    batch_size: int = _option(8, "batch-size", "images per step and process")
    # optimiser
    optimizer: str = _option("sgd", "optimizer", "optimiser", choices=OPTIMIZERS)
    lr: float = _option(0.01, "lr", "base learning rate (head: x --head-lr-mult)")
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = _option(1e-4, "weight-decay", "weight decay (not on norms and biases)")
    head_lr_mult: float = _option(1.0, "head-lr-mult", "learning-rate factor of the heads")
    # schedule
    schedule: str = _option("poly", "schedule", "learning-rate schedule", choices=SCHEDULES)
    power: float = 0.9
    step_size: int | None = _option(None, "step-size", "iterations between x0.1 drops (step schedule)")
    milestones: tuple[int, ...] | None = None  # step schedule: the iterations of the drops (instead of step_size)
    gamma: float = 0.1
    min_lr_ratio: float = 0.0
    warmup_iters: int = _option(0, "warmup-iters", "linear warm-up iterations")
    warmup_ratio: float = 0.1
    # numerics
    amp: str | None = _option(None, "amp", "mixed precision (CPU and CUDA; fp16 uses a GradScaler)", choices=("bf16", "fp16"))
    clip_grad_norm: float | None = _option(None, "clip-grad", "clip the gradient norm to this")
    accumulate: int = _option(1, "accumulate", "batches per optimiser step")
    ema_decay: float | None = _option(None, "ema", "keep an EMA of the weights (evaluated and saved)", metavar="DECAY")
    max_bad_steps: int = 5  # consecutive non-finite losses before training stops
    # multi-scale training (per-iteration batch rescaling); None = off
    batch_scale_range: tuple[float, float] | None = _option(
        None, "batch-scales", "rescale each batch by a random factor in this range", metavar="LOW,HIGH"
    )
    batch_scales: tuple[float, ...] | None = None
    batch_base_sizes: tuple[int, ...] | None = None
    size_divisor: int = 1
    # evaluation, checkpoints, logging
    eval_every: int = _option(0, "eval-every", "evaluate every N iterations (0: at the end)")
    val_batch_size: int = 1
    best_metric: str | None = _option(None, "best-metric", "metric that picks OUT/best (default mIoU, PQ for panoptic)")
    best_mode: str = "max"
    checkpoint_every: int = _option(500, "checkpoint-every", "write OUT/last every N iterations")
    log_every: int = _option(1, "log-every", "metrics.jsonl record every N iterations")
    progress: bool = True
    # reproducibility and processes
    seed: int = _option(0, "seed", "seed of the weights, the data order and the augmentations")
    deterministic: bool = False
    num_workers: int = _option(0, "workers", "data loader worker processes")
    sync_bn: bool = _option(False, "sync-bn", "SyncBatchNorm under torchrun on GPUs")
    find_unused_parameters: bool | None = None  # default: True for panoptic models under DDP
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes recorded with the run

    def __post_init__(self) -> None:
        checks = [
            (self.max_iters >= 1, f"max_iters must be >= 1, got {self.max_iters}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (self.amp in AMP_MODES, f"amp must be one of {AMP_MODES}, got {self.amp!r}"),
            (self.accumulate >= 1, f"accumulate must be >= 1, got {self.accumulate}"),
            (self.max_bad_steps >= 1, f"max_bad_steps must be >= 1, got {self.max_bad_steps}"),
            (self.best_mode in ("max", "min"), f"best_mode must be 'max' or 'min', got {self.best_mode!r}"),
            (self.eval_every >= 0 and self.checkpoint_every >= 0, "eval_every and checkpoint_every must be >= 0"),
            (self.log_every >= 1, f"log_every must be >= 1, got {self.log_every}"),
            (self.clip_grad_norm is None or self.clip_grad_norm > 0, "clip_grad_norm must be positive or None"),
            (self.ema_decay is None or 0 < self.ema_decay < 1, f"ema_decay must be in (0, 1), got {self.ema_decay}"),
            (self.schedule != "step" or (self.step_size or 0) >= 1 or bool(self.milestones),
             "the step schedule needs step_size >= 1 or milestones"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message + ".")
        for name in ("betas", "milestones", "batch_scale_range", "batch_scales", "batch_base_sizes"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                setattr(self, name, tuple(value))  # lists from JSON

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from a dict (e.g. JSON); unknown keys raise ``TypeError`` naming the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise TypeError(f"Unknown training option(s) {unknown}; valid options: {sorted(names)}.")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python values (JSON-able)."""
        return dataclasses.asdict(self)


def train_options() -> list[TrainOption]:
    """The :class:`TrainConfig` fields that have a command-line flag, in declaration order (the
    others are set with ``--train-opt KEY=VALUE`` or a ``--config`` file)."""
    out = []
    for f in dataclasses.fields(TrainConfig):
        if "flag" in f.metadata:
            meta = f.metadata
            out.append(TrainOption(f.name, meta["flag"], meta["help"], f.default, str(f.type), meta["choices"], meta["metavar"]))
    return out
