"""Registered multi-scale models: seed 004 (attention to refine through multi-scales, with the
attention-to-scale and avg/max baselines) and seed 003 (hierarchical multi-scale attention).

Every recipe wraps a semantic recipe in a :class:`MultiScaleModel` with a scale fuser chosen
by name; ``fuser=`` swaps it (``avg``, ``max``, ``attention_to_scale``, ``refine_multiscale``,
``hmsa``).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from ..backbones import resolve_backbone
from ..fusers import create_fuser
from ..heads import FCNHead, PSPHead
from .attention_recipes import ocrnet_hrnet_w48
from .multiscale import MultiScaleModel
from .registry import register_model
from .semantic import SemanticModel
from .semantic_recipes import deeplabv3p_mobilenetv2, deeplabv3p_r50, largefov_vgg16

__all__ = ["make_fuser"]

SEED004 = "Yang & Peng, Attention to Refine through Multi-Scales for Semantic Segmentation (seed 004)"
A2S = "Chen et al., Attention to Scale: Scale-aware Semantic Image Segmentation, arXiv:1511.03339"
HMSA = "Tao et al., Hierarchical Multi-Scale Attention for Semantic Segmentation, arXiv:2005.10821"


def make_fuser(name: str, model: SemanticModel, *, num_scales: int, dilations: Sequence[int] | None = None) -> nn.Module:
    """A scale fuser by name, sized from the wrapped model's features and classes."""
    channels = [f.channels for f in model.feature_info]
    if name in ("avg", "max"):
        return create_fuser(name)
    if name == "attention_to_scale":
        return create_fuser(name, in_channels=channels[-1], num_scales=num_scales)
    if name == "refine_multiscale":
        dilations = tuple(dilations) if dilations else ((2, 12) if num_scales == 2 else tuple(range(2, 2 + 10 * num_scales, 10)))
        if len(dilations) != num_scales:
            raise ValueError(f"refine_multiscale needs one dilation per scale: {num_scales} scales, dilations {dilations}.")
        return create_fuser(name, in_channels=channels, num_classes=model.num_classes, dilations=dilations)
    if name == "hmsa":
        return create_fuser(name, in_channels=channels[-1])
    return create_fuser(name)  # raises with close matches for unknown names


def _r34d8(
    *, num_classes: int, in_chans: int, backbone: str | nn.Module, psp: bool, pretrained_backbone: bool,
    backbone_weights: str | None, mean: Sequence[float] | None, std: Sequence[float] | None,
) -> SemanticModel:  # fmt: skip
    """Seed 004's ADE20K baseline: ResNet-34 dilated to output stride 8 with an FCN (or PSP, no aux) head."""
    encoder = resolve_backbone(
        backbone, output_stride=8, in_chans=in_chans, pretrained=pretrained_backbone, weights=backbone_weights
    )
    channels = encoder.feature_info[-1].channels
    head = PSPHead(channels, num_classes=num_classes) if psp else FCNHead(channels, num_classes=num_classes)
    return SemanticModel(backbone=encoder, decode_head=head, num_classes=num_classes, in_chans=in_chans, mean=mean, std=std)


def _largefov(num_classes, in_chans, backbone, pretrained_backbone, backbone_weights, mean, std) -> SemanticModel:
    return largefov_vgg16(
        num_classes=num_classes, in_chans=in_chans, backbone=backbone, pretrained_backbone=pretrained_backbone,
        backbone_weights=backbone_weights, mean=mean, std=std,
    )  # fmt: skip


@register_model(paper=A2S)
def a2s_largefov_vgg16(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "vgg16_largefov",
    scales: Sequence[float] = (0.5, 1.0),
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> MultiScaleModel:
    """Attention-to-scale on DeepLab-LargeFOV (scales 1x and 0.5x, 1 + S losses)."""
    base = _largefov(num_classes, in_chans, backbone, pretrained_backbone, backbone_weights, mean, std)
    return MultiScaleModel(model=base, fuser=make_fuser("attention_to_scale", base, num_scales=len(scales)), scales=scales)


@register_model(paper=SEED004)
def msrefine_largefov_vgg16(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "vgg16_largefov",
    scales: Sequence[float] = (0.5, 1.0),
    dilations: Sequence[int] = (2, 12),
    fuser: str = "refine_multiscale",
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> MultiScaleModel:
    """Seed 004 on DeepLab-LargeFOV (VOC): hypercolumn location attention + recalibration, scales 1x and 0.5x."""
    base = _largefov(num_classes, in_chans, backbone, pretrained_backbone, backbone_weights, mean, std)
    return MultiScaleModel(
        model=base, fuser=make_fuser(fuser, base, num_scales=len(scales), dilations=dilations), scales=scales
    )


@register_model(paper=SEED004)
def msavg_largefov_vgg16(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "vgg16_largefov",
    scales: Sequence[float] = (0.5, 1.0),
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> MultiScaleModel:
    """Seed 004's baseline: LargeFOV streams at 1x and 0.5x merged by average pooling."""
    base = _largefov(num_classes, in_chans, backbone, pretrained_backbone, backbone_weights, mean, std)
    return MultiScaleModel(model=base, fuser=make_fuser("avg", base, num_scales=len(scales)), scales=scales)


@register_model(paper=SEED004)
def msmax_largefov_vgg16(
    *,
    num_classes: int = 21,
    in_chans: int = 3,
    backbone: str | nn.Module = "vgg16_largefov",
    scales: Sequence[float] = (0.5, 1.0),
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> MultiScaleModel:
    """Seed 004's baseline: LargeFOV streams at 1x and 0.5x merged by max pooling."""
    base = _largefov(num_classes, in_chans, backbone, pretrained_backbone, backbone_weights, mean, std)
    return MultiScaleModel(model=base, fuser=make_fuser("max", base, num_scales=len(scales)), scales=scales)


@register_model(paper=SEED004)
def msrefine_r34d8(
    *,
    num_classes: int = 150,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet34",
    scales: Sequence[float] = (0.5, 1.0),
    dilations: Sequence[int] = (2, 12),
    fuser: str = "refine_multiscale",
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> MultiScaleModel:
    """Seed 004 on ResNet34-dilated8 (ADE20K): refine-multiscale attention, scales 1x and 0.5x."""
    base = _r34d8(
        num_classes=num_classes, in_chans=in_chans, backbone=backbone, psp=False, pretrained_backbone=pretrained_backbone,
        backbone_weights=backbone_weights, mean=mean, std=std,
    )  # fmt: skip
    return MultiScaleModel(
        model=base, fuser=make_fuser(fuser, base, num_scales=len(scales), dilations=dilations), scales=scales
    )


@register_model(paper=SEED004)
def msrefine_r34d8_psp(
    *,
    num_classes: int = 150,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet34",
    scales: Sequence[float] = (0.5, 1.0),
    dilations: Sequence[int] = (2, 12),
    fuser: str = "refine_multiscale",
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> MultiScaleModel:
    """Seed 004's best ADE20K row: ResNet34-dilated8 + PSP (no aux loss) + refine-multiscale attention."""
    base = _r34d8(
        num_classes=num_classes, in_chans=in_chans, backbone=backbone, psp=True, pretrained_backbone=pretrained_backbone,
        backbone_weights=backbone_weights, mean=mean, std=std,
    )  # fmt: skip
    return MultiScaleModel(
        model=base, fuser=make_fuser(fuser, base, num_scales=len(scales), dilations=dilations), scales=scales
    )


def _hmsa(base: SemanticModel, scales: Sequence[float], train_scales: Sequence[float]) -> MultiScaleModel:
    return MultiScaleModel(
        model=base, fuser=make_fuser("hmsa", base, num_scales=len(train_scales)), scales=scales, train_scales=train_scales
    )


@register_model(paper=HMSA)
def hmsa_deeplabv3p_mobilenetv2(
    *,
    num_classes: int = 19,
    in_chans: int = 3,
    backbone: str | nn.Module = "mobilenetv2_100",
    scales: Sequence[float] = (0.5, 1.0, 2.0),
    train_scales: Sequence[float] = (0.5, 1.0),
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> MultiScaleModel:
    """HMSA on DeepLabV3+ / MobileNetV2 (Cityscapes 19 classes): trained on (0.5, 1), run on (0.5, 1, 2)."""
    base = deeplabv3p_mobilenetv2(
        num_classes=num_classes, in_chans=in_chans, backbone=backbone, pretrained_backbone=pretrained_backbone,
        backbone_weights=backbone_weights, mean=mean, std=std,
    )  # fmt: skip
    return _hmsa(base, scales, train_scales)


@register_model(paper=HMSA)
def hmsa_deeplabv3p_r50(
    *,
    num_classes: int = 19,
    in_chans: int = 3,
    backbone: str | nn.Module = "resnet50",
    scales: Sequence[float] = (0.5, 1.0, 2.0),
    train_scales: Sequence[float] = (0.5, 1.0),
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> MultiScaleModel:
    """HMSA on DeepLabV3+ / ResNet-50 (Cityscapes 19 classes): trained on (0.5, 1), run on (0.5, 1, 2)."""
    base = deeplabv3p_r50(
        num_classes=num_classes, in_chans=in_chans, backbone=backbone, aux=False,
        pretrained_backbone=pretrained_backbone, backbone_weights=backbone_weights, mean=mean, std=std,
    )  # fmt: skip
    return _hmsa(base, scales, train_scales)


@register_model(paper=HMSA)
def hmsa_ocrnet_hrnet_w48(
    *,
    num_classes: int = 19,
    in_chans: int = 3,
    backbone: str | nn.Module = "hrnet_w48",
    scales: Sequence[float] = (0.5, 1.0, 2.0),
    train_scales: Sequence[float] = (0.5, 1.0),
    pretrained_backbone: bool = False,
    backbone_weights: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> MultiScaleModel:
    """HMSA on HRNet-OCR (W48), the paper's main model: trained on (0.5, 1), run on (0.5, 1, 2)."""
    base = ocrnet_hrnet_w48(
        num_classes=num_classes, in_chans=in_chans, backbone=backbone, pretrained_backbone=pretrained_backbone,
        backbone_weights=backbone_weights, mean=mean, std=std,
    )  # fmt: skip
    return _hmsa(base, scales, train_scales)
