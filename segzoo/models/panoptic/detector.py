"""The instance branch: Mask R-CNN heads from torchvision on segzoo's FPN.

He et al., "Mask R-CNN", arXiv:1703.06870, assembled from torchvision's detection parts
(``RegionProposalNetwork``, ``RoIHeads``, ``MultiScaleRoIAlign``, ``TwoMLPHead``,
``MaskRCNNHeads``) instead of rewriting them. Seed 000's information flow from the
semantic branch to the instance branch is :class:`SemanticInfusedRoIPool`: the mask head's
RoI features get the RoI-aligned semantic features (projected to the same width) added.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import MultiScaleRoIAlign, roi_align

from .anchors import ExactAnchorGenerator
from .poolers import LevelRoIAlign
from .roi_head_layouts import build_box_head, build_mask_head

__all__ = ["SemanticInfusedRoIPool", "build_rpn", "build_mask_rcnn_heads", "pyramid_dict", "LEVEL_NAMES"]

LEVEL_NAMES = ["0", "1", "2", "3"]  # P2..P5 in the feature dicts torchvision's heads read
SEMANTIC_KEY = "semantic"


def pyramid_dict(levels: list[torch.Tensor]) -> "OrderedDict[str, torch.Tensor]":
    """FPN levels (P2.. and P6 if present) as the ordered dict torchvision's RPN and poolers take."""
    out = OrderedDict((str(i), f) for i, f in enumerate(levels[:4]))
    if len(levels) > 4:
        out["pool"] = levels[4]
    return out


class SemanticInfusedRoIPool(nn.Module):
    """Mask RoI pooling plus RoI-aligned semantic features (seed 000's information sharing).

    Called like ``MultiScaleRoIAlign``; the feature dict must hold the semantic features
    (stride ``semantic_stride``) under ``"semantic"``.
    """

    def __init__(self, pool: MultiScaleRoIAlign, *, semantic_channels: int, out_channels: int, semantic_stride: int = 4):
        super().__init__()
        self.pool = pool
        self.semantic_stride = semantic_stride
        self.project = nn.Conv2d(semantic_channels, out_channels, 1)

    def forward(
        self, features: dict[str, torch.Tensor], proposals: list[torch.Tensor], image_shapes: list[tuple[int, int]]
    ) -> torch.Tensor:
        pooled = self.pool(features, proposals, image_shapes)  # (N, C, S, S)
        size = pooled.shape[-2:]
        semantic = roi_align(
            features[SEMANTIC_KEY], proposals, output_size=size, spatial_scale=1.0 / self.semantic_stride,
            sampling_ratio=2, aligned=True,
        )  # fmt: skip
        return pooled + self.project(semantic)


def build_rpn(
    *,
    in_channels: int = 256,
    num_levels: int = 5,
    anchor_sizes: tuple[int, ...] = (32, 64, 128, 256, 512),
    pre_nms_top_n: tuple[int, int] = (2000, 1000),
    post_nms_top_n: tuple[int, int] = (2000, 1000),
    conv_depth: int = 1,
    exact_anchors: bool = False,
) -> RegionProposalNetwork:
    """torchvision's RPN with one anchor size per level (P2..P6) and aspect ratios 0.5, 1, 2.

    ``pre_nms_top_n`` / ``post_nms_top_n`` are ``(training, testing)``. ``conv_depth``: 3x3 convs
    of the RPN head before its two 1x1 predictors (1 in Mask R-CNN; 2 in the improved Mask R-CNN
    of Li et al., arXiv:2111.11429, torchvision's ``maskrcnn_resnet50_fpn_v2``). ``exact_anchors``:
    unrounded anchor sizes (Detectron2's) instead of torchvision's whole-pixel ones.
    """
    if len(anchor_sizes) != num_levels:
        raise ValueError(f"Need one anchor size per level: {num_levels} levels, anchor_sizes {anchor_sizes}.")
    generator = ExactAnchorGenerator if exact_anchors else AnchorGenerator
    anchors = generator(tuple((s,) for s in anchor_sizes), ((0.5, 1.0, 2.0),) * num_levels)
    return RegionProposalNetwork(
        anchors,
        RPNHead(in_channels, anchors.num_anchors_per_location()[0], conv_depth=conv_depth),
        fg_iou_thresh=0.7,
        bg_iou_thresh=0.3,
        batch_size_per_image=256,
        positive_fraction=0.5,
        pre_nms_top_n={"training": pre_nms_top_n[0], "testing": pre_nms_top_n[1]},
        post_nms_top_n={"training": post_nms_top_n[0], "testing": post_nms_top_n[1]},
        nms_thresh=0.7,
    )


ROI_ALIGN = ("v1", "v2")


def build_roi_pool(output_size: int, *, roi_align: str = "v1") -> nn.Module:
    """RoIAlign over P2-P5: ``"v1"`` torchvision's (``aligned=False``, 2 x 2 samples per bin) or
    ``"v2"`` Detectron2's ``ROIAlignV2`` (``aligned=True``, adaptive sampling)."""
    if roi_align == "v1":
        return MultiScaleRoIAlign(featmap_names=LEVEL_NAMES, output_size=output_size, sampling_ratio=2)
    if roi_align == "v2":
        return LevelRoIAlign(featmap_names=LEVEL_NAMES, output_size=output_size, sampling_ratio=0, aligned=True)
    raise ValueError(f"roi_align must be one of {ROI_ALIGN} (torchvision's or Detectron2's ROIAlignV2), got {roi_align!r}.")


def build_mask_pool(*, in_channels: int, semantic_channels: int | None, roi_align: str = "v1") -> nn.Module:
    """The mask head's RoI pooling (14 x 14), with the semantic information flow when given its width."""
    pool = build_roi_pool(14, roi_align=roi_align)
    if semantic_channels is None:
        return pool
    return SemanticInfusedRoIPool(pool, semantic_channels=semantic_channels, out_channels=in_channels)


def build_mask_rcnn_heads(
    *,
    num_thing_classes: int,
    in_channels: int = 256,
    semantic_channels: int | None = None,
    box_channels: int = 1024,
    mask_channels: int = 256,
    batch_size_per_image: int = 512,
    score_thresh: float = 0.05,
    nms_thresh: float = 0.5,
    detections_per_img: int = 100,
    box_head: str = "2fc",
    norm: str | None = None,
    roi_align: str = "v1",
) -> RoIHeads:
    """torchvision ``RoIHeads`` for Mask R-CNN: classes are background + ``num_thing_classes``.

    ``box_head`` (``"2fc"`` or ``"4conv1fc"``) and ``norm`` (in the box and mask heads' convs) choose
    Mask R-CNN's layout or the improved one of Li et al., arXiv:2111.11429 (see :mod:`.roi_head_layouts`);
    ``roi_align`` selects the RoI sampling (see :func:`build_roi_pool`).
    """
    return RoIHeads(
        box_roi_pool=build_roi_pool(7, roi_align=roi_align),
        box_head=build_box_head(box_head, in_channels=in_channels, channels=box_channels, norm=norm),
        box_predictor=FastRCNNPredictor(box_channels, num_thing_classes + 1),
        fg_iou_thresh=0.5,
        bg_iou_thresh=0.5,
        batch_size_per_image=batch_size_per_image,
        positive_fraction=0.25,
        bbox_reg_weights=None,
        score_thresh=score_thresh,
        nms_thresh=nms_thresh,
        detections_per_img=detections_per_img,
        mask_roi_pool=build_mask_pool(in_channels=in_channels, semantic_channels=semantic_channels, roi_align=roi_align),
        mask_head=build_mask_head(in_channels=in_channels, channels=mask_channels, norm=norm),
        mask_predictor=MaskRCNNPredictor(mask_channels, mask_channels, num_thing_classes + 1),
    )
