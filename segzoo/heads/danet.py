"""DANet head: dual attention and three classifiers.

Fu et al., "Dual Attention Network for Scene Segmentation", arXiv:1809.02983: the position
and channel attention branches (C/4 channels each) are summed and classified; each branch
is also classified on its own, and all three outputs are supervised.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import DualAttention

__all__ = ["DANetHead"]


class DANetHead(nn.Module):
    """Outputs ``{"logits": fused, "position": ..., "channel": ...}`` at the input level's stride."""

    multi_output = True
    aux_names = ("position", "channel")

    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        channels: int | None = None,
        dropout: float = 0.1,
        in_index: int = -1,
        norm: str | None = "bn",
    ) -> None:
        super().__init__()
        self.in_index = in_index
        self.attention = DualAttention(in_channels, channels=channels, norm=norm)
        width = self.attention.out_channels
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(width, num_classes, 1)
        self.position_classifier = nn.Conv2d(width, num_classes, 1)
        self.channel_classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.attention.branches(features[self.in_index])
        return {
            "logits": self.classifier(self.dropout(out.fused)),
            "position": self.position_classifier(self.dropout(out.position)),
            "channel": self.channel_classifier(self.dropout(out.channel)),
        }
