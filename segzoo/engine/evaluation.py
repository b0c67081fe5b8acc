"""Evaluation loops: mIoU and friends for semantic models, PQ / SQ / RQ (+ mIoU) for panoptic ones.

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

from ..metrics import PanopticQuality, SemanticMetrics
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

    Semantic models: ``{"mIoU", "aAcc", "mAcc", "fwIoU", "mDice", "score", "IoU": [...], ...}``.
    Panoptic models: ``{"PQ", "SQ", "RQ", "PQ_th", ..., "PQ_st", ..., "mIoU"}`` (mIoU of the
    semantic branch's arg-max, PQ over the model's train ids as categories).
    Values are in [0, 1]. The model's train/eval mode is restored afterwards. ``tta_scales`` /
    ``flip``: test-time augmentation (:class:`segzoo.postprocess.TTA`) for semantic models.
    """
    model = unwrap(model)
    predict_logits = model
    if tta_scales or flip:
        if model.task != "semantic":
            raise ValueError("Test-time augmentation in evaluate() is for semantic models.")
        predict_logits = TTA(model, scales=tta_scales or (1.0,), flip=flip)
    device = model.device
    was_training = model.training
    model.eval()
    semantic = SemanticMetrics(model.num_classes, ignore_index=ignore_index)
    panoptic = None
    if model.task == "panoptic":
        panoptic = PanopticQuality({**{t: 1 for t in model.thing_ids}, **{s: 0 for s in model.stuff_ids}})
    try:
        for images, targets in loader:
            if panoptic is None:
                x = model.normalize(to_unit_float(images.to(device)))
                with _autocast(device, amp):
                    logits = predict_logits(x)
                semantic.update(logits.argmax(1), targets.to(device))
                continue
            with _autocast(device, amp):
                predictions = model.predict([to_unit_float(im) for im in images])
            for pred, target in zip(predictions, targets):
                gt_segments = [
                    {"id": s["id"], "category_id": s["train_id"], "iscrowd": int(s.get("iscrowd", 0))}
                    for s in target["segments_info"]
                ]
                panoptic.update(
                    pred.panoptic_seg.cpu(), pred.segments_info, target["panoptic"], gt_segments,
                    image_id=target.get("image_id"),
                )  # fmt: skip
                semantic.update(pred.sem_seg.cpu(), target["sem_seg"])
    finally:
        model.train(was_training)
    out = semantic.compute().as_dict()
    if panoptic is None:
        return out
    pq = panoptic.compute()
    result: dict[str, Any] = {}
    for suffix, part in (("", pq.all), ("_th", pq.things), ("_st", pq.stuff)):
        result.update({f"PQ{suffix}": part["pq"], f"SQ{suffix}": part["sq"], f"RQ{suffix}": part["rq"]})
    result.update({"mIoU": out["mIoU"], "aAcc": out["aAcc"], "IoU": out["IoU"]})
    return result
