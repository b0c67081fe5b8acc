"""Pixel-wise cross entropy losses: plain (ignore label, class weights), OHEM and boundary-aware.

- OHEM: online hard example mining as practised for OCRNet (arXiv:1909.11065) and in
  DeepLab/PSPNet code bases: keep the pixels whose probability for the true class is below
  ``thresh`` (0.7), but at least the ``min_kept`` hardest ones.
- Boundary-aware: seed 001 (AinnoSeg) stresses boundary pixels; pixels within
  ``boundary_width`` pixels of a label change get weight ``boundary_weight``.

Every loss averages over the pixels it keeps and returns 0 (with zero gradient, still
connected to the logits) when no pixel is valid, instead of PyTorch's NaN.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CrossEntropyLoss", "OhemCrossEntropyLoss", "BoundaryCrossEntropyLoss", "boundary_mask", "check_target"]


def check_target(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Check ``target (B, H, W)`` against ``logits (B, K, H, W)``; return it as int64."""
    if logits.ndim != 4:
        raise ValueError(f"logits must be (B, K, H, W), got shape {tuple(logits.shape)}.")
    expected = (logits.shape[0], *logits.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(f"target must be (B, H, W) = {expected} to match the logits, got {tuple(target.shape)}.")
    if target.is_floating_point():
        raise TypeError(f"target must hold integer labels, got {target.dtype}.")
    return target.long()


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    total = weights.sum()
    # No valid pixel: 0 that is still a function of the logits (zero gradient, not NaN).
    return torch.where(total > 0, (values * weights).sum() / total.clamp_min(1e-12), logits.sum() * 0.0)


class CrossEntropyLoss(nn.Module):
    """Cross entropy with an ignore label and optional per-class weights.

    With class weights the mean is weighted by the weight of each pixel's class, as
    ``torch.nn.functional.cross_entropy`` does.
    """

    def __init__(
        self, *, ignore_index: int = 255, class_weights: Sequence[float] | None = None, label_smoothing: float = 0.0
    ) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None
        self.register_buffer("class_weights", weight, persistent=False)

    def pixel_losses(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel losses ``(B, H, W)`` and per-pixel weights (0 on ignored pixels)."""
        target = check_target(logits, target)
        valid = target != self.ignore_index
        bad = valid & ((target < 0) | (target >= logits.shape[1]))
        if bad.any():
            raise ValueError(
                f"target has labels {sorted(target[bad].unique().tolist())[:10]} outside [0, {logits.shape[1] - 1}] "
                f"that are not ignore_index={self.ignore_index}."
            )
        safe = torch.where(valid, target, torch.zeros_like(target))
        losses = F.cross_entropy(logits, safe, reduction="none", label_smoothing=self.label_smoothing)
        weights = valid.to(logits.dtype)
        if self.class_weights is not None:
            weights = weights * self.class_weights.to(logits.dtype)[safe]
        return losses, weights

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        losses, weights = self.pixel_losses(logits, target)
        return _weighted_mean(losses, weights, logits)


class OhemCrossEntropyLoss(CrossEntropyLoss):
    """Cross entropy over the hard pixels only.

    A valid pixel is kept when its softmax probability for the true class is below
    ``thresh``; when fewer than ``min_kept`` pixels qualify, the ``min_kept`` pixels with the
    lowest true-class probability are kept instead (all valid pixels if there are fewer).
    """

    def __init__(
        self,
        *,
        thresh: float = 0.7,
        min_kept: int = 100_000,
        ignore_index: int = 255,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__(ignore_index=ignore_index, class_weights=class_weights)
        if not 0.0 < thresh <= 1.0:
            raise ValueError(f"thresh must be in (0, 1], got {thresh}.")
        self.thresh = thresh
        self.min_kept = int(min_kept)

    @torch.no_grad()
    def keep_mask(self, logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The pixels OHEM keeps, ``(B, H, W)`` bool."""
        safe = torch.where(valid, target, torch.zeros_like(target))
        prob = torch.softmax(logits.float(), dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)  # (B, H, W)
        prob = torch.where(valid, prob, torch.full_like(prob, 2.0))  # ignored pixels are never hard
        keep = prob < self.thresh
        n_min = min(self.min_kept, int(valid.sum()))
        if int(keep.sum()) < n_min:
            hardest = prob.flatten().topk(n_min, largest=False).indices
            keep = torch.zeros_like(keep).flatten().index_fill_(0, hardest, True).view_as(keep)
        return keep

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        losses, weights = self.pixel_losses(logits, target)
        keep = self.keep_mask(logits, target.long(), weights > 0)
        return _weighted_mean(losses, weights * keep, logits)


def boundary_mask(target: torch.Tensor, width: int) -> torch.Tensor:
    """Pixels within ``width`` pixels (Chebyshev distance) of a label change, ``(B, H, W)`` bool.

    The ignore label counts as a label of its own, so pixels next to an ignored band (VOC's
    object outlines) count as boundary pixels.
    """
    labels = target.float().unsqueeze(1)  # (B, 1, H, W)
    k = 2 * width + 1
    high = F.max_pool2d(labels, k, stride=1, padding=width)
    low = -F.max_pool2d(-labels, k, stride=1, padding=width)
    return (high != low).squeeze(1)


class BoundaryCrossEntropyLoss(CrossEntropyLoss):
    """Cross entropy with pixels near label boundaries weighted ``boundary_weight`` (others 1)."""

    def __init__(
        self,
        *,
        boundary_width: int = 3,
        boundary_weight: float = 2.0,
        ignore_index: int = 255,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__(ignore_index=ignore_index, class_weights=class_weights)
        if boundary_width < 1:
            raise ValueError(f"boundary_width must be >= 1 pixel, got {boundary_width}.")
        self.boundary_width = int(boundary_width)
        self.boundary_weight = float(boundary_weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        losses, weights = self.pixel_losses(logits, target)
        near = boundary_mask(target.long(), self.boundary_width).to(weights.dtype)
        weights = weights * (1.0 + (self.boundary_weight - 1.0) * near)
        return _weighted_mean(losses, weights, logits)
