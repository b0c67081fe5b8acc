"""Adaptive average pooling written as one matrix product.

Equal to ``torch.nn.functional.adaptive_avg_pool2d`` (same bins: rows
``floor(i * H / n)`` to ``ceil((i + 1) * H / n)``), but built from ``arange`` and integer
arithmetic on the input's size, so it exports to ONNX at any (dynamic) input size, where
``AdaptiveAvgPool2d`` with an output size that doesn't divide the input has no ONNX form.
Used by the pyramid pooling module (PSPNet, arXiv:1612.01105), whose bins (1, 2, 3, 6) are
pooled by one product with all their averaging rows stacked. The product reads the map in its
own layout: a channels-last map (``segzoo.optimize``'s) is a ``(B, H*W, C)`` matrix as it lies in
memory, so no contiguous copy is made (a 2048-channel 64x64 copy cost 33 ms per bin on a 2-core CPU).
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["adaptive_avg_pool2d", "pyramid_avg_pool2d"]


def _bin_matrix(size: int, bins: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(bins, size)`` averaging matrix: row i averages positions floor(i*size/bins) .. ceil((i+1)*size/bins)-1."""
    idx = torch.arange(bins, device=device).unsqueeze(1)  # (bins, 1)
    start = (idx * size) // bins
    end = ((idx + 1) * size + bins - 1) // bins
    pos = torch.arange(size, device=device).unsqueeze(0)  # (1, size)
    member = ((pos >= start) & (pos < end)).to(dtype)
    return member / member.sum(dim=1, keepdim=True)


def _pyramid_matrix(height: int, width: int, bins: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """``(sum(b * b), H * W)``: row ``i * b + j`` of bin size ``b`` averages cell ``(i, j)``; built in at
    least float32 and cast once to the input's dtype."""
    dtype = torch.promote_types(like.dtype, torch.float32) if like.is_floating_point() else torch.float32
    blocks = []
    for b in bins:
        rows, cols = _bin_matrix(height, b, dtype, like.device), _bin_matrix(width, b, dtype, like.device)  # (b, H), (b, W)
        blocks.append((rows[:, None, :, None] * cols[None, :, None, :]).reshape(b * b, height * width))
    return torch.cat(blocks).to(like.dtype)


def pyramid_avg_pool2d(x: torch.Tensor, bins: Sequence[int]) -> list[torch.Tensor]:
    """``(B, C, H, W) -> [(B, C, b, b) for b in bins]``, each ``F.adaptive_avg_pool2d(x, b)``, from one
    matrix product in the layout ``x`` has (channels-last or contiguous: no copy of ``x``)."""
    bins = [int(b) for b in bins]
    if not bins or min(bins) < 1:
        raise ValueError(f"bins must be positive grid sizes, e.g. (1, 2, 3, 6); got {tuple(bins)}.")
    height, width = x.shape[-2], x.shape[-1]
    matrix = _pyramid_matrix(height, width, bins, x)  # (S, H*W)
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        pooled = (matrix @ x.permute(0, 2, 3, 1).flatten(1, 2)).transpose(1, 2)  # (B, H*W, C) as stored -> (B, C, S)
    else:
        pooled = x.flatten(-2) @ matrix.transpose(0, 1)  # (..., C, S)
    return [part.unflatten(-1, (b, b)) for b, part in zip(bins, pooled.split([b * b for b in bins], dim=-1))]


def adaptive_avg_pool2d(x: torch.Tensor, bins: int) -> torch.Tensor:
    """``(B, C, H, W) -> (B, C, bins, bins)``, the same numbers as ``F.adaptive_avg_pool2d(x, bins)``."""
    return pyramid_avg_pool2d(x, (bins,))[0]
