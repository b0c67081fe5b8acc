"""Cascade Mask R-CNN heads.

Cai & Vasconcelos, "Cascade R-CNN: High Quality Object Detection and Instance
Segmentation", arXiv:1906.09756: three box stages trained at IoU 0.5 / 0.6 / 0.7, each
refining the boxes of the previous one (regression weights (10, 10, 5, 5), (20, 20, 10, 10),
(30, 30, 15, 15); stage losses weighted 1, 0.5, 0.25). At test time the class scores are
the mean of the three stages' scores and the boxes those of the last stage. The mask head
is trained on the positive RoIs of a configurable stage (``mask_stage``) and applied to the
test detections; ``detection_stage`` picks the stage whose boxes (with the mean score of the
stages up to it) are the detections: the last (Cascade R-CNN) by default, the middle one in
seed 002 ("we choose the middle stage as the instance segmentation flow"), whose later stages
then do not run at test time. Each stage reuses torchvision's ``RoIHeads`` machinery
(sampling, box coding, losses, post-processing).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss, maskrcnn_inference, maskrcnn_loss
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops import boxes as box_ops

from .detector import LEVEL_NAMES, build_mask_pool
from .roi_head_layouts import build_box_head, build_mask_head

__all__ = ["CascadeRoIHeads", "build_cascade_heads"]


class CascadeRoIHeads(nn.Module):
    """Three (or more) box stages and one mask head; same call as torchvision's ``RoIHeads``."""

    def __init__(
        self,
        *,
        stages: Sequence[RoIHeads],
        mask_roi_pool: nn.Module,
        mask_head: nn.Module,
        mask_predictor: nn.Module,
        stage_loss_weights: Sequence[float] = (1.0, 0.5, 0.25),
        mask_stage: int = 1,
        detection_stage: int | None = None,
    ) -> None:
        super().__init__()
        if len(stage_loss_weights) != len(stages):
            raise ValueError(f"One loss weight per stage: {len(stages)} stages, weights {tuple(stage_loss_weights)}.")
        if not 0 <= mask_stage < len(stages):
            raise ValueError(f"mask_stage must index the {len(stages)} stages, got {mask_stage}.")
        if detection_stage is not None and not 0 <= detection_stage < len(stages):
            raise ValueError(f"detection_stage must index the {len(stages)} stages (or be None: the last), got {detection_stage}.")
        self.stages = nn.ModuleList(stages)
        self.box_roi_pool = stages[0].box_roi_pool  # shared by every stage
        self.mask_roi_pool = mask_roi_pool
        self.mask_head = mask_head
        self.mask_predictor = mask_predictor
        self.stage_loss_weights = tuple(float(w) for w in stage_loss_weights)
        self.mask_stage = mask_stage
        self.detection_stage = len(stages) - 1 if detection_stage is None else int(detection_stage)

    @staticmethod
    def _refine(stage: RoIHeads, regression: torch.Tensor, proposals: list[torch.Tensor], labels: list[torch.Tensor],
                image_shapes: list[tuple[int, int]]) -> list[torch.Tensor]:  # fmt: skip
        """Decode each RoI's regression for ``labels`` (its class) into the next stage's boxes (no gradient)."""
        decoded = stage.box_coder.decode(regression.detach(), proposals)  # (N, classes, 4)
        flat_labels = torch.cat(labels)
        boxes = decoded[torch.arange(decoded.shape[0], device=decoded.device), flat_labels]
        out = []
        for b, shape in zip(boxes.split([len(p) for p in proposals]), image_shapes):
            out.append(box_ops.clip_boxes_to_image(b, shape))
        return out

    def forward(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, torch.Tensor]] | None = None,
    ) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        if self.training:
            if targets is None:
                raise ValueError("CascadeRoIHeads needs targets in training mode.")
            return [], self._forward_train(features, proposals, image_shapes, targets)
        return self._forward_test(features, proposals, image_shapes), {}

    def _forward_train(self, features, proposals, image_shapes, targets) -> dict[str, torch.Tensor]:
        losses: dict[str, torch.Tensor] = {}
        for t, (stage, weight) in enumerate(zip(self.stages, self.stage_loss_weights)):
            proposals, matched_idxs, labels, regression_targets = stage.select_training_samples(proposals, targets)
            class_logits, box_regression = stage.box_predictor(stage.box_head(stage.box_roi_pool(features, proposals, image_shapes)))
            loss_cls, loss_box = fastrcnn_loss(class_logits, box_regression, labels, regression_targets)
            losses[f"loss_classifier_s{t}"] = weight * loss_cls
            losses[f"loss_box_reg_s{t}"] = weight * loss_box
            if t == self.mask_stage:
                pos = [torch.where(lab > 0)[0] for lab in labels]
                mask_proposals = [p[i] for p, i in zip(proposals, pos)]
                mask_matched = [m[i] for m, i in zip(matched_idxs, pos)]
            if t + 1 < len(self.stages):
                # Background RoIs are refined with their predicted class (mmdetection's rule).
                predicted = class_logits[:, 1:].argmax(dim=1) + 1
                per_roi = [torch.where(lab > 0, lab, p) for lab, p in zip(labels, predicted.split([len(x) for x in labels]))]
                proposals = self._refine(stage, box_regression, proposals, per_roi, image_shapes)
        mask_logits = self.mask_predictor(self.mask_head(self.mask_roi_pool(features, mask_proposals, image_shapes)))
        losses["loss_mask"] = maskrcnn_loss(
            mask_logits, mask_proposals, [t["masks"] for t in targets], [t["labels"] for t in targets], mask_matched
        )
        return losses

    def _forward_test(self, features, proposals, image_shapes) -> list[dict[str, torch.Tensor]]:
        probs = []
        used = self.stages[: self.detection_stage + 1]  # the stages after the detection stage don't run
        for t, stage in enumerate(used):
            class_logits, box_regression = stage.box_predictor(stage.box_head(stage.box_roi_pool(features, proposals, image_shapes)))
            probs.append(F.softmax(class_logits, dim=-1))
            if t + 1 < len(used):
                predicted = class_logits[:, 1:].argmax(dim=1) + 1
                proposals = self._refine(stage, box_regression, proposals, list(predicted.split([len(p) for p in proposals])), image_shapes)
        mean_probs = torch.stack(probs).mean(0)
        last = used[-1]
        boxes, scores, labels = last.postprocess_detections(mean_probs.clamp_min(1e-12).log(), box_regression, proposals, image_shapes)
        result = [{"boxes": b, "labels": lab, "scores": s} for b, s, lab in zip(boxes, scores, labels)]
        mask_logits = self.mask_predictor(self.mask_head(self.mask_roi_pool(features, boxes, image_shapes)))
        for r, m in zip(result, maskrcnn_inference(mask_logits, labels)):
            r["masks"] = m
        return result


def build_cascade_heads(
    *,
    num_thing_classes: int,
    in_channels: int = 256,
    semantic_channels: int | None = None,
    box_channels: int = 1024,
    mask_channels: int = 256,
    iou_thresholds: Sequence[float] = (0.5, 0.6, 0.7),
    reg_weights: Sequence[tuple[float, float, float, float]] = ((10, 10, 5, 5), (20, 20, 10, 10), (30, 30, 15, 15)),
    mask_stage: int = 1,
    detection_stage: int | None = None,
    batch_size_per_image: int = 512,
    score_thresh: float = 0.05,
    nms_thresh: float = 0.5,
    detections_per_img: int = 100,
    box_head: str = "2fc",
    norm: str | None = None,
) -> CascadeRoIHeads:
    """Cascade heads with a shared box RoI pool, one box head per stage, and a Mask R-CNN mask head
    (``box_head`` and ``norm`` as in :func:`~segzoo.models.panoptic.detector.build_mask_rcnn_heads`)."""
    pool = MultiScaleRoIAlign(featmap_names=LEVEL_NAMES, output_size=7, sampling_ratio=2)
    stages = [
        RoIHeads(
            box_roi_pool=pool,
            box_head=build_box_head(box_head, in_channels=in_channels, channels=box_channels, norm=norm),
            box_predictor=FastRCNNPredictor(box_channels, num_thing_classes + 1),
            fg_iou_thresh=iou,
            bg_iou_thresh=iou,
            batch_size_per_image=batch_size_per_image,
            positive_fraction=0.25,
            bbox_reg_weights=tuple(float(w) for w in weights),
            score_thresh=score_thresh,
            nms_thresh=nms_thresh,
            detections_per_img=detections_per_img,
        )
        for iou, weights in zip(iou_thresholds, reg_weights)
    ]
    return CascadeRoIHeads(
        stages=stages,
        mask_roi_pool=build_mask_pool(in_channels=in_channels, semantic_channels=semantic_channels),
        mask_head=build_mask_head(in_channels=in_channels, channels=mask_channels, norm=norm),
        mask_predictor=MaskRCNNPredictor(mask_channels, mask_channels, num_thing_classes + 1),
        mask_stage=mask_stage,
        detection_stage=detection_stage,
    )
