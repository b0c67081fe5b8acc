"""Attention to scale.

Chen et al., "Attention to Scale: Scale-aware Semantic Image Segmentation",
arXiv:1511.03339: the penultimate features of every scale stream (resized to the fusion
size) are concatenated; a two-layer attention model (3x3 conv 512 + ReLU, 1x1 conv to S)
scores each scale per pixel; ``w^s = softmax_s(h^s)``; ``g = sum_s w^s f^s``.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import FusedOutput, ScaleFuser, ScaleStream, resize

__all__ = ["AttentionToScaleFuser"]


class AttentionToScaleFuser(ScaleFuser):
    """Softmax scale weights from the concatenated features ``features[in_index]`` of all streams."""

    def __init__(self, in_channels: int, *, num_scales: int = 2, channels: int = 512, in_index: int = -1) -> None:
        super().__init__()
        self.num_scales = num_scales
        self.in_index = in_index
        self.attention = nn.Sequential(
            nn.Conv2d(in_channels * num_scales, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, num_scales, 1),
        )

    def fuse(self, streams: list[ScaleStream], size: tuple[int, int]) -> FusedOutput:
        features = torch.cat([resize(s.features[self.in_index], size) for s in streams], dim=1)
        weights = torch.softmax(self.attention(features), dim=1)  # (B, S, h, w)
        logits = torch.stack([resize(s.logits, size) for s in streams], dim=1)  # (B, S, K, h, w)
        return FusedOutput((weights.unsqueeze(2) * logits).sum(dim=1), {"scale_weights": weights})
