"""Spatial ranking module of OANet.

Liu et al., "An End-to-End Network for Panoptic Segmentation" (OANet), arXiv:1903.05027:
each instance's binary mask is placed in the channel of its category of a
``(num_thing_classes, H, W)`` tensor; a convolution stack with a large receptive field
predicts a ranking map of the same shape; an instance's ranking score is the mean of
(sigmoid) map over its mask in its category channel. Trained with pixel-wise binary cross
entropy against the visible ground-truth masks in their category channels. Reading chosen
for the stack: 3x3 convs with dilations 1, 2, 4, 8 (32 channels, ReLU) and a 1x1 conv,
run at stride 4. The input and target tensors come from
``segzoo.fusers.panoptic.masks_to_category_channels``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SpatialRankingModule"]


class SpatialRankingModule(nn.Module):
    """``(B, T, H, W)`` instance masks by category -> ``(B, T, H, W)`` ranking logits."""

    def __init__(self, num_thing_classes: int, *, channels: int = 32, dilations: tuple[int, ...] = (1, 2, 4, 8)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = num_thing_classes
        for d in dilations:
            layers += [nn.Conv2d(in_ch, channels, 3, padding=d, dilation=d), nn.ReLU(inplace=True)]
            in_ch = channels
        layers.append(nn.Conv2d(in_ch, num_thing_classes, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, category_masks: torch.Tensor) -> torch.Tensor:
        return self.net(category_masks)
