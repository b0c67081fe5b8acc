"""Object-contextual representations (OCR).

Yuan et al., "Object-Contextual Representations for Semantic Segmentation", arXiv:1909.11065:

1. soft object regions ``M = softmax over pixels`` of the coarse logits ``(K, N)``;
2. object region representations ``f_k = sum_i M_ki x_i``;
3. pixel-region relation ``w_ik = softmax_k(phi(x_i)^T psi(f_k) / sqrt(d))``;
4. object contextual representation ``y_i = rho(sum_k w_ik delta(f_k))``;
5. augmented representation ``z_i = g([x_i, y_i])``.

phi and psi are two 1x1 conv-norm-ReLU each, delta and rho one each (``key_channels`` wide,
256 in the paper), g a 1x1 conv-norm-ReLU to ``channels`` (512) followed by dropout 0.05,
as in the authors' HRNet-OCR.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..conv import ConvNormAct
from .functional import attend, tokens_to_map

__all__ = ["ObjectContext"]


class ObjectContext(nn.Module):
    """OCR block: ``(features (B, C, H, W), coarse_logits (B, K, h, w)) -> (B, channels, H, W)``."""

    def __init__(
        self,
        in_channels: int,
        *,
        channels: int = 512,
        key_channels: int = 256,
        dropout: float = 0.05,
        norm: str | None = "bn",
    ) -> None:
        super().__init__()
        self.key_channels = key_channels
        self.pixel_proj = nn.Sequential(  # phi
            ConvNormAct(in_channels, key_channels, 1, norm=norm), ConvNormAct(key_channels, key_channels, 1, norm=norm)
        )
        self.object_proj = nn.Sequential(  # psi
            ConvNormAct(in_channels, key_channels, 1, norm=norm), ConvNormAct(key_channels, key_channels, 1, norm=norm)
        )
        self.object_down = ConvNormAct(in_channels, key_channels, 1, norm=norm)  # delta
        self.context_up = ConvNormAct(key_channels, in_channels, 1, norm=norm)  # rho
        self.fuse = nn.Sequential(ConvNormAct(2 * in_channels, channels, 1, norm=norm), nn.Dropout(dropout))  # g
        self.out_channels = channels

    def forward(self, features: torch.Tensor, coarse_logits: torch.Tensor) -> torch.Tensor:
        b, c, h, w = features.shape
        # Unconditional (the identity at equal sizes): no shape branch to freeze in a traced graph.
        coarse_logits = F.interpolate(coarse_logits, size=(h, w), mode="bilinear", align_corners=False)
        regions = torch.softmax(coarse_logits.flatten(2), dim=2)  # (B, K, N), soft object regions
        objects = (regions @ features.flatten(2).transpose(1, 2)).transpose(1, 2).unsqueeze(-1)  # (B, C, K, 1)
        query = self.pixel_proj(features).flatten(2).transpose(1, 2)  # (B, N, key)
        key = self.object_proj(objects).flatten(2).transpose(1, 2)  # (B, K, key)
        value = self.object_down(objects).flatten(2).transpose(1, 2)  # (B, K, key)
        context = attend(query, key, value, scale=self.key_channels**-0.5)  # (B, N, key)
        context = self.context_up(tokens_to_map(context, h, w))  # (B, C, H, W)
        return self.fuse(torch.cat([context, features], dim=1))
