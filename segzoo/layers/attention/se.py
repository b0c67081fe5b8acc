"""Squeeze-and-excitation channel attention.

Hu et al., "Squeeze-and-Excitation Networks", arXiv:1709.01507:
``s = sigmoid(W2 relu(W1 avgpool(x)))`` with ``W1: C -> C/r``, ``W2: C/r -> C`` (r = 16),
``out = x * s``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SqueezeExcitation"]


class SqueezeExcitation(nn.Module):
    """SE block: ``(B, C, H, W) -> (B, C, H, W)``, rescaling each channel by a learned gate."""

    def __init__(self, channels: int, *, reduction: int = 16, min_channels: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, min_channels)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))  # (B, C, 1, 1)
        return x * gate
