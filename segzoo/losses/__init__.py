"""Segmentation losses: cross entropy (ignore, class weights, OHEM, boundary), Dice,
Lovasz-softmax, and the weighted multi-output loss that models use for deep supervision."""

from torch import nn

from .cross_entropy import BoundaryCrossEntropyLoss, CrossEntropyLoss, OhemCrossEntropyLoss, boundary_mask
from .dice import DiceLoss
from .lovasz import LovaszSoftmaxLoss, lovasz_grad
from .multi_output import DeepSupervisionLoss
from .registry import LOSSES, create_loss, resolve_loss
from .uncertainty import UncertaintyWeighting

__all__ = [
    "BoundaryCrossEntropyLoss",
    "CrossEntropyLoss",
    "DeepSupervisionLoss",
    "DiceLoss",
    "LOSSES",
    "LovaszSoftmaxLoss",
    "OhemCrossEntropyLoss",
    "UncertaintyWeighting",
    "boundary_mask",
    "create_loss",
    "for_model",
    "lovasz_grad",
    "resolve_loss",
]


def for_model(model: nn.Module) -> nn.Module:
    """The combined loss a model's recipe declared (its ``criterion``): call it as
    ``for_model(model)({"logits": raw.logits, **raw.aux}, target)`` on a training-mode ``raw = model(x)``
    to get the named losses (``model.losses(raw, target)`` does this)."""
    criterion = getattr(model, "criterion", None)
    if criterion is None:
        raise TypeError(f"{type(model).__name__} declares no loss recipe (no `criterion` attribute).")
    return criterion
