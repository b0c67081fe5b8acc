"""The pixel-loss registry: ``create_loss(name, **kw)``."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..registry import Registry
from .cross_entropy import BoundaryCrossEntropyLoss, CrossEntropyLoss, OhemCrossEntropyLoss
from .dice import DiceLoss
from .lovasz import LovaszSoftmaxLoss

__all__ = ["LOSSES", "create_loss", "resolve_loss"]

LOSSES = Registry("loss", list_hint="segzoo.losses.LOSSES.names()")
LOSSES.add("ce", CrossEntropyLoss)
LOSSES.add("ohem", OhemCrossEntropyLoss)
LOSSES.add("boundary", BoundaryCrossEntropyLoss)
LOSSES.add("dice", DiceLoss)
LOSSES.add("lovasz", LovaszSoftmaxLoss)


def create_loss(name: str, **kwargs: Any) -> nn.Module:
    """A pixel loss by name (``ce``, ``ohem``, ``boundary``, ``dice``, ``lovasz``)."""
    return LOSSES.build(name, **kwargs)


def resolve_loss(loss: str | nn.Module, *, ignore_index: int = 255) -> nn.Module:
    """A loss given by name (created with ``ignore_index``) or as a module."""
    if isinstance(loss, nn.Module):
        return loss
    if isinstance(loss, str):
        return create_loss(loss, ignore_index=ignore_index)
    raise TypeError(f"A loss is a registry name or an nn.Module, got {type(loss).__name__}.")
