"""A tiny ResNet-like backbone for tests, after timm's ``test_*`` models.

Architecture after "Deep Residual Learning for Image Recognition" (arXiv:1512.03385), shrunk
to ~32k parameters: channels 8/16/32/64 at strides 4/8/16/32, BatchNorm, one residual block
per stage (depthwise 3x3 + pointwise 1x1, as in MobileNet, arXiv:1704.04861, to stay tiny).
``output_stride`` 8/16 replaces the last strides by dilation like DeepLab (arXiv:1706.05587),
so every model recipe, dilated or not, can be exercised in milliseconds on CPU.

It has no published weights: ``pretrained=True`` raises ``ValueError``. ``weights`` may name
a local file saved from a ``TinyBackbone`` with the same ``in_chans`` (safetensors or a
state dict), which is loaded strictly.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .base import FeatureInfo, register_backbone
from .local_weights import load_backbone_file

__all__ = ["TinyBackbone"]

PAPER = "Deep Residual Learning for Image Recognition (arXiv:1512.03385)"


class TinyStage(nn.Module):
    """Strided (or dilated) 3x3 conv + BN + ReLU, then ``x + BN(pw(dw(x)))`` and ReLU."""

    def __init__(self, in_channels: int, channels: int, *, stride: int, dilation: int, first_dilation: int) -> None:
        super().__init__()
        # The conv whose stride became dilation keeps the previous dilation (as torchvision /
        # timm do for the first block of a dilated stage); later convs use the new one.
        self.down = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, stride=stride, padding=first_dilation, dilation=first_dilation,
                      bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )  # fmt: skip
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        return self.act(x + self.block(x))


class TinyBackbone(nn.Module):
    """Four levels, 8/16/32/64 channels at strides 4/8/16/32 (capped at ``output_stride``).

    Args:
        output_stride: 8, 16 or 32; ``None`` means 32.
        in_chans: input channels.
        channels: channels of the four levels.
        weights: optional local file saved from a ``TinyBackbone`` of the same configuration.
    """

    def __init__(
        self,
        *,
        output_stride: int | None = None,
        in_chans: int = 3,
        channels: tuple[int, int, int, int] = (8, 16, 32, 64),
        weights: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        output_stride = output_stride or 32
        if output_stride not in (8, 16, 32):
            raise ValueError(f"TinyBackbone supports output_stride 8, 16, 32 or None, got {output_stride!r}.")
        # Stem: stride 2, (B, in_chans, H, W) -> (B, c0, H/2, W/2).
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, channels[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        )
        stages, info = [], []
        stride, dilation, prev = 2, 1, channels[0]
        for i, c in enumerate(channels):
            first_dilation = dilation
            if stride * 2 > output_stride:  # past output_stride: dilate instead of subsampling
                step, dilation = 1, dilation * 2
            else:
                step, stride = 2, stride * 2
            stages.append(TinyStage(prev, c, stride=step, dilation=dilation, first_dilation=first_dilation))
            info.append(FeatureInfo(channels=c, stride=stride, name=f"stages.{i}"))
            prev = c
        self.stages = nn.ModuleList(stages)
        self.feature_info = info

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if weights is not None:
            load_backbone_file(self, weights, backbone="tiny", stem_key="stem.0.weight")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)  # (B, C_i, H/s_i, W/s_i)
        return out


@register_backbone(family="tiny", paper=PAPER, output_strides=(8, 16, 32))
def tiny(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TinyBackbone:
    """Test backbone: 8/16/32/64 channels at strides 4/8/16/32, ~32k parameters."""
    if pretrained and weights is None:
        raise ValueError(
            "tiny has no pretrained weights: use pretrained=False, or weights='/path/to/file.safetensors' "
            "saved from a TinyBackbone."
        )
    return TinyBackbone(output_stride=output_stride, in_chans=in_chans, weights=weights)
