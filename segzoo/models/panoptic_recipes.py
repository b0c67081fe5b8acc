"""Registered panoptic models: seed 000 (SE attention panoptic network), Panoptic FPN, UPSNet
and seed 002 (Cascade + DCN + UPSNet head).

COCO panoptic defaults: 133 classes, train ids 0-79 things and 80-132 stuff (the ranking
of the original category ids that ``segzoo.data.COCOPanoptic`` uses). For tiny test or CPU
variants pass ``backbone="tiny"`` and small ``fpn_channels`` / ``box_channels`` /
``mask_channels``. The detector's layout options (``fpn_norm``, ``rpn_convs``, ``box_head``,
``head_norm``; see :class:`~segzoo.models.options.PanopticOptions`) select Mask R-CNN's layout
(default) or the improved one of Li et al., arXiv:2111.11429 (torchvision's ``maskrcnn_resnet50_fpn_v2``).
"""

from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from ..heads import DeformableSemanticHead, FCNSemanticHead, PrototypeModule, SemanticFPNHead, SpatialRankingModule
from ..losses import UncertaintyWeighting
from ..necks import FPN
from .options import PanopticOptions
from .panoptic.cascade import build_cascade_heads
from .panoptic.detector import build_mask_rcnn_heads, build_rpn
from .panoptic.model import PanopticModel
from .registry import register_model, register_variant

__all__ = ["panoptic_model", "semantic_head_for"]

SEED000 = "Seed 000: Panoramic Image Segmentation Using Attention Mechanism with ResNet-50 Backbone and Multi-Task Learning"
PANOPTIC_FPN = "Kirillov et al., Panoptic Feature Pyramid Networks, arXiv:1901.02446"
UPSNET = "Xiong et al., UPSNet: A Unified Panoptic Segmentation Network, arXiv:1901.03784"
SEED002 = "Seed 002: panoptic challenge entry (Cascade R-CNN arXiv:1906.09756, DCN arXiv:1703.06211, UPSNet arXiv:1901.03784)"
FPN_STRIDES = (4, 8, 16, 32)


def semantic_head_for(o: PanopticOptions, kind: str) -> nn.Module:
    """A semantic head on P2-P5 by name: ``"fcn"`` (seed 000: FCN's skips with learned deconvolutions;
    ``"fcn_bilinear"`` with fixed bilinear upsampling), ``"fpn"`` (Panoptic FPN, levels summed),
    ``"upsnet"`` (UPSNet and seed 002: one subnet of three deformable convs shared by the levels,
    concatenated), ``"upsnet_per_level"`` (the same with a subnet per level) or ``"fpn_dcn_concat"``
    (one deformable conv per level, concatenated: segzoo's earlier reading of seed 002)."""
    if kind in ("upsnet", "upsnet_per_level"):
        return DeformableSemanticHead(o.fpn_channels, num_classes=o.num_classes, strides=FPN_STRIDES,
                                      channels=o.semantic_channels, shared=kind == "upsnet")  # fmt: skip
    if kind in ("fcn", "fcn_bilinear"):
        return FCNSemanticHead(o.fpn_channels, num_classes=o.num_classes, channels=o.semantic_channels,
                               upsample="deconv" if kind == "fcn" else "bilinear")  # fmt: skip
    if kind in ("fpn", "fpn_dcn_concat"):
        deform = kind == "fpn_dcn_concat"
        return SemanticFPNHead(o.fpn_channels, num_classes=o.num_classes, strides=FPN_STRIDES, channels=o.semantic_channels,
                               merge="concat" if deform else "sum", deformable=deform)  # fmt: skip
    raise ValueError(
        f"semantic_head must be 'fcn', 'fcn_bilinear', 'fpn', 'upsnet', 'upsnet_per_level', 'fpn_dcn_concat' or a module, got {kind!r}."
    )


def panoptic_model(
    o: PanopticOptions,
    *,
    semantic_head: str | nn.Module = "fpn",
    roi_heads: str = "mask_rcnn",
    deformable_fpn: bool = False,
    info_sharing: bool = False,
    prototypes: PrototypeModule | None = None,
    ranking: SpatialRankingModule | None = None,
    uncertainty: UncertaintyWeighting | None = None,
    panoptic_loss: bool = False,
    roi_options: Mapping[str, Any] | None = None,
) -> PanopticModel:
    """Assemble a panoptic network from its parts (the whole architecture on one screen).

    Backbone (4 levels at strides 4-32) -> FPN (P2-P6, deformable P3-P5 with ``deformable_fpn``)
    -> RPN + ``roi_heads`` (``"mask_rcnn"`` or ``"cascade"``: Cascade Mask R-CNN, 3 stages) and
    the semantic head (a name of :func:`semantic_head_for` or a module taking P2-P5 and returning
    ``(logits, features)`` at stride 4). Optional branches are modules or ``None``: seed 000's
    ``prototypes`` and OANet's ``ranking`` module, ``uncertainty`` loss weighting;
    ``info_sharing`` feeds the semantic features to the mask head; ``panoptic_loss`` trains
    UPSNet's panoptic cross entropy; ``roi_options`` go to the RoI heads' builder (e.g. the
    Cascade's ``mask_stage`` and ``detection_stage``).
    """
    encoder = o.encoder()
    if tuple(f.stride for f in encoder.feature_info) != FPN_STRIDES:
        raise ValueError(
            f"Panoptic models need a backbone with 4 levels at strides 4, 8, 16, 32 (P2-P5); got strides "
            f"{[f.stride for f in encoder.feature_info]}."
        )
    neck = FPN(encoder.feature_info, out_channels=o.fpn_channels, p6=True, norm=o.fpn_norm,
               deformable_levels=(1, 2, 3) if deformable_fpn else (), global_context=o.fpn_context)  # fmt: skip
    if o.semantic_head is not None and isinstance(semantic_head, str):  # the caller's choice wins over the recipe's
        semantic_head = o.semantic_head
    sem = semantic_head_for(o, semantic_head) if isinstance(semantic_head, str) else semantic_head
    builders = {"mask_rcnn": build_mask_rcnn_heads, "cascade": build_cascade_heads}
    if roi_heads not in builders:
        raise ValueError(f"roi_heads must be 'mask_rcnn' or 'cascade', got {roi_heads!r}.")
    if roi_heads == "cascade" and o.roi_align != "v1":
        raise ValueError(f"roi_align={o.roi_align!r} is available for the Mask R-CNN heads only; the Cascade heads use 'v1'.")
    heads = builders[roi_heads](
        num_thing_classes=len(o.thing_ids), in_channels=o.fpn_channels, box_channels=o.box_channels,
        semantic_channels=sem.out_channels if info_sharing else None, mask_channels=o.mask_channels,
        detections_per_img=o.detections_per_img, box_head=o.box_head, norm=o.head_norm,
        **({} if roi_heads == "cascade" else {"roi_align": o.roi_align}), **(roi_options or {}),
    )  # fmt: skip
    top_n = tuple(int(n) for n in o.rpn_top_n)
    return PanopticModel(
        backbone=encoder,
        neck=neck,
        semantic_head=sem,
        rpn=build_rpn(in_channels=o.fpn_channels, pre_nms_top_n=top_n, post_nms_top_n=top_n, conv_depth=o.rpn_convs,
                      exact_anchors=o.exact_anchors),
        roi_heads=heads,
        thing_ids=o.thing_ids,
        stuff_ids=o.stuff_ids,
        info_sharing=info_sharing,
        prototypes=prototypes,
        ranking=ranking,
        uncertainty=uncertainty,
        fuser=o.fuser,
        panoptic_loss=panoptic_loss,
        crf=o.crf,
        mask_paste=o.mask_paste,
        **o.model_kwargs(),
    )


@register_model(task="panoptic", paper=SEED000, options=PanopticOptions(backbone="seresnet50", fuser="spatial_ranking"))
def panoptic_se_r50(o: PanopticOptions) -> PanopticModel:
    """Seed 000: SE-ResNet-50 + FPN, FCN semantic branch, Mask R-CNN with semantic information flow,
    prototype masks, spatial ranking, uncertainty weighting; heuristic fusion ordered by ranking."""
    sem = semantic_head_for(o, o.semantic_head or "fcn")
    return panoptic_model(
        o,
        semantic_head=sem,
        info_sharing=True,
        prototypes=PrototypeModule(o.fpn_channels, num_classes=o.num_classes, semantic_channels=sem.out_channels),
        ranking=SpatialRankingModule(len(o.thing_ids)),
        uncertainty=UncertaintyWeighting(("semantic", "instance")),
    )


@register_model(task="panoptic", paper=PANOPTIC_FPN, options=PanopticOptions(backbone="resnet50"))
def panoptic_fpn_r50(o: PanopticOptions) -> PanopticModel:
    """Panoptic FPN on ResNet-50: Mask R-CNN + semantic FPN head, heuristic fusion."""
    return panoptic_model(o, semantic_head="fpn")


register_variant(
    "panoptic_fpn_r50", "panoptic_fpn_r101", backbone="resnet101",
    description="Panoptic FPN on ResNet-101: Mask R-CNN + semantic FPN head, heuristic fusion.",
)  # fmt: skip


@register_model(task="panoptic", paper=UPSNET, options=PanopticOptions(backbone="resnet50", fuser="upsnet"))
def upsnet_r50(o: PanopticOptions) -> PanopticModel:
    """UPSNet on ResNet-50: Mask R-CNN branches, the paper's semantic head (one subnet of three deformable
    convs shared by P2-P5, concatenated; ``semantic_head="fpn"`` for Panoptic FPN's instead) and the
    parameter-free panoptic head (unknown channel)."""
    return panoptic_model(o, semantic_head="upsnet", panoptic_loss=True)


@register_model(task="panoptic", paper=SEED002,
                options=PanopticOptions(backbone="resnext101_64x4d", fuser="upsnet", crf=True))  # fmt: skip
def panoptic_cascade_x101_dcn(o: PanopticOptions) -> PanopticModel:
    """Seed 002: ResNeXt-101 64x4d, deformable P3-P5, Cascade Mask R-CNN whose middle stage is the
    instance flow (the mask head trains on its RoIs and the test detections are its boxes),
    UPSNet's semantic head (P2-P5 "go through the same deformable convolution network independently":
    one shared subnet, as in UPSNet, which the seed builds on; ``semantic_head="upsnet_per_level"``
    gives each level its own), UPSNet panoptic head; ``predict`` refines the segments' edges with a
    dense CRF fed the model's own probabilities (``crf=True``; pass ``crf=False`` to skip it)."""
    return panoptic_model(
        o, semantic_head="upsnet", roi_heads="cascade", deformable_fpn=True, panoptic_loss=True,
        roi_options={"mask_stage": 1, "detection_stage": 1},
    )  # fmt: skip
