"""Non-local head.

Wang et al., "Non-local Neural Networks", arXiv:1711.07971, used as a segmentation head as
in MMSegmentation's NLHead: 3x3 conv-norm-ReLU to ``channels``, an embedded-Gaussian
non-local block, 3x3 conv-norm-ReLU, concatenation with the input, 3x3 fusion conv,
dropout and a 1x1 classifier. ``scaled=True`` divides the affinity by sqrt(inner channels), as
MMSegmentation's ``use_scale=True`` does (the paper does not).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import ConvNormAct, NonLocal2d

__all__ = ["NonLocalHead"]


class NonLocalHead(nn.Module):
    """Non-local block between two 3x3 convs on ``features[in_index]``."""

    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        channels: int = 512,
        sub_sample: bool = False,
        dropout: float = 0.1,
        in_index: int = -1,
        norm: str | None = "bn",
        scaled: bool = False,
    ) -> None:
        super().__init__()
        self.in_index = in_index
        self.conv_in = ConvNormAct(in_channels, channels, 3, norm=norm)
        self.nonlocal_block = NonLocal2d(channels, sub_sample=sub_sample, norm=norm, scaled=scaled)
        self.conv_out = ConvNormAct(channels, channels, 3, norm=norm)
        self.fuse = ConvNormAct(in_channels + channels, channels, 3, norm=norm)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[self.in_index]
        y = self.conv_out(self.nonlocal_block(self.conv_in(x)))
        return self.classifier(self.dropout(self.fuse(torch.cat([x, y], dim=1))))
