"""Registered panoptic models: seed 000 (SE attention panoptic network), Panoptic FPN, UPSNet
and seed 002 (Cascade + DCN + UPSNet head).

COCO panoptic defaults: 133 classes, train ids 0-79 things and 80-132 stuff (the ranking
of the original category ids that ``segzoo.data.COCOPanoptic`` uses). For tiny test or CPU
variants pass ``backbone="tiny"`` and small ``fpn_channels`` / ``box_channels`` /
``mask_channels``.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from ..backbones import resolve_backbone
from ..heads import FCNSemanticHead, PrototypeModule, SemanticFPNHead, SpatialRankingModule
from ..necks import FPN
from .panoptic.cascade import build_cascade_heads
from .panoptic.detector import build_mask_rcnn_heads, build_rpn
from .panoptic.model import PanopticModel
from .registry import register_model

__all__ = ["panoptic_model"]

COCO_THINGS = tuple(range(80))
COCO_STUFF = tuple(range(80, 133))


def panoptic_model(
    *,
    backbone: str | nn.Module,
    num_classes: int,
    thing_ids: Sequence[int],
    stuff_ids: Sequence[int],
    in_chans: int,
    semantic_head: str,
    cascade: bool,
    deformable_fpn: bool,
    info_sharing: bool,
    prototypes: bool,
    ranking: bool,
    uncertainty: bool,
    fuser: str,
    panoptic_loss: bool,
    crf: bool,
    fpn_channels: int,
    box_channels: int,
    mask_channels: int,
    rpn_top_n: Sequence[int],
    detections_per_img: int,
    pretrained_backbone: bool,
    backbone_weights: str | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
) -> PanopticModel:
    """Assemble a panoptic network from its parts (the whole architecture on one screen).

    ``semantic_head``: ``"fcn"`` (seed 000), ``"fpn"`` (Panoptic FPN, levels summed) or
    ``"fpn_dcn_concat"`` (seed 002: a deformable conv per level, concatenated).
    ``rpn_top_n``: proposals kept (training, testing) before and after NMS.
    """
    encoder = resolve_backbone(backbone, in_chans=in_chans, pretrained=pretrained_backbone, weights=backbone_weights)
    if [f.stride for f in encoder.feature_info] != [4, 8, 16, 32]:
        raise ValueError(
            f"Panoptic models need a backbone with 4 levels at strides 4, 8, 16, 32 (P2-P5); got strides "
            f"{[f.stride for f in encoder.feature_info]}."
        )
    neck = FPN(encoder.feature_info, out_channels=fpn_channels, p6=True, deformable_levels=(1, 2, 3) if deformable_fpn else ())
    strides = [f.stride for f in neck.feature_info[:4]]
    if semantic_head == "fcn":
        sem = FCNSemanticHead(fpn_channels, num_classes=num_classes)
    elif semantic_head in ("fpn", "fpn_dcn_concat"):
        deform = semantic_head == "fpn_dcn_concat"
        sem = SemanticFPNHead(fpn_channels, num_classes=num_classes, strides=strides, merge="concat" if deform else "sum", deformable=deform)
    else:
        raise ValueError(f"semantic_head must be 'fcn', 'fpn' or 'fpn_dcn_concat', got {semantic_head!r}.")
    things = len(thing_ids)
    heads_args = dict(
        num_thing_classes=things, in_channels=fpn_channels, semantic_channels=sem.out_channels if info_sharing else None,
        box_channels=box_channels, mask_channels=mask_channels, detections_per_img=detections_per_img,
    )  # fmt: skip
    roi_heads = build_cascade_heads(**heads_args) if cascade else build_mask_rcnn_heads(**heads_args)
    top_n = tuple(int(n) for n in rpn_top_n)
    return PanopticModel(
        backbone=encoder,
        neck=neck,
        semantic_head=sem,
        rpn=build_rpn(in_channels=fpn_channels, pre_nms_top_n=top_n, post_nms_top_n=top_n),
        roi_heads=roi_heads,
        num_classes=num_classes,
        thing_ids=thing_ids,
        stuff_ids=stuff_ids,
        in_chans=in_chans,
        info_sharing=info_sharing,
        prototypes=PrototypeModule(fpn_channels, num_classes=num_classes, semantic_channels=sem.out_channels) if prototypes else None,
        ranking=SpatialRankingModule(things) if ranking else None,
        uncertainty=uncertainty,
        fuser=fuser,
        panoptic_loss=panoptic_loss,
        crf=crf,
        mean=mean,
        std=std,
    )


@register_model(task="panoptic", paper="Seed 000: Panoramic Image Segmentation Using Attention Mechanism with ResNet-50 Backbone and Multi-Task Learning")
def panoptic_se_r50(
    *,
    num_classes: int = 133,
    thing_ids: Sequence[int] = COCO_THINGS,
    stuff_ids: Sequence[int] = COCO_STUFF,
    in_chans: int = 3,
    backbone: str | nn.Module = "seresnet50",
    fuser: str = "spatial_ranking",
    crf: bool = False,
    fpn_channels: int = 256,
    box_channels: int = 1024,
    mask_channels: int = 256,
    rpn_top_n: Sequence[int] = (2000, 1000),
    detections_per_img: int = 100,
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> PanopticModel:
    """Seed 000: SE-ResNet-50 + FPN, FCN semantic branch, Mask R-CNN with semantic information flow,
    prototype masks, spatial ranking, uncertainty weighting; heuristic fusion ordered by ranking."""
    return panoptic_model(
        semantic_head="fcn", cascade=False, deformable_fpn=False, info_sharing=True, prototypes=True, ranking=True,
        uncertainty=True, panoptic_loss=False, **_common(locals()),
    )  # fmt: skip


def _common(args: dict) -> dict:
    keys = ("backbone", "num_classes", "thing_ids", "stuff_ids", "in_chans", "fuser", "crf", "fpn_channels", "box_channels",
            "mask_channels", "rpn_top_n", "detections_per_img", "pretrained_backbone", "backbone_weights", "mean", "std")  # fmt: skip
    return {k: args[k] for k in keys}


@register_model(task="panoptic", paper="Kirillov et al., Panoptic Feature Pyramid Networks, arXiv:1901.02446")
def panoptic_fpn_r50(
    *,
    num_classes: int = 133,
    thing_ids: Sequence[int] = COCO_THINGS,
    stuff_ids: Sequence[int] = COCO_STUFF,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet50",
    fuser: str = "heuristic",
    crf: bool = False,
    fpn_channels: int = 256,
    box_channels: int = 1024,
    mask_channels: int = 256,
    rpn_top_n: Sequence[int] = (2000, 1000),
    detections_per_img: int = 100,
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> PanopticModel:
    """Panoptic FPN on ResNet-50: Mask R-CNN + semantic FPN head, heuristic fusion."""
    return panoptic_model(
        semantic_head="fpn", cascade=False, deformable_fpn=False, info_sharing=False, prototypes=False, ranking=False,
        uncertainty=False, panoptic_loss=False, **_common(locals()),
    )  # fmt: skip


@register_model(task="panoptic", paper="Kirillov et al., Panoptic Feature Pyramid Networks, arXiv:1901.02446")
def panoptic_fpn_r101(
    *,
    num_classes: int = 133,
    thing_ids: Sequence[int] = COCO_THINGS,
    stuff_ids: Sequence[int] = COCO_STUFF,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet101",
    fuser: str = "heuristic",
    crf: bool = False,
    fpn_channels: int = 256,
    box_channels: int = 1024,
    mask_channels: int = 256,
    rpn_top_n: Sequence[int] = (2000, 1000),
    detections_per_img: int = 100,
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> PanopticModel:
    """Panoptic FPN on ResNet-101: Mask R-CNN + semantic FPN head, heuristic fusion."""
    return panoptic_model(
        semantic_head="fpn", cascade=False, deformable_fpn=False, info_sharing=False, prototypes=False, ranking=False,
        uncertainty=False, panoptic_loss=False, **_common(locals()),
    )  # fmt: skip


@register_model(task="panoptic", paper="Xiong et al., UPSNet: A Unified Panoptic Segmentation Network, arXiv:1901.03784")
def upsnet_r50(
    *,
    num_classes: int = 133,
    thing_ids: Sequence[int] = COCO_THINGS,
    stuff_ids: Sequence[int] = COCO_STUFF,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet50",
    fuser: str = "upsnet",
    crf: bool = False,
    fpn_channels: int = 256,
    box_channels: int = 1024,
    mask_channels: int = 256,
    rpn_top_n: Sequence[int] = (2000, 1000),
    detections_per_img: int = 100,
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> PanopticModel:
    """UPSNet on ResNet-50: Panoptic-FPN branches and the parameter-free panoptic head (unknown channel)."""
    return panoptic_model(
        semantic_head="fpn", cascade=False, deformable_fpn=False, info_sharing=False, prototypes=False, ranking=False,
        uncertainty=False, panoptic_loss=True, **_common(locals()),
    )  # fmt: skip


@register_model(task="panoptic", paper="Seed 002: panoptic challenge entry (Cascade R-CNN arXiv:1906.09756, DCN arXiv:1703.06211, UPSNet arXiv:1901.03784)")
def panoptic_cascade_x101_dcn(
    *,
    num_classes: int = 133,
    thing_ids: Sequence[int] = COCO_THINGS,
    stuff_ids: Sequence[int] = COCO_STUFF,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnext101_64x4d",
    fuser: str = "upsnet",
    crf: bool = True,
    fpn_channels: int = 256,
    box_channels: int = 1024,
    mask_channels: int = 256,
    rpn_top_n: Sequence[int] = (2000, 1000),
    detections_per_img: int = 100,
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> PanopticModel:
    """Seed 002: ResNeXt-101 64x4d, deformable P3-P5, Cascade Mask R-CNN (mask from the middle stage),
    deformable concatenating semantic head, UPSNet panoptic head; ``predict`` refines the segments'
    edges with a dense CRF (``crf=True``; pass ``crf=False`` to skip it)."""
    return panoptic_model(
        semantic_head="fpn_dcn_concat", cascade=True, deformable_fpn=True, info_sharing=False, prototypes=False,
        ranking=False, uncertainty=False, panoptic_loss=True, **_common(locals()),
    )  # fmt: skip
