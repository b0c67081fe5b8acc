"""Non-local block, embedded-Gaussian version.

Wang et al., "Non-local Neural Networks", arXiv:1711.07971: ``theta``, ``phi``, ``g`` are
1x1 convs to C/2; ``y = softmax(theta^T phi) g`` over positions; ``z = BN(W y) + x`` with the
norm's scale initialised to 0 so the block starts as the identity. Optional 2x2 max-pool
sub-sampling of ``phi`` and ``g`` (the paper's cheaper variant). No 1/sqrt(d) scaling, as in
the paper's embedded Gaussian.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..conv import make_norm
from .functional import attend, tokens_to_map

__all__ = ["NonLocal2d"]


class NonLocal2d(nn.Module):
    """Non-local block: ``(B, C, H, W) -> (B, C, H, W)``, identity at init."""

    def __init__(
        self,
        channels: int,
        *,
        inner_channels: int | None = None,
        sub_sample: bool = False,
        norm: str | None = "bn",
        scaled: bool = False,
    ) -> None:
        super().__init__()
        inner = inner_channels or max(channels // 2, 1)
        self.sub_sample = sub_sample
        # The paper's embedded Gaussian is softmax(theta^T phi); mmcv's NonLocal2d (MMSegmentation's NLHead,
        # use_scale=True) divides the affinity by sqrt(inner channels) first.
        self.scale = inner**-0.5 if scaled else 1.0
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1, bias=norm is None)
        self.norm = make_norm(norm, channels)
        # Zero init of the last scale (or of the conv without a norm): the block starts as the identity.
        last = self.norm if norm is not None else self.out
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.theta(x).flatten(2).transpose(1, 2)  # (B, N, C/2)
        k, v = self.phi(x), self.g(x)
        if self.sub_sample:  # max-pool after phi and g, as in the paper
            k, v = F.max_pool2d(k, 2, ceil_mode=True), F.max_pool2d(v, 2, ceil_mode=True)
        k = k.flatten(2).transpose(1, 2)  # (B, M, C/2)
        v = v.flatten(2).transpose(1, 2)  # (B, M, C/2)
        y = tokens_to_map(attend(q, k, v, scale=self.scale), h, w)
        return self.norm(self.out(y)) + x
