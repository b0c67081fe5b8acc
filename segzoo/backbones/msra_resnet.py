"""ResNets with the stride in the first 1x1 conv of each downsampling bottleneck ("MSRA" style).

He et al., "Deep Residual Learning for Image Recognition", arXiv:1512.03385, put the stride-2
of a downsampling bottleneck in its first 1x1 conv; MSRA's released Caffe models, Detectron
and Detectron2 (``RESNETS.STRIDE_IN_1X1 = True``, its ImageNet ``R-50.pkl`` / ``R-101.pkl`` and
every COCO model trained from them) keep that placement. torchvision and timm moved it to the
3x3 conv ("ResNet v1.5"). The two compute different functions with the same weights, so
Detectron2's checkpoints need this variant: timm's ResNet with the strides moved back.

Only bottleneck ResNets have the choice (a basic block's first conv is already its 3x3 conv).
"""

from __future__ import annotations

from torch import nn

from .base import register_backbone
from .timm_backbone import DILATABLE, RESNET, TimmBackbone

__all__ = ["stride_in_1x1"]


def stride_in_1x1(backbone: TimmBackbone) -> TimmBackbone:
    """Move the stride of every downsampling bottleneck of a timm ResNet from its 3x3 conv to
    its first 1x1 conv (in place; returns the backbone). Dilated stages (no stride) are unchanged."""
    blocks = [m for m in backbone.modules() if type(m).__name__ == "Bottleneck"]
    if not blocks:
        raise TypeError(
            f"stride_in_1x1 needs a bottleneck ResNet (timm's resnet50/101, resnext, seresnet); "
            f"{type(backbone).__name__} has no Bottleneck blocks."
        )
    for block in blocks:
        conv1, conv2 = block.conv1, block.conv2
        if not isinstance(conv1, nn.Conv2d) or not isinstance(conv2, nn.Conv2d):
            raise TypeError(f"stride_in_1x1 expects plain Conv2d convs in the bottleneck, got {type(conv2).__name__}.")
        if conv2.stride != (1, 1):
            conv1.stride, conv2.stride = conv2.stride, (1, 1)
    return backbone


def _msra(name: str, *, output_stride, in_chans, pretrained, weights) -> TimmBackbone:
    if pretrained and weights is None:
        raise ValueError(
            f"Backbone '{name}_msra' has no timm ImageNet weights (timm's {name} has the stride in the 3x3 conv). "
            f"Its weights come with the Detectron2 tags (segzoo.list_models(pretrained=True)) or from a local "
            f"file: backbone_weights=PATH."
        )
    trunk = TimmBackbone(
        model_name=name, output_stride=output_stride, in_chans=in_chans, weights=weights, name=f"{name}_msra"
    )
    return stride_in_1x1(trunk)


@register_backbone(family="resnet", paper=RESNET, output_strides=DILATABLE)
def resnet50_msra(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """ResNet-50 with the stride in the first 1x1 conv (Detectron2's MSRA trunk): 256/512/1024/2048 channels."""
    return _msra("resnet50", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)


@register_backbone(family="resnet", paper=RESNET, output_strides=DILATABLE)
def resnet101_msra(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """ResNet-101 with the stride in the first 1x1 conv (Detectron2's MSRA trunk): 256/512/1024/2048 channels."""
    return _msra("resnet101", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)
