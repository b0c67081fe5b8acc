"""A 1x1 classifier head: DeepLab-LargeFOV's fc8.

Chen et al., "Semantic Image Segmentation with Deep Convolutional Nets and Fully Connected
CRFs", arXiv:1412.7062: fc6/fc7 live in the VGG16 LargeFOV backbone; fc8 maps the 1024
fc7 channels to the classes.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LinearHead"]


class LinearHead(nn.Module):
    """Dropout then a 1x1 classifier on ``features[in_index]``."""

    def __init__(self, in_channels: int, *, num_classes: int, dropout: float = 0.0, in_index: int = -1) -> None:
        super().__init__()
        self.in_index = in_index
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.dropout(features[self.in_index]))
