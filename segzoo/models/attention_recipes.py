"""Registered attention models: DANet, Non-local, OCRNet (HRNet) and AinnoSeg (seed 001).

Each recipe declares its loss: the pixel loss (``loss``) and the weight of each supervised
output (``loss_weights``), which ``model.loss`` / ``segzoo.losses.for_model`` apply.
"""

from __future__ import annotations

from typing import Mapping

from ..heads import AinnoSegHead, DANetHead, NonLocalHead, OCRHead
from ..necks import UpsampleConcat
from .options import ModelOptions
from .registry import register_model, register_variant
from .semantic import SemanticModel
from .semantic_recipes import aux_fcn_head

__all__ = ["danet_r50", "nonlocal_r50", "ocrnet_hrnet_w18", "ainnoseg_hrnet_w48"]


@register_model(paper="Fu et al., Dual Attention Network for Scene Segmentation, arXiv:1809.02983",
                options=ModelOptions(backbone="resnet50"))  # fmt: skip
def danet_r50(
    o: ModelOptions,
    *,
    output_stride: int = 8,
    channels: int | None = None,
    aux: bool = True,
    loss: str = "ce",
    loss_weights: Mapping[str, float] | None = None,
) -> SemanticModel:
    """DANet: position + channel attention on dilated ResNet-50 (OS8); fused, position and channel outputs."""
    encoder = o.encoder(output_stride=output_stride)
    weights = {"logits": 1.0, "position": 1.0, "channel": 1.0, **({"aux": 0.4} if aux else {})}
    return SemanticModel(
        backbone=encoder,
        decode_head=DANetHead(encoder.feature_info[-1].channels, num_classes=o.num_classes, channels=channels),
        aux_head=aux_fcn_head(encoder, o.num_classes, aux),
        loss=loss,
        loss_weights=loss_weights or weights,
        **o.model_kwargs(),
    )


@register_model(paper="Wang et al., Non-local Neural Networks, arXiv:1711.07971", options=ModelOptions(backbone="resnet50"))
def nonlocal_r50(
    o: ModelOptions,
    *,
    output_stride: int = 8,
    channels: int = 512,
    sub_sample: bool = False,
    scaled_affinity: bool = False,
    aux: bool = True,
    loss: str = "ce",
    loss_weights: Mapping[str, float] | None = None,
) -> SemanticModel:
    """Non-local (embedded Gaussian) head on dilated ResNet-50 (OS8); ``scaled_affinity``: divide the
    affinity by sqrt(inner channels) (MMSegmentation's ``use_scale=True``; the paper has no scaling)."""
    encoder = o.encoder(output_stride=output_stride)
    head = NonLocalHead(encoder.feature_info[-1].channels, num_classes=o.num_classes, channels=channels,
                        sub_sample=sub_sample, scaled=scaled_affinity)  # fmt: skip
    return SemanticModel(
        backbone=encoder, decode_head=head, aux_head=aux_fcn_head(encoder, o.num_classes, aux), loss=loss,
        loss_weights=loss_weights, **o.model_kwargs(),
    )  # fmt: skip


@register_model(paper="Yuan et al., Object-Contextual Representations for Semantic Segmentation, arXiv:1909.11065",
                options=ModelOptions(backbone="hrnet_w18"))  # fmt: skip
def ocrnet_hrnet_w18(
    o: ModelOptions,
    *,
    channels: int = 512,
    key_channels: int = 256,
    align_corners: bool = False,
    loss: str = "ce",
    loss_weights: Mapping[str, float] | None = None,
) -> SemanticModel:
    """OCRNet on HRNetV2-W18 (branches concatenated at 1/4, 270 channels); ``align_corners``: of the
    branches' and the logits' bilinear upsampling (HRNet-Semantic-Segmentation's HRNet-OCR: ``True``)."""
    encoder = o.encoder()
    neck = UpsampleConcat(encoder.feature_info, align_corners=align_corners)
    head = OCRHead(neck.feature_info[0].channels, num_classes=o.num_classes, channels=channels, key_channels=key_channels)
    return SemanticModel(
        backbone=encoder, neck=neck, decode_head=head, loss=loss, align_corners=align_corners,
        loss_weights=loss_weights or {"logits": 1.0, "coarse": 0.4}, **o.model_kwargs(),
    )  # fmt: skip


register_variant(
    "ocrnet_hrnet_w18", "ocrnet_hrnet_w48", backbone="hrnet_w48",
    description="OCRNet on HRNetV2-W48 (branches concatenated at 1/4, 720 channels).",
)  # fmt: skip


@register_model(paper="AinnoSeg: Panoramic Segmentation with High Performance (seed 001); HRNet arXiv:1908.07919",
                options=ModelOptions(num_classes=150, backbone="hrnet_w48"))  # fmt: skip
def ainnoseg_hrnet_w48(
    o: ModelOptions,
    *,
    channels: int = 512,
    key_channels: int = 256,
    nonlocal_sub_sample: bool = True,
    loss: str = "ce",
    alpha: float = 0.1,
    beta: float = 0.3,
    gamma: float = 1.0,
) -> SemanticModel:
    """AinnoSeg: HRNet-W48 + dual attention + non-local + OCR; loss 0.1 L_da + 0.3 L_ocr_aux + 1.0 L_final.

    The loss is seed 001's eq. (1), a weighted sum of three cross entropies (Sec. 4.1 weights). The
    seed's text says the auxiliary losses help "boundary pixels" but gives no boundary term, so the
    boundary-weighted cross entropy is opt-in: ``loss="boundary"`` (width 3, weight 2).
    """
    encoder = o.encoder()
    neck = UpsampleConcat(encoder.feature_info)
    head = AinnoSegHead(
        neck.feature_info[0].channels,
        num_classes=o.num_classes,
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
        **o.model_kwargs(),
    )
