"""MobileNetV3-Large in torchvision's segmentation layout, built from timm's modules.

"Searching for MobileNetV3" (Howard et al., arXiv:1905.02244), as torchvision's
``mobilenet_v3_large(dilated=True)`` builds it for ``deeplabv3_mobilenet_v3_large`` and
``lraspp_mobilenet_v3_large``. timm's ``mobilenetv3_large_100`` has the same blocks (widths,
kernels, SE widths ``make_divisible(C / 4, 8)``, ReLU / hard-swish, hard-sigmoid gates, symmetric
padding), so torchvision's weights map onto it one to one. Three things differ, and this
backbone sets them to torchvision's values:

1. BatchNorm eps: torchvision 1e-3, timm 1e-5.
2. Where the dilation goes at output stride 16: torchvision gives the block that would stride
   (``features[13]``, the first 160-channel block) stride 1 *and* dilation 2; timm (DeepLab's
   rule, as segzoo's other backbones) keeps dilation 1 in that block and dilates the ones after it.
3. The levels: torchvision's segmentation models read the output of each stage's strided first
   block (its ``_is_cn`` blocks, ``features[2, 4, 7, 13]``) and the last 1x1 conv
   (``features[16]``): DeepLabV3 reads ``features[16]``, its auxiliary head ``features[4]``
   (40 channels, stride 8). timm's levels are the ends of the stages.

With torchvision's weights copied (random, random BatchNorm statistics, a 96x96 input), timm's
``mobilenetv3_large_100`` at output stride 16 differs from torchvision by about 1e-3 of each
level's largest value from eps alone (``features[0]`` onwards) and by 2.8e-2 at ``features[13]``,
9.6e-3 at ``features[16]`` from the dilation; with both set as here, every level is bit-for-bit
equal (``tests/test_convert_torchvision_mobilenet.py``; ``benchmarks/parity_mobilenetv3_layout.py``
prints the table).

``pretrained=True`` loads timm's ImageNet weights of ``mobilenetv3_large_100`` (same keys); they
were trained with eps 1e-5 and no dilation, so here they are an initialisation for fine-tuning.
"""

from __future__ import annotations

import torch

from .base import FeatureInfo, register_backbone
from .timm_backbone import MOBILENETV3, TimmBackbone

__all__ = ["TorchvisionMobileNetV3", "TV_LEVELS"]

BN_EPS = 1e-3  # torchvision's MobileNetV3 norm_layer: BatchNorm2d(eps=0.001, momentum=0.01)
TV_STRIDES = (16, 32)  # torchvision's dilated=True (16) and its classification layout (32)
# (stage, block) of timm's blocks whose outputs are returned, and torchvision's features index of each
TV_LEVELS = {(1, 0): 2, (2, 0): 4, (3, 0): 7, (6, 0): 16}


class TorchvisionMobileNetV3(TimmBackbone):
    """timm's ``mobilenetv3_large_100`` with torchvision's eps, dilation placement and levels:
    24/40/80/960 channels at strides 4/8/16/32 (4/8/16/16 at output stride 16)."""

    def __init__(
        self, *, output_stride: int | None = None, in_chans: int = 3, pretrained: bool = False, weights=None,
    ) -> None:  # fmt: skip
        super().__init__(
            model_name="mobilenetv3_large_100", output_stride=output_stride, in_chans=in_chans,
            pretrained=pretrained, weights=weights, name="mobilenetv3_large_100_tv",
            supported_output_strides=TV_STRIDES, timm_args={"bn_eps": BN_EPS},
            output_stride_note="torchvision's layout dilates the last stage only (dilated=True); for output "
            "stride 8 use mobilenetv3_large_100.",
        )  # fmt: skip
        for stage in self.model.blocks:  # the strided first block takes the dilation of the blocks after it
            first, rest = stage[0], stage[1:]
            conv = getattr(first, "conv_dw", None)
            if conv is None or not len(rest):
                continue
            dilation = rest[0].conv_dw.dilation
            if conv.dilation != dilation:
                conv.dilation = dilation
                conv.padding = tuple(d * (k - 1) // 2 for d, k in zip(dilation, conv.kernel_size))
        last = 32 if output_stride in (None, 32) else output_stride
        self.feature_info = [
            FeatureInfo(channels=c, stride=s, name=f"blocks.{i}.{j}")
            for ((i, j), c, s) in zip(TV_LEVELS, (24, 40, 80, 960), (4, 8, 16, last))
        ]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        m = self.model
        x = m.act1(m.bn1(m.conv_stem(x)))
        out = []
        for i, stage in enumerate(m.blocks):
            for j, block in enumerate(stage):
                x = block(x)
                if (i, j) in TV_LEVELS:
                    out.append(x)
        return out


@register_backbone(family="mobilenetv3", paper=MOBILENETV3, output_strides=TV_STRIDES)
def mobilenetv3_large_100_tv(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TorchvisionMobileNetV3:
    """MobileNetV3-Large in torchvision's segmentation layout: 24/40/80/960 channels at strides 4/8/16/32."""
    return TorchvisionMobileNetV3(output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)
