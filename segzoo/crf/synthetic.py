"""A seeded, noisy unary for CRF tests, benchmarks and demos (the same recipe everywhere)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["noisy_unary"]


def noisy_unary(h: int, w: int, k: int, seed: int = 0) -> torch.Tensor:
    """(K, H, W) probabilities: random labels on a 16 px grid, one-hot, 9x9 box blur, x3, N(0, 1) noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, k, (1, 1, max(h // 16, 2), max(w // 16, 2)), generator=g).float()
    labels = F.interpolate(coarse, size=(h, w), mode="nearest").long()[0, 0]
    onehot = F.one_hot(labels, k).permute(2, 0, 1).float()[None]
    logits = 3 * F.avg_pool2d(onehot, 9, 1, 4, count_include_pad=False)[0] + torch.randn(k, h, w, generator=g)
    return torch.softmax(logits, 0)
