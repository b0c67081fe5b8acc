"""Deformable 3x3 convolution with learned offsets initialised to zero.

Dai et al., "Deformable Convolutional Networks", arXiv:1703.06211, on
``torchvision.ops.DeformConv2d``: a plain 3x3 conv predicts 2 * 9 offsets per position;
with its weights and bias at zero the block starts as an ordinary 3x3 convolution. Seed 002
puts these in the FPN outputs P3-P5 and in its semantic head, UPSNet in its semantic head.
torchvision's deformable kernels have no bfloat16 (CPU, CUDA) or float16 (CPU) version, so a
reduced-precision input (autocast) is computed in float32 and the result cast back.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import DeformConv2d

__all__ = ["DeformableConv2d"]


class DeformableConv2d(nn.Module):
    """``(B, C_in, H, W) -> (B, C_out, H, W)``: 3x3 deformable conv, offsets from a zero-initialised conv."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int = 3, bias: bool = True) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.offset = nn.Conv2d(in_channels, 2 * kernel_size * kernel_size, kernel_size, padding=pad)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)
        self.conv = DeformConv2d(in_channels, out_channels, kernel_size, padding=pad, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offset = self.offset(x)
        if x.dtype in (torch.float32, torch.float64):
            return self.conv(x, offset)
        return self.conv(x.float(), offset.float()).to(x.dtype)
