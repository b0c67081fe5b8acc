"""Weighted multi-output loss (deep supervision).

Deep supervision as in PSPNet's auxiliary loss (arXiv:1612.01105), DANet's branch losses
(arXiv:1809.02983), OCRNet's auxiliary loss (arXiv:1909.11065) and seed 001's
``L = alpha L_da + beta L_ocr + gamma L_final``: one pixel loss applied to several named
outputs of a model, each with its weight.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

__all__ = ["DeepSupervisionLoss"]


class DeepSupervisionLoss(nn.Module):
    """Apply ``loss`` to each named output and weight it.

    Args:
        loss: a pixel loss ``(logits (B, K, H, W), target (B, H, W)) -> scalar``.
        weights: output name -> weight. ``"logits"`` is the final output; the others are
            the keys of the model's auxiliary outputs (e.g. ``{"logits": 1.0, "aux": 0.4}``).
            Every named output must be present; outputs without a weight are ignored.
    """

    def __init__(self, loss: nn.Module, *, weights: Mapping[str, float]) -> None:
        super().__init__()
        if "logits" not in weights:
            raise ValueError(f"weights must include the final output 'logits'; got {dict(weights)}.")
        self.loss = loss
        self.weights = {str(k): float(v) for k, v in weights.items()}

    def forward(self, outputs: Mapping[str, torch.Tensor], target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named weighted losses: ``loss_seg`` for ``"logits"``, ``loss_<name>`` for the others."""
        missing = [name for name in self.weights if name not in outputs]
        if missing:
            raise KeyError(
                f"The loss expects outputs {missing} that the model did not return (it returned {list(outputs)})."
            )
        return {
            ("loss_seg" if name == "logits" else f"loss_{name}"): weight * self.loss(outputs[name], target)
            for name, weight in self.weights.items()
            if weight != 0.0
        }
