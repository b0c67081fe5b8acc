"""Metric accumulators for models' ``predict`` results: what ``model.evaluator()`` returns.

``update(predictions, targets)`` takes one batch as ``predict`` and the data loaders give it;
``compute()`` returns the metrics dict (values in [0, 1]). Under ``torch.distributed`` every
process updates with its shard and ``compute`` sums the counts, so the result equals a
single-process run over the whole set.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .panoptic import PanopticQuality
from .semantic import SemanticMetrics

__all__ = ["SemanticEvaluator", "PanopticEvaluator"]


class SemanticEvaluator:
    """mIoU and friends (FCN, arXiv:1411.4038) of label maps against ``(B, H, W)`` label targets.

    ``compute()``: ``{"mIoU", "aAcc", "mAcc", "fwIoU", "mDice", "score", "IoU": [...], ...}``.
    """

    primary = "mIoU"

    def __init__(self, num_classes: int, *, ignore_index: int = 255) -> None:
        self.metrics = SemanticMetrics(num_classes, ignore_index=ignore_index)

    def update(self, predictions: Sequence[torch.Tensor] | torch.Tensor, targets: torch.Tensor) -> None:
        if not isinstance(predictions, torch.Tensor):
            predictions = torch.stack([torch.as_tensor(p) for p in predictions])
        self.metrics.update(predictions, torch.as_tensor(targets).to(predictions.device))

    def compute(self) -> dict[str, Any]:
        return self.metrics.compute().as_dict()


class PanopticEvaluator:
    """Panoptic quality (Kirillov et al., arXiv:1801.00868) over the model's train ids as categories,
    plus the mIoU of the semantic branch's arg-max.

    ``predictions``: objects with ``panoptic_seg``, ``segments_info`` and ``sem_seg`` (a panoptic
    model's ``predict``); ``targets``: the panoptic targets of ``segzoo.data`` (``panoptic``,
    ``segments_info`` with ``train_id``, ``sem_seg``, optional ``image_id``).
    ``compute()``: ``{"PQ", "SQ", "RQ", "PQ_th", ..., "PQ_st", ..., "mIoU", "aAcc", "IoU"}``.
    """

    primary = "PQ"

    def __init__(
        self, *, num_classes: int, thing_ids: Sequence[int], stuff_ids: Sequence[int], ignore_index: int = 255
    ) -> None:
        self.panoptic = PanopticQuality({**{int(t): 1 for t in thing_ids}, **{int(s): 0 for s in stuff_ids}})
        self.semantic = SemanticMetrics(num_classes, ignore_index=ignore_index)

    def update(self, predictions: Sequence[Any], targets: Sequence[dict[str, Any]]) -> None:
        for pred, target in zip(predictions, targets):
            gt_segments = [
                {"id": s["id"], "category_id": s["train_id"], "iscrowd": int(s.get("iscrowd", 0))}
                for s in target["segments_info"]
            ]
            self.panoptic.update(
                pred.panoptic_seg.cpu(), pred.segments_info, target["panoptic"], gt_segments,
                image_id=target.get("image_id"),
            )  # fmt: skip
            self.semantic.update(pred.sem_seg.cpu(), target["sem_seg"])

    def compute(self) -> dict[str, Any]:
        semantic = self.semantic.compute().as_dict()
        pq = self.panoptic.compute()
        result: dict[str, Any] = {}
        for suffix, part in (("", pq.all), ("_th", pq.things), ("_st", pq.stuff)):
            result.update({f"PQ{suffix}": part["pq"], f"SQ{suffix}": part["sq"], f"RQ{suffix}": part["rq"]})
        result.update({"mIoU": semantic["mIoU"], "aAcc": semantic["aAcc"], "IoU": semantic["IoU"]})
        return result
