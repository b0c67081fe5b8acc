"""Feature pyramid network neck (P2-P5, optional P6).

Lin et al., "Feature Pyramid Networks for Object Detection", arXiv:1612.03144. Built on
``torchvision.ops.FeaturePyramidNetwork`` (lateral 1x1 convs, nearest top-down upsampling,
3x3 output convs); P6 is a stride-2 subsampling of P5, as in Mask R-CNN. ``global_context``
adds a linear projection of the last backbone level's global average to its lateral (UPSNet's
COCO configuration, ``fpn_with_gap``), so the whole top-down path sees the image's context.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from ..backbones import FeatureInfo
from .dcn import DeformableConv2d

__all__ = ["FPN"]


class GlobalContextLateral(nn.Module):
    """A lateral 1x1 conv plus a linear map of its input's global average, broadcast over the map."""

    def __init__(self, lateral: nn.Module, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.lateral = lateral
        self.context = nn.Linear(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lateral(x) + self.context(x.mean(dim=(2, 3)))[:, :, None, None]


class FPN(nn.Module):
    """List of backbone levels in, list of pyramid levels out (same strides, ``out_channels`` each).

    Args:
        in_features: the backbone's ``feature_info`` (one entry per level it returns).
        out_channels: channels of every pyramid level (256 in the paper).
        p6: add a level at twice the last stride (max-pool of the last level).
        norm: ``None`` (paper) or ``"bn"``/``"gn"`` inside the FPN convs.
        deformable_levels: indices of the levels whose 3x3 output conv is deformable
            (seed 002: P3-P5, i.e. ``(1, 2, 3)`` for P2-P5 inputs); offsets start at zero.
        global_context: add ``Linear(global average of the last level)`` to the last lateral
            (UPSNet's ``fpn_with_gap``).
    """

    def __init__(
        self,
        in_features: Sequence[FeatureInfo],
        *,
        out_channels: int = 256,
        p6: bool = False,
        norm: str | None = None,
        deformable_levels: Sequence[int] = (),
        global_context: bool = False,
    ) -> None:
        super().__init__()
        if not in_features:
            raise ValueError("FPN needs at least one input level (pass the backbone's feature_info).")
        norm_layer = {None: None, "bn": nn.BatchNorm2d, "gn": lambda c: nn.GroupNorm(32, c)}.get(norm, "bad")
        if norm_layer == "bad":
            raise ValueError(f"Unknown FPN norm {norm!r}; use None, 'bn' or 'gn'.")
        self.fpn = FeaturePyramidNetwork(
            [f.channels for f in in_features],
            out_channels,
            extra_blocks=LastLevelMaxPool() if p6 else None,
            norm_layer=norm_layer,
        )
        for i in deformable_levels:
            if not 0 <= i < len(in_features):
                raise ValueError(f"deformable_levels {tuple(deformable_levels)} must index the {len(in_features)} levels.")
            self.fpn.layer_blocks[i] = DeformableConv2d(out_channels, out_channels)
        if global_context:
            self.fpn.inner_blocks[-1] = GlobalContextLateral(self.fpn.inner_blocks[-1], in_features[-1].channels, out_channels)
        self.level_names = [f"p{i}" for i in range(len(in_features))]
        self.feature_info = [
            FeatureInfo(out_channels, f.stride, f"p{f.stride.bit_length() - 1}") for f in in_features
        ]
        if p6:
            last = in_features[-1].stride * 2
            self.feature_info.append(FeatureInfo(out_channels, last, f"p{last.bit_length() - 1}"))

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        inputs = OrderedDict((name, f) for name, f in zip(self.level_names, features))
        return list(self.fpn(inputs).values())
