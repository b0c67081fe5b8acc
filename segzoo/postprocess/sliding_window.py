"""Sliding-window inference for images larger than the training crop.

The practice of PSPNet (arXiv:1612.01105) and MMSegmentation's ``slide`` mode: overlapping
windows cover the image (the last row/column of windows is flush with the border), the
model runs on batches of windows (``chunk`` at a time, so memory stays bounded), and the
window logits are blended with uniform or Gaussian weights (a Gaussian centred on each
window, sigma = window / 8 as in nnU-Net, arXiv:1809.10486, so window borders count less).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from .tta import semantic_logits_fn

__all__ = ["sliding_window_inference", "window_starts"]


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Start offsets covering ``size`` with windows of ``window`` (the last one flush with the end)."""
    if window >= size:
        return [0]
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def _gaussian(window: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    axes = []
    for n in window:
        coords = torch.arange(n, device=like.device, dtype=torch.float32) - (n - 1) / 2
        axes.append(torch.exp(-0.5 * (coords / (n / 8)) ** 2))
    weight = axes[0][:, None] * axes[1][None, :]
    return (weight / weight.max()).clamp_min(1e-3).to(like.dtype)  # (h, w); never 0, so every pixel is covered


@torch.no_grad()
def sliding_window_inference(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    *,
    window: Sequence[int] = (512, 512),
    stride: Sequence[int] | None = None,
    blend: str = "gaussian",
    chunk: int = 4,
) -> torch.Tensor:
    """Logits ``(B, K, H, W)`` of ``model`` on ``images (B, C, H, W)``, window by window.

    Args:
        model: a segzoo model (its ``semantic_logits``) or any callable returning logits at its input's size.
        window: window height and width; a window at least as large as the image runs once
            on the whole image (the result equals plain inference).
        stride: offsets between windows (default: 2/3 of the window).
        blend: ``"gaussian"`` or ``"uniform"`` weighting of overlapping windows.
        chunk: windows per forward pass (bounds the memory).
    """
    if blend not in ("gaussian", "uniform"):
        raise ValueError(f"blend must be 'gaussian' or 'uniform', got {blend!r}.")
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}.")
    win = (int(window[0]), int(window[1]))
    step = tuple(int(s) for s in stride) if stride is not None else (max(1, win[0] * 2 // 3), max(1, win[1] * 2 // 3))
    if min(win) < 1 or min(step) < 1 or chunk < 1:
        raise ValueError(f"window, stride and chunk must be positive, got {win}, {step}, {chunk}.")
    b, _, h, w = images.shape
    model = semantic_logits_fn(model)
    if win[0] >= h and win[1] >= w:
        return model(images)
    boxes = [
        (y, x, min(win[0], h), min(win[1], w))
        for y in window_starts(h, win[0], step[0])
        for x in window_starts(w, win[1], step[1])
    ]
    total = weight_sum = weights = None
    for start in range(0, len(boxes), chunk):
        group = boxes[start : start + chunk]
        crops = torch.cat([images[:, :, y : y + wh, x : x + ww] for y, x, wh, ww in group])  # (n*B, C, wh, ww)
        logits = model(crops)
        if total is None:
            total = logits.new_zeros(b, logits.shape[1], h, w)
            weight_sum = logits.new_zeros(1, 1, h, w)
            wh, ww = group[0][2], group[0][3]
            weights = _gaussian((wh, ww), logits) if blend == "gaussian" else logits.new_ones(wh, ww)
        for i, (y, x, wh, ww) in enumerate(group):
            total[:, :, y : y + wh, x : x + ww] += logits[i * b : (i + 1) * b] * weights
            weight_sum[:, :, y : y + wh, x : x + ww] += weights
    return total / weight_sum
