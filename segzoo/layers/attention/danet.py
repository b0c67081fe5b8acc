"""DANet dual attention: position attention and channel attention.

Fu et al., "Dual Attention Network for Scene Segmentation", arXiv:1809.02983.

- Position attention: ``q = Wq x``, ``k = Wk x`` (C/8 channels), ``v = Wv x`` (C channels);
  ``A = softmax(q^T k)`` over positions; ``out = gamma * (v A^T) + x``, gamma initialised to 0.
  Computed by :func:`~segzoo.layers.attention.functional.attend` without materialising A.
- Channel attention: ``E = X X^T`` (C x C); ``A = softmax(max_row(E) - E)``;
  ``out = beta * (A X) + x``, beta initialised to 0.
- Dual attention: each branch between two 3x3 conv-norm-ReLU (to C/4 channels), the two
  branch outputs summed; both branch outputs are returned too, for their auxiliary losses.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..conv import ConvNormAct
from .functional import attend, tokens_to_map

__all__ = ["PositionAttention", "ChannelAttention", "DualAttention", "DualAttentionOutput"]


class PositionAttention(nn.Module):
    """DANet position attention module: ``(B, C, H, W) -> (B, C, H, W)``, identity at init."""

    def __init__(self, channels: int, *, reduction: int = 8) -> None:
        super().__init__()
        inner = max(channels // reduction, 1)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, N, C/8)
        k = self.key(x).flatten(2).transpose(1, 2)  # (B, N, C/8)
        v = self.value(x).flatten(2).transpose(1, 2)  # (B, N, C)
        out = tokens_to_map(attend(q, k, v, scale=1.0), h, w)
        return self.gamma * out + x


class ChannelAttention(nn.Module):
    """DANet channel attention module: ``(B, C, H, W) -> (B, C, H, W)``, identity at init."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.beta = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        flat = x.flatten(2)  # (B, C, N)
        energy = flat @ flat.transpose(1, 2)  # (B, C, C)
        # softmax(max - E): the paper's trick for stability, equal to softmax(-E).
        attention = torch.softmax(energy.amax(dim=-1, keepdim=True) - energy, dim=-1)
        out = (attention @ flat).reshape(b, c, h, w)
        return self.beta * out + x


class DualAttentionOutput(NamedTuple):
    """The summed features and the two branch features, each ``(B, channels, H, W)``."""

    fused: torch.Tensor
    position: torch.Tensor
    channel: torch.Tensor


class DualAttention(nn.Module):
    """Position and channel attention in parallel, each wrapped by 3x3 conv-norm-ReLU.

    ``forward``: ``(B, in_channels, H, W) -> (B, channels, H, W)``, the sum of the two branches
    (``channels`` default C/4, in ``out_channels``), so it drops into any head like the other
    blocks. ``branches(x)`` returns :class:`DualAttentionOutput` (sum and each branch) for heads
    that supervise the branches (DANet's three classifiers).
    """

    def __init__(self, in_channels: int, *, channels: int | None = None, norm: str | None = "bn") -> None:
        super().__init__()
        channels = channels or max(in_channels // 4, 1)
        self.out_channels = channels
        self.position_in = ConvNormAct(in_channels, channels, 3, norm=norm)
        self.position = PositionAttention(channels)
        self.position_out = ConvNormAct(channels, channels, 3, norm=norm)
        self.channel_in = ConvNormAct(in_channels, channels, 3, norm=norm)
        self.channel = ChannelAttention(channels)
        self.channel_out = ConvNormAct(channels, channels, 3, norm=norm)

    def branches(self, x: torch.Tensor) -> DualAttentionOutput:
        """The summed features and the position and channel branches."""
        p = self.position_out(self.position(self.position_in(x)))
        c = self.channel_out(self.channel(self.channel_in(x)))
        return DualAttentionOutput(fused=p + c, position=p, channel=c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branches(x).fused
