"""Optimiser parameter groups, the poly learning-rate schedule and the optimiser factory.

Seed 004 ("Attention to Refine through Multi-Scales"): poly policy
``lr = base * (1 - iter / max_iter) ** 0.9`` (ParseNet, arXiv:1506.04579) with the decoder
("head") at 10 times the encoder's learning rate. Weight decay is not applied to norms and
biases (the common practice since "Bag of Tricks", arXiv:1812.01187). Optimisers: SGD with
momentum 0.9, and AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization",
arXiv:1711.05101).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import OPTIMIZERS

__all__ = ["param_groups", "poly_lambda", "PolyLR", "build_optimizer", "OPTIMIZERS"]


_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


def param_groups(
    model: nn.Module, *, lr: float, head_lr_mult: float = 1.0, weight_decay: float = 1e-4
) -> list[dict[str, Any]]:
    """Parameter groups: backbone vs head (``lr * head_lr_mult``; 1 by default, as ``TrainConfig``; seed
    004's recipe uses 10), each with and without decay.

    Backbone parameters are those under any submodule attribute named ``backbone`` (so a
    multi-scale model's ``model.backbone`` counts too); everything else is head (decoder,
    necks, fusers). Norm weights and all biases get no weight decay. Empty groups are left out;
    each group has a ``name`` (``backbone``, ``backbone_no_decay``, ``head``, ``head_no_decay``).
    """
    no_decay_ids = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if isinstance(module, _NORMS) or name == "bias" or p.ndim <= 1:
                no_decay_ids.add(id(p))
    groups: dict[str, list[nn.Parameter]] = {"backbone": [], "backbone_no_decay": [], "head": [], "head_no_decay": []}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "backbone" if "backbone" in name.split(".") else "head"
        groups[part + ("_no_decay" if id(p) in no_decay_ids else "")].append(p)
    out = []
    for key, params in groups.items():
        if params:
            mult = 1.0 if key.startswith("backbone") else head_lr_mult
            out.append(
                {
                    "name": key,
                    "params": params,
                    "lr": lr * mult,
                    "initial_lr": lr * mult,
                    "weight_decay": 0.0 if key.endswith("no_decay") else weight_decay,
                }
            )
    return out


def poly_lambda(max_iters: int, *, power: float = 0.9, warmup_iters: int = 0, warmup_ratio: float = 0.1):
    """The multiplier of the poly schedule at step ``it`` (linear warm-up first, if any)."""
    if max_iters < 1:
        raise ValueError(f"max_iters must be >= 1, got {max_iters}.")

    def factor(it: int) -> float:
        poly = max(0.0, 1.0 - min(it, max_iters) / max_iters) ** power
        if it < warmup_iters:
            return poly * (warmup_ratio + (1 - warmup_ratio) * it / warmup_iters)
        return poly

    return factor


class PolyLR(torch.optim.lr_scheduler.LambdaLR):
    """``lr = base * (1 - it / max_iters) ** power`` for every parameter group (step once per iteration)."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, max_iters: int, power: float = 0.9, warmup_iters: int = 0):
        super().__init__(optimizer, poly_lambda(max_iters, power=power, warmup_iters=warmup_iters))


def build_optimizer(
    model: nn.Module,
    *,
    name: str = "sgd",
    lr: float,
    weight_decay: float = 1e-4,
    head_lr_mult: float = 1.0,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.Optimizer:
    """SGD (momentum, no Nesterov) or AdamW over :func:`param_groups` (head at ``lr * head_lr_mult``,
    no weight decay on norms and biases)."""
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}.")
    groups = param_groups(model, lr=lr, head_lr_mult=head_lr_mult, weight_decay=weight_decay)
    if not groups:
        raise ValueError(f"{type(model).__name__} has no trainable parameters (all have requires_grad=False).")
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    raise ValueError(f"Unknown optimizer {name!r}; choose one of {OPTIMIZERS}.")
