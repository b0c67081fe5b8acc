"""Semantic heads on an FPN for panoptic models.

- ``SemanticFPNHead``: Kirillov et al., "Panoptic Feature Pyramid Networks",
  arXiv:1901.02446: each level P2..P5 goes through 3x3 conv-norm-ReLU + 2x upsample stages
  until stride 4 (128 channels), the levels are merged, a 1x1 conv predicts the classes.
  ``merge="sum"`` is the paper; ``merge="concat"`` with ``deformable=True`` is seed 002's
  variant (each level through its own deformable conv, upsampled to 1/4, concatenated, 1x1).
- ``FCNSemanticHead``: seed 000's FCN semantic branch (Long et al., arXiv:1411.4038): FCN's
  skip architecture on the pyramid: the coarsest level is upsampled 2x and added to the next
  finer one (each after a 3x3 conv-norm-ReLU), down to stride 4, then a 1x1 classifier. The 2x
  upsampling is FCN's learned deconvolution (seed 000 Sec. 1: "uses the deconvolution layer ...
  to up-sample"), one 4x4 stride-2 transposed conv per channel initialised to bilinear
  interpolation as in FCN, so it starts as the bilinear upsampling ``upsample="bilinear"`` keeps.

Both return ``(logits at stride 4, features at stride 4)``; the features feed the
information flow into the mask head and the prototype coefficients.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import ConvNormAct
from ..necks.dcn import DeformableConv2d

__all__ = ["SemanticFPNHead", "FCNSemanticHead"]


def _up_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class SemanticFPNHead(nn.Module):
    """Panoptic-FPN semantic head over levels of strides ``strides`` (the first must be 4)."""

    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        strides: Sequence[int] = (4, 8, 16, 32),
        channels: int = 128,
        merge: str = "sum",
        deformable: bool = False,
        norm: str | None = "gn",
    ) -> None:
        super().__init__()
        if merge not in ("sum", "concat"):
            raise ValueError(f"merge must be 'sum' or 'concat', got {merge!r}.")
        if strides[0] != 4:
            raise ValueError(f"The first level must have stride 4, got strides {tuple(strides)}.")
        self.merge = merge
        self.deformable = deformable
        self.strides = tuple(int(x) for x in strides)
        self.levels = nn.ModuleList()
        for stride in strides:
            if deformable:  # seed 002: one deformable conv per level, then plain upsampling
                block: nn.Module = nn.Sequential(DeformableConv2d(in_channels, channels), nn.ReLU(inplace=True))
            else:  # Panoptic FPN: log2(stride / 4) conv + 2x upsample stages (one conv for P2)
                stages = max(1, (stride // 4).bit_length() - 1)
                block = nn.Sequential(
                    *[ConvNormAct(in_channels if i == 0 else channels, channels, 3, norm=norm) for i in range(stages)]
                )
            self.levels.append(block)
        self.out_channels = channels * (len(strides) if merge == "concat" else 1)
        self.classifier = nn.Conv2d(self.out_channels, num_classes, 1)

    def _level(self, i: int, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Level ``i`` to stride 4: each conv of a coarser level is followed by a 2x bilinear upsample
        (the paper's and Detectron2's order); the last resize to ``ref`` is exact when the input size is
        a multiple of 32 and covers other sizes."""
        block = self.levels[i]
        if self.deformable or self.strides[i] == 4:
            x = block(x)
        else:
            for conv in block:
                x = F.interpolate(conv(x), scale_factor=2.0, mode="bilinear", align_corners=False)
        return _up_to(x, ref) if i else x

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ref = features[0]
        outs = [self._level(i, f, ref) for i, f in enumerate(features[: len(self.levels)])]
        merged = torch.cat(outs, dim=1) if self.merge == "concat" else torch.stack(outs).sum(0)
        return self.classifier(merged), merged


def bilinear_deconv(channels: int) -> nn.ConvTranspose2d:
    """A 2x depthwise transposed conv (kernel 4, stride 2, padding 1) whose weights are bilinear
    interpolation's (FCN's initialisation): away from the border it equals
    ``F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)``; it is learned from there."""
    deconv = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, groups=channels, bias=False)
    taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
    with torch.no_grad():
        deconv.weight.copy_((taps[:, None] * taps[None, :]).expand_as(deconv.weight))
    return deconv


class FCNSemanticHead(nn.Module):
    """FCN skip architecture over the pyramid, coarse to fine, ending at stride 4.

    ``upsample``: ``"deconv"`` (FCN's learned 2x deconvolution, bilinear-initialised; seed 000) or
    ``"bilinear"`` (fixed interpolation)."""

    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        num_levels: int = 4,
        channels: int = 128,
        norm: str | None = "gn",
        upsample: str = "deconv",
    ) -> None:
        super().__init__()
        if upsample not in ("deconv", "bilinear"):
            raise ValueError(f"upsample must be 'deconv' (FCN's learned deconvolution) or 'bilinear', got {upsample!r}.")
        self.lateral = nn.ModuleList(ConvNormAct(in_channels, channels, 3, norm=norm) for _ in range(num_levels))
        self.upsample = upsample
        self.up = nn.ModuleList(bilinear_deconv(channels) for _ in range(num_levels - 1)) if upsample == "deconv" else None
        self.smooth = ConvNormAct(channels, channels, 3, norm=norm)
        self.out_channels = channels
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def _up(self, i: int, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Level ``i + 1``'s map to level ``i``'s size: deconvolution, cropped like FCN's ("crop" layer)
        when the finer level is odd-sized, or bilinear interpolation."""
        if self.up is None:
            return _up_to(x, skip)
        x = self.up[i](x)
        h, w = skip.shape[-2:]
        return x[..., :h, :w] if x.shape[-2] >= h and x.shape[-1] >= w else _up_to(x, skip)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.lateral[-1](features[len(self.lateral) - 1])
        for i in range(len(self.lateral) - 2, -1, -1):
            skip = self.lateral[i](features[i])
            x = self._up(i, x, skip) + skip  # FCN's "upsample and add the finer prediction"
        x = self.smooth(x)
        return self.classifier(x), x
