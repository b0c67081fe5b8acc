"""Pyramid pooling module of PSPNet.

Zhao et al., "Pyramid Scene Parsing Network", arXiv:1612.01105.
Average-pool the input to ``bins x bins`` grids (1, 2, 3, 6), reduce each with a 1x1 conv to
``channels`` (C/4 in the paper), upsample back and concatenate with the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..conv import ConvNormAct
from ..pooling import pyramid_avg_pool2d

__all__ = ["PyramidPooling"]


class PyramidPooling(nn.Module):
    """PPM: ``(B, C, H, W) -> (B, C + len(bins) * channels, H, W)``.

    Pooling is :func:`segzoo.layers.pooling.pyramid_avg_pool2d` (the same numbers as
    ``F.adaptive_avg_pool2d``, every bin in one product, exportable to ONNX at any input size). The bin-1 branch pools to a single value per channel; BatchNorm there sees one value per
    channel when the batch has one image and fails in training, so that branch is a conv
    with bias and no norm (the other bins keep ``norm``).
    """

    def __init__(
        self,
        in_channels: int,
        *,
        channels: int | None = None,
        bins: tuple[int, ...] = (1, 2, 3, 6),
        norm: str | None = "bn",
    ) -> None:
        super().__init__()
        channels = channels or in_channels // 4
        self.bins = tuple(int(b) for b in bins)
        self.stages = nn.ModuleList(
            ConvNormAct(in_channels, channels, 1, norm=None if b == 1 else norm) for b in self.bins
        )
        self.out_channels = in_channels + len(self.bins) * channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        outs = [x]
        for pooled, stage in zip(pyramid_avg_pool2d(x, self.bins), self.stages):  # (B, C, bin, bin) each
            outs.append(F.interpolate(stage(pooled), size=size, mode="bilinear", align_corners=False))
        return torch.cat(outs, dim=1)
