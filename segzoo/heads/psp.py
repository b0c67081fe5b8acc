"""PSPNet head.

Zhao et al., "Pyramid Scene Parsing Network", arXiv:1612.01105: pyramid pooling (bins 1, 2,
3, 6) on the last level, a 3x3 conv, dropout 0.1, 1x1 classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import ConvNormAct, PyramidPooling

__all__ = ["PSPHead"]


class PSPHead(nn.Module):
    """PPM on ``features[in_index]`` -> 3x3 conv -> dropout -> classifier."""

    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        channels: int = 512,
        bins: tuple[int, ...] = (1, 2, 3, 6),
        dropout: float = 0.1,
        in_index: int = -1,
        norm: str | None = "bn",
    ) -> None:
        super().__init__()
        self.in_index = in_index
        self.ppm = PyramidPooling(in_channels, channels=in_channels // len(bins), bins=bins, norm=norm)
        self.bottleneck = ConvNormAct(self.ppm.out_channels, channels, 3, norm=norm)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.dropout(self.bottleneck(self.ppm(features[self.in_index]))))
