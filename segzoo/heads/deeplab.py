"""DeepLabV3 and DeepLabV3+ heads.

Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation", arXiv:1706.05587;
Chen et al., "Encoder-Decoder with Atrous Separable Convolution for Semantic Image
Segmentation" (DeepLabV3+), arXiv:1802.02611. The V3+ decoder upsamples the ASPP output to
the stride-4 level, concatenates a 48-channel projection of those low-level features and
applies two 3x3 convs. The paper makes the atrous ASPP branches and the decoder's 3x3 convs
depthwise separable (Sec. 3.2, "we apply the depthwise separable convolution to both ASPP and
decoder modules"), as MMSegmentation's ``DepthwiseSeparableASPPHead`` and
segmentation_models_pytorch do for ResNet trunks too: ``separable=True``, the default.
``separable=False`` gives full 3x3 convs (about twice the multiply-adds at 512 x 512 on ResNet-50).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import ASPP, ConvNormAct, SeparableConvNormAct

__all__ = ["DeepLabV3Head", "DeepLabV3PlusHead"]


class DeepLabV3Head(nn.Module):
    """ASPP on ``features[in_index]``, a 3x3 conv, then a 1x1 classifier.

    ``layout="torchvision"``: the ASPP concatenation is projected by a 1x1 conv before the 3x3
    conv (torchvision's ``DeepLabHead``); ``"mmseg"``: image pooling first and the 3x3 conv reads
    the concatenation directly (MMSegmentation's ``ASPPHead``).
    """

    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        channels: int = 256,
        rates: tuple[int, ...] = (12, 24, 36),
        in_index: int = -1,
        norm: str | None = "bn",
        layout: str = "torchvision",
    ) -> None:
        super().__init__()
        if layout not in ("torchvision", "mmseg"):
            raise ValueError(f"layout must be 'torchvision' or 'mmseg', got {layout!r}.")
        self.in_index = in_index
        mmseg = layout == "mmseg"
        self.aspp = ASPP(in_channels, channels=channels, rates=rates, norm=norm, project=not mmseg, pool_first=mmseg)
        self.bottleneck = ConvNormAct(self.aspp.out_channels, channels, 3, norm=norm)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.bottleneck(self.aspp(features[self.in_index])))


class DeepLabV3PlusHead(nn.Module):
    """ASPP on the last level + decoder with the low-level (stride 4) features.

    Output logits are at the low-level resolution (stride 4). ``layout="mmseg"``: MMSegmentation's
    ``DepthwiseSeparableASPPHead`` (image pooling first, no 1x1 projection, a 3x3 bottleneck over
    the ASPP concatenation before the decoder).
    """

    def __init__(
        self,
        in_channels: int,
        *,
        low_level_channels: int,
        num_classes: int,
        channels: int = 256,
        low_level_proj: int = 48,
        rates: tuple[int, ...] = (6, 12, 18),
        in_index: int = -1,
        low_level_index: int = 0,
        norm: str | None = "bn",
        separable: bool = True,
        layout: str = "torchvision",
    ) -> None:
        super().__init__()
        if layout not in ("torchvision", "mmseg"):
            raise ValueError(f"layout must be 'torchvision' or 'mmseg', got {layout!r}.")
        self.in_index = in_index
        self.low_level_index = low_level_index
        mmseg = layout == "mmseg"
        self.aspp = ASPP(
            in_channels, channels=channels, rates=rates, norm=norm, separable=separable, project=not mmseg, pool_first=mmseg
        )
        self.bottleneck = ConvNormAct(self.aspp.out_channels, channels, 3, norm=norm) if mmseg else nn.Identity()
        self.low_level = ConvNormAct(low_level_channels, low_level_proj, 1, norm=norm)
        conv = SeparableConvNormAct if separable else ConvNormAct
        self.decoder = nn.Sequential(
            conv(channels + low_level_proj, channels, 3, norm=norm),
            conv(channels, channels, 3, norm=norm),
        )
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        low = self.low_level(features[self.low_level_index])  # (B, 48, H/4, W/4)
        high = self.bottleneck(self.aspp(features[self.in_index]))  # (B, channels, H/os, W/os)
        high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.classifier(self.decoder(torch.cat([high, low], dim=1)))
