"""UPSNet's semantic head: one subnet of deformable convolutions run on every FPN level.

Xiong et al., "UPSNet: A Unified Panoptic Segmentation Network", arXiv:1901.03784, Sec. 3.1:
P2-P5 each go through the same small stack of 3x3 deformable convolutions (Dai et al.,
arXiv:1703.06211; offsets from a zero-initialised 3x3 conv, so training starts from plain
convolutions), are upsampled bilinearly to stride 4, concatenated and classified by a 1x1
conv. The stack is ``num_convs`` deep; the last two convs change the width to ``channels``
(128 in the paper): ``in -> in, ..., in -> channels, channels -> channels``, each followed by
the norm (none in UPSNet's COCO configuration) and ReLU; this is the layout of UPSNet's public
configuration, whose weights the ``upsnet_r50.upsnet_coco`` tag loads.

``shared=False`` gives every level its own stack (same layout, four times the weights).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import make_norm
from ..necks.dcn import DeformableConv2d

__all__ = ["DeformableSemanticHead"]


def _stack(in_channels: int, channels: int, num_convs: int, norm: str | None) -> nn.Sequential:
    layers = []
    width = in_channels
    for i in range(num_convs):
        out = channels if i >= num_convs - 2 else in_channels
        block = [DeformableConv2d(width, out)]
        if norm is not None:
            block.append(make_norm(norm, out))
        block.append(nn.ReLU(inplace=True))
        layers.append(nn.Sequential(*block))
        width = out
    return nn.Sequential(*layers)


class DeformableSemanticHead(nn.Module):
    """``[P2, P3, P4, P5] -> (logits at stride 4, features at stride 4)`` through one deformable subnet.

    Args:
        in_channels: channels of every FPN level.
        num_classes: semantic classes (things and stuff).
        strides: the levels' strides; the first must be 4.
        channels: width of the subnet's output (128 in UPSNet); the merged features have
            ``channels * len(strides)``.
        num_convs: depth of the subnet (3 in UPSNet; at least 2).
        shared: one subnet for all levels (UPSNet) or one per level.
        norm: ``None`` (UPSNet's COCO configuration), ``"gn"`` or ``"bn"`` after each conv.
    """

    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        strides: Sequence[int] = (4, 8, 16, 32),
        channels: int = 128,
        num_convs: int = 3,
        shared: bool = True,
        norm: str | None = None,
    ) -> None:
        super().__init__()
        if strides[0] != 4:
            raise ValueError(f"The first level must have stride 4, got strides {tuple(strides)}.")
        if num_convs < 2:
            raise ValueError(f"num_convs must be at least 2 (the last two set the width), got {num_convs}.")
        self.strides = tuple(int(s) for s in strides)
        self.shared = shared
        count = 1 if shared else len(self.strides)
        self.subnets = nn.ModuleList(_stack(in_channels, channels, num_convs, norm) for _ in range(count))
        self.out_channels = channels * len(self.strides)
        self.classifier = nn.Conv2d(self.out_channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ref = features[0]
        outs = []
        for i, x in enumerate(features[: len(self.strides)]):
            x = self.subnets[0 if self.shared else i](x)
            if i:  # UPSNet upsamples by the level's scale factor; the size form equals it on multiples of 32
                x = F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)
            outs.append(x)
        merged = torch.cat(outs, dim=1)
        return self.classifier(merged), merged
