"""Attention to refine through multi-scales (seed 004).

Yang & Peng, "Attention to Refine through Multi-Scales for Semantic Segmentation":

- hypercolumn features: several backbone stages of each stream upsampled (bilinear) to the
  fusion size (1/4 of the 1x input, "after two pooling operations") and concatenated;
- a dilated 3x3 conv per scale (dilation 2 for the small scale, 12 for the large one),
  then the per-scale results concatenated;
- two parallel two-conv branches: location attention ``l^s`` (one map per scale, softmax
  over scales, eq. 2) and recalibration ``r`` (one map per class, sigmoid, shared by all
  scales);
- ``M = sum_s l^s * (P^s * r)`` (eqs. 3-4).

Reading chosen: the per-scale conv maps the hypercolumn to ``channels`` (256) with ReLU;
each branch is 3x3 conv + ReLU then 1x1 conv. Dilations are given per scale, in the order
of the scales (ascending scale).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import FusedOutput, ScaleFuser, ScaleStream, resize

__all__ = ["RefineMultiScaleFuser"]


class RefineMultiScaleFuser(ScaleFuser):
    """Location attention over scales and per-class recalibration from hypercolumn features."""

    def __init__(
        self,
        in_channels: Sequence[int],
        *,
        num_classes: int,
        dilations: Sequence[int] = (2, 12),
        channels: int = 256,
        feature_indices: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.num_scales = len(dilations)
        self.feature_indices = tuple(feature_indices) if feature_indices is not None else tuple(range(len(in_channels)))
        hyper = sum(in_channels[i] for i in self.feature_indices)
        self.scale_convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(hyper, channels, 3, padding=int(d), dilation=int(d)), nn.ReLU(inplace=True))
            for d in dilations
        )
        joint = channels * self.num_scales
        self.location = nn.Sequential(
            nn.Conv2d(joint, channels, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(channels, self.num_scales, 1)
        )
        self.recalibration = nn.Sequential(
            nn.Conv2d(joint, channels, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(channels, num_classes, 1)
        )

    def hypercolumn(self, stream: ScaleStream, size: tuple[int, int]) -> torch.Tensor:
        """``(B, sum C_i, h, w)``: the chosen levels of one stream resized to the fusion size."""
        return torch.cat([resize(stream.features[i], size) for i in self.feature_indices], dim=1)

    def fuse(self, streams: list[ScaleStream], size: tuple[int, int]) -> FusedOutput:
        per_scale = [conv(self.hypercolumn(s, size)) for conv, s in zip(self.scale_convs, streams)]
        joint = torch.cat(per_scale, dim=1)
        location = torch.softmax(self.location(joint), dim=1)  # (B, S, h, w), eq. 2
        recalibration = torch.sigmoid(self.recalibration(joint))  # (B, K, h, w), shared by all scales
        logits = torch.stack([resize(s.logits, size) for s in streams], dim=1)  # (B, S, K, h, w)
        fused = (location.unsqueeze(2) * (logits * recalibration.unsqueeze(1))).sum(dim=1)  # eqs. 3-4
        return FusedOutput(fused, {"scale_weights": location, "recalibration": recalibration})
