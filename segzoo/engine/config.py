"""The trainer's options, one keyword each, checked when the config is made.

Defaults follow the common semantic-segmentation practice (MMSegmentation / DeepLab): SGD
with momentum 0.9, weight decay 1e-4 (not on norms and biases), poly schedule with power
0.9. Seed 004 trains its decoder at 10x the encoder's rate (``head_lr_mult=10``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .optim import OPTIMIZERS
from .schedules import SCHEDULES

__all__ = ["TrainConfig", "AMP_MODES"]

AMP_MODES = (None, "bf16", "fp16")


@dataclass
class TrainConfig:
    """Everything that shapes a training run (see ``docs/training.md``).

    Iterations are optimiser steps; with ``accumulate = n`` each step uses ``n`` batches.
    """

    max_iters: int = 1000
    batch_size: int = 8  # per process
    # optimiser
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-4
    head_lr_mult: float = 1.0
    # schedule
    schedule: str = "poly"
    power: float = 0.9
    step_size: int | None = None
    gamma: float = 0.1
    min_lr_ratio: float = 0.0
    warmup_iters: int = 0
    warmup_ratio: float = 0.1
    # numerics
    amp: str | None = None  # None, "bf16" or "fp16" (fp16 uses a GradScaler)
    clip_grad_norm: float | None = None
    accumulate: int = 1
    ema_decay: float | None = None
    max_bad_steps: int = 5  # consecutive non-finite losses before training stops
    # multi-scale training (per-iteration batch rescaling); None = off
    batch_scale_range: tuple[float, float] | None = None
    batch_scales: tuple[float, ...] | None = None
    batch_base_sizes: tuple[int, ...] | None = None
    size_divisor: int = 1
    # evaluation, checkpoints, logging
    eval_every: int = 0  # 0: only at the end (when there is validation data)
    val_batch_size: int = 1
    best_metric: str | None = None  # default: "mIoU" (semantic) or "PQ" (panoptic)
    best_mode: str = "max"
    checkpoint_every: int = 500
    log_every: int = 1
    progress: bool = True
    # reproducibility and processes
    seed: int = 0
    deterministic: bool = False
    num_workers: int = 0
    sync_bn: bool = False
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
            (self.schedule != "step" or (self.step_size or 0) >= 1, "the step schedule needs step_size >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message + ".")
        for name in ("betas", "batch_scale_range", "batch_scales", "batch_base_sizes"):
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
