"""Registered attention models: DANet, Non-local, OCRNet (HRNet) and AinnoSeg (seed 001).

Each recipe declares its loss: the pixel loss (``loss``) and the weight of each supervised
output (``loss_weights``), which ``model.loss`` / ``segzoo.losses.for_model`` apply.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from torch import nn

from ..backbones import resolve_backbone
from ..heads import AinnoSegHead, DANetHead, FCNHead, NonLocalHead, OCRHead
from ..necks import UpsampleConcat
from .registry import register_model
from .semantic import SemanticModel

__all__ = ["danet_r50", "nonlocal_r50", "ocrnet_hrnet_w18", "ocrnet_hrnet_w48", "ainnoseg_hrnet_w48"]


def _aux_fcn(encoder: nn.Module, num_classes: int, enabled: bool) -> FCNHead | None:
    if not enabled:
        return None
    return FCNHead(encoder.feature_info[-2].channels, num_classes=num_classes, in_index=-2)


@register_model(paper="Fu et al., Dual Attention Network for Scene Segmentation, arXiv:1809.02983")
def danet_r50(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet50",
    output_stride: int = 8,
    channels: int | None = None,
    aux: bool = True,
    loss: str = "ce",
    loss_weights: Mapping[str, float] | None = None,
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> SemanticModel:
    """DANet: position + channel attention on dilated ResNet-50 (OS8); fused, position and channel outputs."""
    encoder = resolve_backbone(
        backbone, output_stride=output_stride, in_chans=in_chans, pretrained=pretrained_backbone, weights=backbone_weights
    )
    weights = {"logits": 1.0, "position": 1.0, "channel": 1.0, **({"aux": 0.4} if aux else {})}
    return SemanticModel(
        backbone=encoder,
        decode_head=DANetHead(encoder.feature_info[-1].channels, num_classes=num_classes, channels=channels),
        aux_head=_aux_fcn(encoder, num_classes, aux),
        loss=loss,
        loss_weights=loss_weights or weights,
        num_classes=num_classes,
        in_chans=in_chans,
        mean=mean,
        std=std,
    )


@register_model(paper="Wang et al., Non-local Neural Networks, arXiv:1711.07971")
def nonlocal_r50(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet50",
    output_stride: int = 8,
    channels: int = 512,
    sub_sample: bool = False,
    aux: bool = True,
    loss: str = "ce",
    loss_weights: Mapping[str, float] | None = None,
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> SemanticModel:
    """Non-local (embedded Gaussian) head on dilated ResNet-50 (OS8)."""
    encoder = resolve_backbone(
        backbone, output_stride=output_stride, in_chans=in_chans, pretrained=pretrained_backbone, weights=backbone_weights
    )
    head = NonLocalHead(encoder.feature_info[-1].channels, num_classes=num_classes, channels=channels, sub_sample=sub_sample)
    return SemanticModel(
        backbone=encoder,
        decode_head=head,
        aux_head=_aux_fcn(encoder, num_classes, aux),
        loss=loss,
        loss_weights=loss_weights,
        num_classes=num_classes,
        in_chans=in_chans,
        mean=mean,
        std=std,
    )


def _ocrnet(
    *,
    backbone: str | nn.Module,
    num_classes: int,
    in_chans: int,
    channels: int,
    key_channels: int,
    loss: str,
    loss_weights: Mapping[str, float] | None,
    pretrained_backbone: bool,
    backbone_weights: str | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
) -> SemanticModel:
    """HRNetV2 features (branches concatenated at 1/4) + OCR head; coarse logits weighted 0.4."""
    encoder = resolve_backbone(backbone, in_chans=in_chans, pretrained=pretrained_backbone, weights=backbone_weights)
    neck = UpsampleConcat(encoder.feature_info)
    head = OCRHead(neck.feature_info[0].channels, num_classes=num_classes, channels=channels, key_channels=key_channels)
    return SemanticModel(
        backbone=encoder,
        neck=neck,
        decode_head=head,
        loss=loss,
        loss_weights=loss_weights or {"logits": 1.0, "coarse": 0.4},
        num_classes=num_classes,
        in_chans=in_chans,
        mean=mean,
        std=std,
    )


_OCR_PAPER = "Yuan et al., Object-Contextual Representations for Semantic Segmentation, arXiv:1909.11065"


@register_model(paper=_OCR_PAPER)
def ocrnet_hrnet_w18(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "hrnet_w18",
    channels: int = 512,
    key_channels: int = 256,
    loss: str = "ce",
    loss_weights: Mapping[str, float] | None = None,
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> SemanticModel:
    """OCRNet on HRNetV2-W18 (branches concatenated at 1/4, 270 channels)."""
    return _ocrnet(**locals())


@register_model(paper=_OCR_PAPER)
def ocrnet_hrnet_w48(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "hrnet_w48",
    channels: int = 512,
    key_channels: int = 256,
    loss: str = "ce",
    loss_weights: Mapping[str, float] | None = None,
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> SemanticModel:
    """OCRNet on HRNetV2-W48 (branches concatenated at 1/4, 720 channels)."""
    return _ocrnet(**locals())


@register_model(paper="AinnoSeg: Panoramic Segmentation with High Performance (seed 001); HRNet arXiv:1908.07919")
def ainnoseg_hrnet_w48(
    *,
    num_classes: int = 150,
    in_chans: int = 3,
    backbone: str | nn.Module = "hrnet_w48",
    channels: int = 512,
    key_channels: int = 256,
    nonlocal_sub_sample: bool = True,
    loss: str = "boundary",
    alpha: float = 0.1,
    beta: float = 0.3,
    gamma: float = 1.0,
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> SemanticModel:
    """AinnoSeg: HRNet-W48 + dual attention + non-local + OCR; loss 0.1 L_da + 0.3 L_ocr_aux + 1.0 L_final."""
    encoder = resolve_backbone(backbone, in_chans=in_chans, pretrained=pretrained_backbone, weights=backbone_weights)
    neck = UpsampleConcat(encoder.feature_info)
    head = AinnoSegHead(
        neck.feature_info[0].channels,
        num_classes=num_classes,
        channels=channels,
        key_channels=key_channels,
        nonlocal_sub_sample=nonlocal_sub_sample,
    )
    return SemanticModel(
        backbone=encoder,
        neck=neck,
        decode_head=head,
        loss=loss,
        loss_weights={"logits": gamma, "da": alpha, "coarse": beta},
        num_classes=num_classes,
        in_chans=in_chans,
        mean=mean,
        std=std,
    )
