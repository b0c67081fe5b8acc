"""Multi-task loss weighting by learned homoscedastic uncertainty.

Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
Geometry and Semantics", arXiv:1705.07115: with ``s_i = log sigma_i^2`` learned per task,
``L = sum_i 0.5 * exp(-s_i) * L_i + 0.5 * s_i`` (eq. 7 with ``1 / (2 sigma^2)`` weights and the
``log sigma`` regulariser; ``form="classification"`` uses ``exp(-s_i) * L_i + 0.5 * s_i``,
the paper's softmax-likelihood form). Seed 000 uses it for its semantic and instance tasks;
the formula printed in the seed is garbled, so this is the standard form, not the seed's.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

__all__ = ["UncertaintyWeighting"]


class UncertaintyWeighting(nn.Module):
    """Combine per-task losses with learned log-variances ``log_vars`` (initialised to 0)."""

    def __init__(self, tasks: Sequence[str], *, form: str = "regression") -> None:
        super().__init__()
        if form not in ("regression", "classification"):
            raise ValueError(f"form must be 'regression' or 'classification', got {form!r}.")
        if not tasks:
            raise ValueError("UncertaintyWeighting needs at least one task.")
        self.tasks = tuple(tasks)
        self.form = form
        self.log_vars = nn.Parameter(torch.zeros(len(self.tasks)))

    def weights(self) -> torch.Tensor:
        """The multiplier of each task's loss, ``0.5 exp(-s_i)`` (or ``exp(-s_i)``), in ``tasks`` order."""
        return (0.5 if self.form == "regression" else 1.0) * torch.exp(-self.log_vars)

    def regularizer(self) -> torch.Tensor:
        """The ``0.5 * sum_i s_i`` term that keeps the variances from growing without bound."""
        return 0.5 * self.log_vars.sum()

    def forward(self, task_losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The weighted total of ``{task: loss}`` (every task must be present)."""
        missing = [t for t in self.tasks if t not in task_losses]
        if missing:
            raise KeyError(f"Missing task losses {missing}; expected {list(self.tasks)}.")
        weights = self.weights()
        return sum(weights[i] * task_losses[task] for i, task in enumerate(self.tasks)) + self.regularizer()
