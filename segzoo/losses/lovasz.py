"""Lovasz-softmax loss: a convex surrogate of the mean IoU.

Berman et al., "The Lovasz-Softmax loss: A tractable surrogate for the optimization of the
intersection-over-union measure in neural networks", arXiv:1705.08790. For each class c
present in the target, the pixel errors ``|fg_c - p_c|`` are sorted in decreasing order and
dotted with the gradient of the Lovasz extension of the Jaccard loss,
``g_i = J(i) - J(i - 1)`` with ``J(i) = 1 - (G - cumsum(fg)_i) / (G + cumsum(1 - fg)_i)``;
the loss is the mean over present classes, over all valid pixels of the batch.
"""

from __future__ import annotations

import torch
from torch import nn

from .cross_entropy import check_target

__all__ = ["LovaszSoftmaxLoss", "lovasz_grad"]


def lovasz_grad(fg_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss for errors sorted in decreasing order."""
    gts = fg_sorted.sum()
    intersection = gts - fg_sorted.cumsum(0)
    union = gts + (1.0 - fg_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


class LovaszSoftmaxLoss(nn.Module):
    """Lovasz-softmax over the classes present in the target; 0 when no pixel is valid."""

    def __init__(self, *, ignore_index: int = 255) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = check_target(logits, target)
        probs = torch.softmax(logits, dim=1).permute(0, 2, 3, 1).reshape(-1, logits.shape[1])  # (P, K)
        labels = target.reshape(-1)
        valid = labels != self.ignore_index
        probs, labels = probs[valid], labels[valid]
        losses = []
        for c in labels.unique().tolist():  # one sort per present class
            fg = (labels == c).to(probs.dtype)
            errors = (fg - probs[:, c]).abs()
            errors_sorted, order = errors.sort(descending=True)
            losses.append(errors_sorted @ lovasz_grad(fg[order]))
        if not losses:
            return logits.sum() * 0.0
        return torch.stack(losses).mean()
