"""Upsample-and-concatenate neck: the HRNetV2 representation.

Sun et al., "High-Resolution Representations for Labeling Pixels and Regions" (HRNetV2),
arXiv:1904.04514: the four HRNet branches are upsampled bilinearly to the highest
resolution and concatenated (W48: 48 + 96 + 192 + 384 = 720 channels at stride 4).
``align_corners=True`` is HRNet-Semantic-Segmentation's (and HRNet-OCR's) upsampling.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import FeatureInfo

__all__ = ["UpsampleConcat"]


class UpsampleConcat(nn.Module):
    """List of levels in, a one-level list out: every level resized to the first and concatenated."""

    def __init__(self, in_features: Sequence[FeatureInfo], *, align_corners: bool = False) -> None:
        super().__init__()
        self.align_corners = bool(align_corners)
        if not in_features:
            raise ValueError("UpsampleConcat needs at least one input level (pass the backbone's feature_info).")
        self.feature_info = [FeatureInfo(sum(f.channels for f in in_features), in_features[0].stride, "concat")]

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        size = features[0].shape[-2:]
        resized = [features[0]] + [
            F.interpolate(f, size=size, mode="bilinear", align_corners=self.align_corners) for f in features[1:]
        ]
        return [torch.cat(resized, dim=1)]
