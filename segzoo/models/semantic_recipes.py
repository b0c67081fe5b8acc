"""Registered semantic baselines: FCN, DeepLabV3, DeepLabV3+, PSPNet, DeepLab-LargeFOV.

Each recipe is one screen that shows the whole architecture; its keyword arguments are the
model's configuration (``segzoo.model_info(name)["defaults"]``).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from ..backbones import resolve_backbone
from ..heads import DeepLabV3Head, DeepLabV3PlusHead, FCNHead, LinearHead, PSPHead
from ..layers import aspp_rates
from .registry import register_model
from .semantic import SemanticModel

__all__ = ["fcn_r50", "deeplabv3_r50", "deeplabv3p_r50", "deeplabv3p_mobilenetv2", "pspnet_r50", "largefov_vgg16"]


def _aux_head(backbone: nn.Module, num_classes: int, enabled: bool) -> FCNHead | None:
    """The auxiliary FCN head on the second-to-last level (ResNet stage 3), as in PSPNet."""
    if not enabled:
        return None
    return FCNHead(backbone.feature_info[-2].channels, num_classes=num_classes, in_index=-2)


@register_model(paper="Long et al., Fully Convolutional Networks for Semantic Segmentation, arXiv:1411.4038")
def fcn_r50(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet50",
    output_stride: int = 8,
    aux: bool = True,
    loss: str = "ce",
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> SemanticModel:
    """FCN head on a dilated ResNet-50 (output stride 8), as torchvision's fcn_resnet50."""
    encoder = resolve_backbone(
        backbone, output_stride=output_stride, in_chans=in_chans, pretrained=pretrained_backbone, weights=backbone_weights
    )
    return SemanticModel(
        backbone=encoder,
        decode_head=FCNHead(encoder.feature_info[-1].channels, num_classes=num_classes),
        aux_head=_aux_head(encoder, num_classes, aux),
        loss=loss,
        num_classes=num_classes,
        in_chans=in_chans,
        mean=mean,
        std=std,
    )


@register_model(paper="Chen et al., Rethinking Atrous Convolution for Semantic Image Segmentation, arXiv:1706.05587")
def deeplabv3_r50(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet50",
    output_stride: int = 8,
    rates: tuple[int, ...] | None = None,
    channels: int = 256,
    aux: bool = True,
    loss: str = "ce",
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> SemanticModel:
    """DeepLabV3: ASPP (rates 12/24/36 at output stride 8) on a dilated ResNet-50."""
    encoder = resolve_backbone(
        backbone, output_stride=output_stride, in_chans=in_chans, pretrained=pretrained_backbone, weights=backbone_weights
    )
    head = DeepLabV3Head(
        encoder.feature_info[-1].channels,
        num_classes=num_classes,
        channels=channels,
        rates=tuple(rates) if rates else aspp_rates(output_stride),
    )
    return SemanticModel(
        backbone=encoder,
        decode_head=head,
        aux_head=_aux_head(encoder, num_classes, aux),
        loss=loss,
        num_classes=num_classes,
        in_chans=in_chans,
        mean=mean,
        std=std,
    )


def _deeplabv3p(
    *,
    backbone: str | nn.Module,
    num_classes: int,
    in_chans: int,
    output_stride: int,
    rates: tuple[int, ...] | None,
    channels: int,
    aux: bool,
    loss: str,
    pretrained_backbone: bool,
    backbone_weights: str | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
) -> SemanticModel:
    """DeepLabV3+: ASPP on the last level, decoder with the stride-4 level (``features[0]``)."""
    encoder = resolve_backbone(
        backbone, output_stride=output_stride, in_chans=in_chans, pretrained=pretrained_backbone, weights=backbone_weights
    )
    if encoder.feature_info[0].stride != 4:
        raise ValueError(
            f"DeepLabV3+ needs a stride-4 first level for its decoder; this backbone's first level has stride "
            f"{encoder.feature_info[0].stride}."
        )
    head = DeepLabV3PlusHead(
        encoder.feature_info[-1].channels,
        low_level_channels=encoder.feature_info[0].channels,
        num_classes=num_classes,
        channels=channels,
        rates=tuple(rates) if rates else aspp_rates(output_stride),
    )
    return SemanticModel(
        backbone=encoder,
        decode_head=head,
        aux_head=_aux_head(encoder, num_classes, aux),
        loss=loss,
        num_classes=num_classes,
        in_chans=in_chans,
        mean=mean,
        std=std,
    )


_V3P_PAPER = "Chen et al., Encoder-Decoder with Atrous Separable Convolution for Semantic Image Segmentation, arXiv:1802.02611"


@register_model(paper=_V3P_PAPER)
def deeplabv3p_r50(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet50",
    output_stride: int = 16,
    rates: tuple[int, ...] | None = None,
    channels: int = 256,
    aux: bool = True,
    loss: str = "ce",
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> SemanticModel:
    """DeepLabV3+ on ResNet-50 (output stride 16, decoder with 1/4 low-level features)."""
    return _deeplabv3p(**locals())


@register_model(paper=_V3P_PAPER)
def deeplabv3p_mobilenetv2(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "mobilenetv2_100",
    output_stride: int = 16,
    rates: tuple[int, ...] | None = None,
    channels: int = 256,
    aux: bool = False,
    loss: str = "ce",
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> SemanticModel:
    """DeepLabV3+ on MobileNetV2 (output stride 16), the light baseline of seed 003."""
    return _deeplabv3p(**locals())


@register_model(paper="Zhao et al., Pyramid Scene Parsing Network, arXiv:1612.01105")
def pspnet_r50(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet50",
    output_stride: int = 8,
    bins: tuple[int, ...] = (1, 2, 3, 6),
    channels: int = 512,
    aux: bool = True,
    loss: str = "ce",
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> SemanticModel:
    """PSPNet: pyramid pooling (bins 1, 2, 3, 6) on a dilated ResNet-50 (output stride 8)."""
    encoder = resolve_backbone(
        backbone, output_stride=output_stride, in_chans=in_chans, pretrained=pretrained_backbone, weights=backbone_weights
    )
    head = PSPHead(encoder.feature_info[-1].channels, num_classes=num_classes, channels=channels, bins=tuple(bins))
    return SemanticModel(
        backbone=encoder,
        decode_head=head,
        aux_head=_aux_head(encoder, num_classes, aux),
        loss=loss,
        num_classes=num_classes,
        in_chans=in_chans,
        mean=mean,
        std=std,
    )


@register_model(
    paper="Chen et al., Semantic Image Segmentation with Deep Convolutional Nets and Fully Connected CRFs, arXiv:1412.7062"
)
def largefov_vgg16(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "vgg16_largefov",
    output_stride: int = 8,
    loss: str = "ce",
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> SemanticModel:
    """DeepLab-LargeFOV: VGG16 with fc6 dilated 12 (1024 channels), fc7, fc8 classifier; stride 8."""
    encoder = resolve_backbone(
        backbone, output_stride=output_stride, in_chans=in_chans, pretrained=pretrained_backbone, weights=backbone_weights
    )
    return SemanticModel(
        backbone=encoder,
        decode_head=LinearHead(encoder.feature_info[-1].channels, num_classes=num_classes),
        loss=loss,
        num_classes=num_classes,
        in_chans=in_chans,
        mean=mean,
        std=std,
    )
