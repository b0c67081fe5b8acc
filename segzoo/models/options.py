"""The options recipes share, declared once: a dataclass per family.

A recipe takes its family's options object as its one positional argument and lists only
its own options as keywords::

    @register_model(paper="...", options=ModelOptions(backbone="resnet50"))
    def fcn_r50(o: ModelOptions, *, output_stride: int = 8, aux: bool = True, loss: str = "ce") -> SemanticModel:
        encoder = o.encoder(output_stride=output_stride)
        ...

``register_model`` gives the registered recipe the flat keyword-only signature users see
(``segzoo.build("fcn_r50", backbone="resnet101", output_stride=16)``, ``model_info``): the
options' fields with the defaults of the instance passed as ``options=``, then the recipe's
own keywords. ``segzoo.catalog`` reads these classes from source, so keep their defaults
literals or module-level names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

from torch import nn

from ..backbones import resolve_backbone

__all__ = ["ModelOptions", "MultiScaleOptions", "PanopticOptions", "COCO_THINGS", "COCO_STUFF"]

# COCO panoptic train ids (categories ranked by id, as segzoo.data.COCOPanoptic assigns them).
COCO_THINGS = tuple(range(80))
COCO_STUFF = tuple(range(80, 133))


@dataclass(frozen=True)
class ModelOptions:
    """What every recipe takes.

    Attributes:
        num_classes: classes the model predicts.
        in_chans: input channels (the backbone's stem is adapted when it is not 3).
        backbone: a registered backbone name (``segzoo.backbones.list_backbones()``) or a module.
        pretrained_backbone: load the backbone's ImageNet weights (downloaded through timm/torchvision).
        backbone_weights: a local file with the backbone's weights (for machines without network).
        mean, std: the input normalisation (ImageNet statistics by default).
    """

    num_classes: int = 21
    in_chans: int = 3
    backbone: str | nn.Module = "resnet50"
    pretrained_backbone: bool = False
    backbone_weights: str | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None

    def encoder(self, *, output_stride: int | None = None) -> nn.Module:
        """The backbone these options describe (dilated to ``output_stride`` when given)."""
        return resolve_backbone(
            self.backbone, output_stride=output_stride, in_chans=self.in_chans, pretrained=self.pretrained_backbone,
            weights=self.backbone_weights,
        )  # fmt: skip

    def model_kwargs(self) -> dict[str, Any]:
        """The keywords every :class:`~segzoo.models.base.SegmentationModel` takes: classes, channels, normalisation."""
        return {"num_classes": self.num_classes, "in_chans": self.in_chans, "mean": self.mean, "std": self.std}

    def replace(self, **changes: Any) -> "ModelOptions":
        """A copy with some options changed (options are frozen)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class MultiScaleOptions(ModelOptions):
    """Multi-scale recipes: also the scales ``predict`` and evaluation use."""

    scales: Sequence[float] = (0.5, 1.0)


@dataclass(frozen=True)
class PanopticOptions(ModelOptions):
    """Panoptic recipes (COCO panoptic defaults: 133 classes, train ids 0-79 things, 80-132 stuff).

    Attributes:
        thing_ids, stuff_ids: the train ids of thing and stuff classes.
        fuser: the panoptic fuser (``heuristic``, ``spatial_ranking``, ``upsnet``) or a module.
        crf: refine the segments' edges with a dense CRF in ``predict``.
        fpn_channels, box_channels, mask_channels: widths of the FPN, box head and mask head.
        semantic_channels: width of the semantic head's convs (128 in Panoptic FPN).
        rpn_top_n: proposals kept (training, testing) before and after NMS.
        detections_per_img: detections kept per image.
        fpn_norm, rpn_convs, box_head, head_norm: the detector's layout. Mask R-CNN's (He et al.,
            arXiv:1703.06870; torchvision's ``maskrcnn_resnet50_fpn``) by default: no norm in the FPN
            (``None``), one conv in the RPN head, the ``"2fc"`` box head, no norm in the box and mask
            heads' convs. The improved Mask R-CNN of Li et al., "Benchmarking Detection Transfer
            Learning with Vision Transformers", arXiv:2111.11429 (torchvision's
            ``maskrcnn_resnet50_fpn_v2``): ``fpn_norm="bn", rpn_convs=2, box_head="4conv1fc",
            head_norm="bn"`` (norms: ``"bn"``, ``"gn"``, ``"syncbn"`` for the heads, or ``None``).
        exact_anchors, roi_align, mask_paste: the detector's conventions. segzoo's defaults are
            torchvision's (whole-pixel anchors, ``"v1"`` RoIAlign, ``"resize"`` mask paste);
            Detectron2's weights need Detectron2's (``exact_anchors=True``, ``"v2"``: ROIAlignV2,
            ``"sample"``: bilinear sampling at pixel centres), which its tags set.
        semantic_head: the semantic head by name, ``None`` for the recipe's own (``"fpn"``: Panoptic
            FPN's, ``"fcn"``: seed 000's, ``"upsnet"``: UPSNet's and seed 002's shared deformable
            subnet, ``"upsnet_per_level"``: one subnet per level, ``"fpn_dcn_concat"``: one deformable
            conv per level).
        fpn_context: add a linear map of C5's global average to the FPN's top lateral (UPSNet's
            COCO configuration, ``fpn_with_gap``; its ``upsnet_coco`` tag sets it).
    """

    num_classes: int = 133
    thing_ids: Sequence[int] = COCO_THINGS
    stuff_ids: Sequence[int] = COCO_STUFF
    fuser: str | nn.Module = "heuristic"
    crf: bool = False
    fpn_channels: int = 256
    box_channels: int = 1024
    mask_channels: int = 256
    semantic_channels: int = 128
    rpn_top_n: Sequence[int] = (2000, 1000)
    detections_per_img: int = 100
    fpn_norm: str | None = None
    rpn_convs: int = 1
    box_head: str = "2fc"
    head_norm: str | None = None
    exact_anchors: bool = False
    roi_align: str = "v1"
    mask_paste: str = "resize"
    semantic_head: str | None = None
    fpn_context: bool = False
