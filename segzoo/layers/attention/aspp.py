"""Atrous spatial pyramid pooling of DeepLabV3.

Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation", arXiv:1706.05587.
A 1x1 conv, three 3x3 atrous convs (rates 6/12/18 at output stride 16, doubled at 8) and an
image-pooling branch, concatenated and projected by a 1x1 conv. DeepLabV3+ (Chen et al.,
arXiv:1802.02611, Sec. 3.2) makes the three atrous branches depthwise separable
(``separable=True``). MMSegmentation's ``ASPPHead`` puts the image-pooling branch first and has
no 1x1 projection (its head's 3x3 bottleneck reads the concatenation): ``pool_first=True,
project=False``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..conv import ConvNormAct, SeparableConvNormAct

__all__ = ["ASPP", "aspp_rates"]


def aspp_rates(output_stride: int | None) -> tuple[int, int, int]:
    """The paper's atrous rates for an output stride: (6, 12, 18) at 16, (12, 24, 36) at 8."""
    if output_stride == 8:
        return (12, 24, 36)
    if output_stride in (16, None):
        return (6, 12, 18)
    if output_stride == 32:
        return (3, 6, 9)
    raise ValueError(f"No ASPP rates for output_stride={output_stride!r}; pass rates=... explicitly.")


class ASPP(nn.Module):
    """ASPP: ``(B, C, H, W) -> (B, channels, H, W)``.

    The image-pooling branch works on a 1x1 map, where BatchNorm fails in training with one
    image per batch (a known torchvision ASPPPooling failure), so it is a conv with bias and
    no norm. Its broadcast back to ``H x W`` is an ``expand`` (exact, any size, exportable).
    """

    def __init__(
        self,
        in_channels: int,
        *,
        channels: int = 256,
        rates: tuple[int, ...] = (6, 12, 18),
        norm: str | None = "bn",
        dropout: float = 0.1,
        separable: bool = False,
        project: bool = True,
        pool_first: bool = False,
    ) -> None:
        super().__init__()
        self.pool_first = pool_first
        self.branches = nn.ModuleList([ConvNormAct(in_channels, channels, 1, norm=norm)])
        atrous = SeparableConvNormAct if separable else ConvNormAct
        for rate in rates:
            self.branches.append(atrous(in_channels, channels, 3, dilation=int(rate), norm=norm))
        self.image_pool = ConvNormAct(in_channels, channels, 1, norm=None)
        concat = (len(rates) + 2) * channels
        self.project = (
            nn.Sequential(ConvNormAct(concat, channels, 1, norm=norm), nn.Dropout(dropout)) if project else nn.Identity()
        )
        self.out_channels = channels if project else concat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        pooled = self.image_pool(x.mean(dim=(2, 3), keepdim=True))  # (B, channels, 1, 1)
        pooled = pooled.expand(-1, -1, x.shape[2], x.shape[3])
        outs = [pooled, *outs] if self.pool_first else [*outs, pooled]
        return self.project(torch.cat(outs, dim=1))
