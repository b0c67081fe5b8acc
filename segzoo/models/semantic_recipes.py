"""Registered semantic baselines: FCN, DeepLabV3, DeepLabV3+, PSPNet, DeepLab-LargeFOV.

Each recipe is one screen that shows the whole architecture; its keyword arguments (and the
shared :class:`~segzoo.models.options.ModelOptions`) are the model's configuration
(``segzoo.model_info(name)["defaults"]``).
"""

from __future__ import annotations

from torch import nn

from ..heads import DeepLabV3Head, DeepLabV3PlusHead, FCNHead, LinearHead, PSPHead
from ..layers import aspp_rates
from .options import ModelOptions
from .registry import register_model, register_variant
from .semantic import SemanticModel

__all__ = ["fcn_r50", "deeplabv3_r50", "deeplabv3p_r50", "pspnet_r50", "largefov_vgg16", "aux_fcn_head"]


def aux_fcn_head(encoder: nn.Module, num_classes: int, enabled: bool, index: int = -2) -> FCNHead | None:
    """The auxiliary FCN head on level ``index`` (default the second-to-last: ResNet stage 3), as in PSPNet (weight 0.4)."""
    if not enabled:
        return None
    return FCNHead(encoder.feature_info[index].channels, num_classes=num_classes, in_index=index)


@register_model(paper="Long et al., Fully Convolutional Networks for Semantic Segmentation, arXiv:1411.4038",
                options=ModelOptions(backbone="resnet50"))  # fmt: skip
def fcn_r50(
    o: ModelOptions,
    *,
    output_stride: int = 8,
    head_convs: int = 1,
    concat_input: bool = False,
    aux: bool = True,
    loss: str = "ce",
) -> SemanticModel:
    """FCN head on a dilated ResNet-50 (output stride 8), as torchvision's fcn_resnet50 (one 3x3 conv);
    MMSegmentation's FCN R50-D8 head: ``head_convs=2, concat_input=True``."""
    encoder = o.encoder(output_stride=output_stride)
    channels = encoder.feature_info[-1].channels
    return SemanticModel(
        backbone=encoder,
        decode_head=FCNHead(channels, num_classes=o.num_classes, num_convs=head_convs, concat_input=concat_input),
        aux_head=aux_fcn_head(encoder, o.num_classes, aux),
        loss=loss,
        **o.model_kwargs(),
    )


register_variant(
    "fcn_r50", "fcn_r101", backbone="resnet101",
    description="FCN head on a dilated ResNet-101 (output stride 8), as torchvision's fcn_resnet101.",
)  # fmt: skip


@register_model(paper="Chen et al., Rethinking Atrous Convolution for Semantic Image Segmentation, arXiv:1706.05587",
                options=ModelOptions(backbone="resnet50"))  # fmt: skip
def deeplabv3_r50(
    o: ModelOptions,
    *,
    output_stride: int = 8,
    rates: tuple[int, ...] | None = None,
    channels: int = 256,
    aux: bool = True,
    aux_index: int = -2,
    head_layout: str = "torchvision",
    loss: str = "ce",
) -> SemanticModel:
    """DeepLabV3: ASPP (rates 12/24/36 at output stride 8) on a dilated ResNet-50.

    ``aux_index`` is the backbone level the auxiliary FCN head reads (ResNet stage 3 by default).
    ``head_layout``: ``"torchvision"`` (ASPP projected by a 1x1 conv, then a 3x3 conv) or ``"mmseg"``
    (MMSegmentation's ASPPHead: image pooling first, a 3x3 bottleneck over the concatenation).
    """
    encoder = o.encoder(output_stride=output_stride)
    head = DeepLabV3Head(
        encoder.feature_info[-1].channels,
        num_classes=o.num_classes,
        channels=channels,
        rates=tuple(rates) if rates else aspp_rates(output_stride),
        layout=head_layout,
    )
    return SemanticModel(
        backbone=encoder, decode_head=head, aux_head=aux_fcn_head(encoder, o.num_classes, aux, aux_index), loss=loss,
        **o.model_kwargs(),
    )  # fmt: skip


register_variant(
    "deeplabv3_r50", "deeplabv3_r101", backbone="resnet101",
    description="DeepLabV3 on a dilated ResNet-101 (output stride 8), as torchvision's deeplabv3_resnet101.",
)  # fmt: skip

register_variant(
    "deeplabv3_r50", "deeplabv3_mobilenetv3", backbone="mobilenetv3_large_100_tv", output_stride=16, rates=(12, 24, 36),
    aux_index=1,
    description="DeepLabV3 on MobileNetV3-Large (output stride 16, ASPP rates 12/24/36, auxiliary head on the "
    "40-channel stride-8 level), as torchvision's deeplabv3_mobilenet_v3_large.",
)  # fmt: skip


@register_model(
    paper="Chen et al., Encoder-Decoder with Atrous Separable Convolution for Semantic Image Segmentation, arXiv:1802.02611",
    options=ModelOptions(backbone="resnet50"),
)
def deeplabv3p_r50(
    o: ModelOptions,
    *,
    output_stride: int = 16,
    rates: tuple[int, ...] | None = None,
    channels: int = 256,
    separable: bool = True,
    head_layout: str = "torchvision",
    aux: bool = True,
    loss: str = "ce",
) -> SemanticModel:
    """DeepLabV3+ on ResNet-50 (output stride 16, decoder with 1/4 low-level features); ``separable``:
    depthwise separable atrous ASPP branches and decoder convs (the paper's; ``False``: full convs);
    ``head_layout="mmseg"``: MMSegmentation's DepthwiseSeparableASPPHead (see DeepLabV3PlusHead)."""
    encoder = o.encoder(output_stride=output_stride)
    if encoder.feature_info[0].stride != 4:
        raise ValueError(
            f"DeepLabV3+ needs a stride-4 first level for its decoder; this backbone's first level has stride "
            f"{encoder.feature_info[0].stride}."
        )
    head = DeepLabV3PlusHead(
        encoder.feature_info[-1].channels,
        low_level_channels=encoder.feature_info[0].channels,
        num_classes=o.num_classes,
        channels=channels,
        rates=tuple(rates) if rates else aspp_rates(output_stride),
        separable=separable,
        layout=head_layout,
    )
    return SemanticModel(
        backbone=encoder, decode_head=head, aux_head=aux_fcn_head(encoder, o.num_classes, aux), loss=loss,
        **o.model_kwargs(),
    )  # fmt: skip


register_variant(
    "deeplabv3p_r50", "deeplabv3p_mobilenetv2", backbone="mobilenetv2_100", aux=False,
    description="DeepLabV3+ on MobileNetV2 (output stride 16), the light baseline of seed 003.",
)  # fmt: skip


@register_model(paper="Zhao et al., Pyramid Scene Parsing Network, arXiv:1612.01105", options=ModelOptions(backbone="resnet50"))
def pspnet_r50(
    o: ModelOptions,
    *,
    output_stride: int = 8,
    bins: tuple[int, ...] = (1, 2, 3, 6),
    channels: int = 512,
    aux: bool = True,
    loss: str = "ce",
) -> SemanticModel:
    """PSPNet: pyramid pooling (bins 1, 2, 3, 6) on a dilated ResNet-50 (output stride 8)."""
    encoder = o.encoder(output_stride=output_stride)
    head = PSPHead(encoder.feature_info[-1].channels, num_classes=o.num_classes, channels=channels, bins=tuple(bins))
    return SemanticModel(
        backbone=encoder, decode_head=head, aux_head=aux_fcn_head(encoder, o.num_classes, aux), loss=loss,
        **o.model_kwargs(),
    )  # fmt: skip


@register_model(
    paper="Chen et al., Semantic Image Segmentation with Deep Convolutional Nets and Fully Connected CRFs, arXiv:1412.7062",
    options=ModelOptions(backbone="vgg16_largefov"),
)
def largefov_vgg16(o: ModelOptions, *, output_stride: int = 8, loss: str = "ce") -> SemanticModel:
    """DeepLab-LargeFOV: VGG16 with fc6 dilated 12 (1024 channels), fc7, fc8 classifier; stride 8."""
    encoder = o.encoder(output_stride=output_stride)
    return SemanticModel(
        backbone=encoder,
        decode_head=LinearHead(encoder.feature_info[-1].channels, num_classes=o.num_classes),
        loss=loss,
        **o.model_kwargs(),
    )
