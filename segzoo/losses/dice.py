"""Soft Dice loss for multi-class segmentation.

Milletari et al., "V-Net", arXiv:1606.04797: per class
``dice_c = 2 sum(p_c t_c) / (sum p_c + sum t_c)`` on softmax probabilities ``p`` and one-hot
targets ``t`` over the valid (non-ignored) pixels of the batch; the loss is
``1 - mean_c dice_c`` over the classes present in the target (absent classes have no
well-defined Dice and are left out, as segmentation_models_pytorch does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .cross_entropy import check_target

__all__ = ["DiceLoss"]


class DiceLoss(nn.Module):
    """``1 - mean Dice`` over the classes present in the target; 0 when no pixel is valid."""

    def __init__(self, *, ignore_index: int = 255, smooth: float = 0.0, eps: float = 1e-7) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.smooth = smooth
        self.eps = eps

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = check_target(logits, target)
        num_classes = logits.shape[1]
        valid = (target != self.ignore_index).unsqueeze(1).to(logits.dtype)  # (B, 1, H, W)
        probs = torch.softmax(logits, dim=1) * valid
        safe = torch.where(target == self.ignore_index, torch.zeros_like(target), target)
        one_hot = F.one_hot(safe, num_classes).permute(0, 3, 1, 2).to(logits.dtype) * valid  # (B, K, H, W)
        dims = (0, 2, 3)
        intersection = (probs * one_hot).sum(dims)
        cardinality = probs.sum(dims) + one_hot.sum(dims)
        dice = (2 * intersection + self.smooth) / (cardinality + self.smooth).clamp_min(self.eps)
        present = one_hot.sum(dims) > 0
        if not bool(present.any()):
            return logits.sum() * 0.0
        return 1.0 - dice[present].mean()
