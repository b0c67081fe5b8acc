"""Adaptive average pooling written as two small matrix products.

Equal to ``torch.nn.functional.adaptive_avg_pool2d`` (same bins: rows
``floor(i * H / n)`` to ``ceil((i + 1) * H / n)``), but built from ``arange`` and integer
arithmetic on the input's size, so it exports to ONNX at any (dynamic) input size, where
``AdaptiveAvgPool2d`` with an output size that doesn't divide the input has no ONNX form.
Used by the pyramid pooling module (PSPNet, arXiv:1612.01105).
"""

from __future__ import annotations

import torch

__all__ = ["adaptive_avg_pool2d"]


def _bin_matrix(size: int, bins: int, like: torch.Tensor) -> torch.Tensor:
    """``(bins, size)`` averaging matrix: row i averages positions floor(i*size/bins) .. ceil((i+1)*size/bins)-1."""
    idx = torch.arange(bins, device=like.device).unsqueeze(1)  # (bins, 1)
    start = (idx * size) // bins
    end = ((idx + 1) * size + bins - 1) // bins
    pos = torch.arange(size, device=like.device).unsqueeze(0)  # (1, size)
    member = ((pos >= start) & (pos < end)).to(like.dtype)
    return member / member.sum(dim=1, keepdim=True)


def adaptive_avg_pool2d(x: torch.Tensor, bins: int) -> torch.Tensor:
    """``(B, C, H, W) -> (B, C, bins, bins)``, the same numbers as ``F.adaptive_avg_pool2d(x, bins)``."""
    rows = _bin_matrix(x.shape[-2], bins, x)  # (bins, H)
    cols = _bin_matrix(x.shape[-1], bins, x)  # (bins, W)
    # A channels-last input would make the batched matmul copy each (H, W) slice separately
    # (thousands of small copies: 45x slower); one contiguous copy of the map is cheap.
    return rows @ x.contiguous() @ cols.transpose(0, 1)
