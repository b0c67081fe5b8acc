"""Exponential moving average (EMA) of model weights.

Polyak averaging (Polyak & Juditsky, 1992) in its exponential form, as in the Mean Teacher
(Tarvainen & Valpola, arXiv:1703.01780) and timm's ``ModelEmaV2``: after every optimiser
step ``ema = d * ema + (1 - d) * weights`` for floating-point parameters and buffers;
integer buffers (BatchNorm's ``num_batches_tracked``) are copied. With ``warmup`` the decay
ramps up as ``min(d, (1 + n) / (10 + n))`` after ``n`` updates, so early averages are not
dominated by the random initialisation.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

__all__ = ["ModelEMA"]


class ModelEMA:
    """An averaged copy of a model (``ema.module``, in eval mode, without gradients).

    Args:
        model: the model to follow (not a DDP wrapper: pass ``ddp.module``).
        decay: ``d`` in ``(0, 1)``.
        warmup: ramp the decay up over the first updates (see the module docstring).
    """

    def __init__(self, model: nn.Module, *, decay: float = 0.9998, warmup: bool = True) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}.")
        self.decay, self.warmup, self.updates = float(decay), bool(warmup), 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update uses."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current weights."""
        d = self.current_decay()
        current = model.state_dict()
        for name, ema_value in self.module.state_dict().items():
            value = current[name].detach()
            if ema_value.is_floating_point():
                ema_value.lerp_(value.to(ema_value.dtype), 1.0 - d)
            else:
                ema_value.copy_(value)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        """Counters only; the averaged weights are saved with ``segzoo.save(ema.module, ...)``."""
        return {"decay": self.decay, "warmup": self.warmup, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay, self.warmup, self.updates = float(state["decay"]), bool(state["warmup"]), int(state["updates"])
