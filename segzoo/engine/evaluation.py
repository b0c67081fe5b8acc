"""The evaluation loop: ``predict`` on every batch, the model's own metrics (mIoU and friends, PQ / SQ / RQ).

Metrics are those of :mod:`segzoo.metrics`: the confusion-matrix metrics of FCN
(arXiv:1411.4038) and panoptic quality (Kirillov et al., arXiv:1801.00868). Under
``torch.distributed`` every process evaluates its shard and ``compute`` sums the counts,
so the result equals a single-process run over the whole set.

Input contract (as for training): images are uint8 0-255 or float 0-1 and are normalised
here with the model's own mean and std, the statistics ``predict`` uses.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from ..postprocess.tta import TTA
from .distributed import unwrap

__all__ = ["evaluate", "to_unit_float", "scalar_metrics"]

log = logging.getLogger(__name__)


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 0-255 -> float 0-1; float images are checked to be in 0-1 (not already normalised)."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    if not images.is_floating_point():
        raise TypeError(f"Images must be uint8 (0-255) or float (0-1), got {images.dtype}.")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(
            f"Float images must be in [0, 1], got values in [{lo:.3g}, {hi:.3g}]: they look normalised already. "
            "segzoo's trainer normalises with the model's mean/std itself; drop Normalize from the transforms."
        )
    return images.float()


def scalar_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The scalar entries of a metrics dict (per-class lists left out), for logs and best-model tracking."""
    return {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _autocast(device: torch.device, amp: str | None):
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    *,
    ignore_index: int = 255,
    amp: str | None = None,
    tta_scales: Sequence[float] | None = None,
    flip: bool = False,
) -> dict[str, Any]:
    """Evaluate ``model`` on batches from ``loader`` (``segzoo.engine.eval_loader``'s format).

    Each batch goes through ``model.predict`` and the model's own ``evaluator()``: semantic
    models give ``{"mIoU", "aAcc", "mAcc", "fwIoU", "mDice", "score", "IoU": [...], ...}``,
    panoptic ones ``{"PQ", "SQ", "RQ", "PQ_th", ..., "PQ_st", ..., "mIoU"}`` (mIoU of the
    semantic branch's arg-max, PQ over the model's train ids as categories).
    Values are in [0, 1]. The model's train/eval mode is restored afterwards. ``tta_scales`` /
    ``flip``: test-time augmentation (:class:`segzoo.postprocess.TTA`) for models whose
    results are label maps.
    """
    model = unwrap(model)
    predictor = model
    if tta_scales or flip:
        predictor = TTA(model, scales=tta_scales or (1.0,), flip=flip)
        predictor.check_predict()
    device = model.device
    was_training = model.training
    model.eval()
    metrics = model.evaluator(ignore_index=ignore_index)
    try:
        for images, targets in loader:
            images = [to_unit_float(im) for im in images] if isinstance(images, (list, tuple)) else to_unit_float(images)
            with _autocast(device, amp):
                predictions = predictor.predict(images)
            metrics.update(predictions, targets)
    finally:
        model.train(was_training)
    return metrics.compute()
