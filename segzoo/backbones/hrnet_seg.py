"""HRNet as its segmentation repository builds it: fuse layers upsample bilinearly, ``align_corners=True``.

Sun et al., "Deep High-Resolution Representation Learning for Visual Recognition",
arXiv:1908.07919. The classification HRNet (HRNet-Image-Classification, timm's port) upsamples
the lower-resolution branches in its fuse layers by nearest neighbour; HRNet-Semantic-Segmentation
(and its HRNet-OCR) upsamples them bilinearly with ``align_corners=True`` ("Slightly different,
we use align_corners = True for upsampling in HRNet", its README). Weights trained one way
compute something else the other way, so HRNet-OCR's checkpoints need this trunk. NVIDIA
semantic-segmentation's ``hrnetv2`` (its HMSA) and MMSegmentation's HRNet upsample bilinearly without
``align_corners``: the ``*_bilinear`` trunks.
"""

from __future__ import annotations

from torch import nn

from .base import register_backbone
from .timm_backbone import HRNET, HRNET_ARGS, HRNET_NOTE, HRNET_STRIDES, TimmBackbone

__all__ = ["bilinear_fuse"]


def bilinear_fuse(backbone: TimmBackbone, *, align_corners: bool = True) -> TimmBackbone:
    """Replace the nearest-neighbour upsampling of a timm HRNet's fuse layers by bilinear (in place)."""
    found = 0
    for module in backbone.modules():
        for name, child in module.named_children():
            if isinstance(child, nn.Upsample) and child.mode == "nearest":
                setattr(module, name, nn.Upsample(scale_factor=child.scale_factor, mode="bilinear", align_corners=align_corners))
                found += 1
    if not found:
        raise TypeError(f"bilinear_fuse needs a timm HRNet (fuse layers with nn.Upsample); {type(backbone).__name__} has none.")
    return backbone


def _seg(name: str, *, output_stride, in_chans, pretrained, weights, align_corners: bool = True) -> TimmBackbone:
    trunk = TimmBackbone(
        model_name=name, output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights,
        name=f"{name}_{'seg' if align_corners else 'bilinear'}", supported_output_strides=HRNET_STRIDES,
        output_stride_note=HRNET_NOTE, timm_args=HRNET_ARGS, size_divisor=32,
    )  # fmt: skip
    return bilinear_fuse(trunk, align_corners=align_corners)


@register_backbone(family="hrnet", paper=HRNET, output_strides=HRNET_STRIDES)
def hrnet_w18_seg(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """HRNet-W18 branches with HRNet-Semantic-Segmentation's bilinear fuse upsampling: 18/36/72/144 channels."""
    return _seg("hrnet_w18", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)


@register_backbone(family="hrnet", paper=HRNET, output_strides=HRNET_STRIDES)
def hrnet_w48_seg(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """HRNet-W48 branches with HRNet-Semantic-Segmentation's bilinear fuse upsampling (HRNet-OCR's trunk)."""
    return _seg("hrnet_w48", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)


@register_backbone(family="hrnet", paper=HRNET, output_strides=HRNET_STRIDES)
def hrnet_w48_bilinear(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """HRNet-W48 branches with bilinear fuse upsampling, ``align_corners=False`` (NVIDIA's HMSA and MMSegmentation's HRNet)."""
    return _seg(
        "hrnet_w48", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights,
        align_corners=False,
    )


@register_backbone(family="hrnet", paper=HRNET, output_strides=HRNET_STRIDES)
def hrnet_w18_bilinear(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """HRNet-W18 branches with bilinear fuse upsampling, ``align_corners=False`` (MMSegmentation's HRNet)."""
    return _seg(
        "hrnet_w18", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights,
        align_corners=False,
    )
