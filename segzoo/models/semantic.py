"""The semantic segmentation model: backbone -> [neck] -> decode head (+ auxiliary head).

The structure of FCN (arXiv:1411.4038), DeepLab (arXiv:1706.05587, arXiv:1802.02611) and
PSPNet (arXiv:1612.01105) models: logits from the decode head are upsampled bilinearly to
the input size; an optional auxiliary FCN head on an intermediate level adds a weighted
loss during training (0.4 in PSPNet). Heads with several supervised outputs (DANet, OCR)
set ``multi_output = True`` and return a dict with ``"logits"`` and their auxiliary outputs.
The recipe declares the loss: a pixel loss and a weight per named output.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import DeepSupervisionLoss, resolve_loss
from .base import SegmentationModel

__all__ = ["SemanticModel", "SemanticOutput", "semantic_losses"]


class SemanticOutput(NamedTuple):
    """What a semantic model's ``forward`` returns, in train and eval mode: final logits and named
    auxiliary logits, all at input size. ``aux`` is filled in training mode only (predictions
    never read it; the losses do)."""

    logits: torch.Tensor  # (B, K, H, W)
    aux: dict[str, torch.Tensor]  # name -> (B, K, H, W); {} in eval mode


def resize_to(logits: torch.Tensor, reference: torch.Tensor, *, align_corners: bool = False) -> torch.Tensor:
    """Bilinear resize of ``logits`` to the spatial size of ``reference``."""
    return F.interpolate(logits, size=reference.shape[-2:], mode="bilinear", align_corners=align_corners)


class SemanticModel(SegmentationModel):
    """Backbone + decode head (+ auxiliary head), logits at input resolution for any size.

    Args:
        backbone: a module returning a list of feature maps (high resolution first).
        decode_head: a module taking that list (after ``neck``) and returning logits.
        num_classes: classes the heads predict.
        in_chans: input channels.
        neck: optional module between backbone and heads (list in, list out).
        aux_head: optional extra head (output ``"aux"``); run in training mode only.
        loss: the pixel loss: a ``segzoo.losses`` name (``"ce"``, ``"ohem"``, ``"boundary"``,
            ``"dice"``, ``"lovasz"``) or a module.
        loss_weights: weight per output name (``"logits"`` is the final output); default
            ``{"logits": 1.0}`` plus 0.4 for ``"aux"`` when there is an auxiliary head and
            0.4 for every auxiliary output of a multi-output head.
        ignore_index: label ignored by the losses.
        mean, std: normalisation used by ``predict`` (ImageNet by default).
        align_corners: of the final bilinear resize to the input size (``False``; HRNet-OCR's
            weights were trained with ``True``).
    """

    task = "semantic"
    export_formats = ("onnx", "torchscript", "torch-export")  # verified by tests/test_export.py

    def __init__(
        self,
        *,
        backbone: nn.Module,
        decode_head: nn.Module,
        num_classes: int,
        in_chans: int = 3,
        neck: nn.Module | None = None,
        aux_head: nn.Module | None = None,
        loss: str | nn.Module = "ce",
        loss_weights: Mapping[str, float] | None = None,
        ignore_index: int = 255,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        align_corners: bool = False,
    ) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, mean=mean, std=std)
        self.align_corners = bool(align_corners)
        self.backbone = backbone
        self.neck = neck if neck is not None else nn.Identity()
        self.decode_head = decode_head
        self.aux_head = aux_head
        self.head_multi_output = bool(getattr(decode_head, "multi_output", False))
        self.ignore_index = int(ignore_index)
        if loss_weights is None:
            names = list(getattr(decode_head, "aux_names", ())) + (["aux"] if aux_head is not None else [])
            loss_weights = {"logits": 1.0, **{name: 0.4 for name in names}}
        self.criterion = DeepSupervisionLoss(resolve_loss(loss, ignore_index=self.ignore_index), weights=loss_weights)

    @property
    def feature_info(self) -> list:
        """Channels and strides of what ``extract_features`` returns (the neck's levels when there is one)."""
        return getattr(self.neck, "feature_info", None) or self.backbone.feature_info

    def extract_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Backbone (and neck) features, high resolution first."""
        return self.neck(self.backbone(x))

    def _head_outputs(self, features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.decode_head(features)
        return out if self.head_multi_output else {"logits": out}

    def forward(self, x: torch.Tensor, targets: object = None) -> SemanticOutput:
        """Normalised images ``(B, C, H, W)`` -> :class:`SemanticOutput` at input size: the logits,
        and in training mode the auxiliary logits too. ``targets`` is not read (the contract's
        optional argument; see :class:`~segzoo.models.SegmentationModel`)."""
        features = self.extract_features(x)
        ac = self.align_corners
        if not self.training:  # predictions read the final logits only: skip the auxiliary heads
            return SemanticOutput(logits=resize_to(self._head_outputs(features)["logits"], x, align_corners=ac), aux={})
        outputs = {name: resize_to(value, x, align_corners=ac) for name, value in self._head_outputs(features).items()}
        if self.aux_head is not None:
            outputs["aux"] = resize_to(self.aux_head(features), x, align_corners=ac)
        logits = outputs.pop("logits")
        return SemanticOutput(logits=logits, aux=outputs)

    def losses(self, raw: SemanticOutput, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """The recipe's weighted losses (``loss_seg`` and ``loss_<aux name>``) of a training-mode ``forward``.

        Args:
            raw: ``forward``'s output in training mode (``model.train()``).
            targets: ``(B, H, W)`` integer labels, ``ignore_index`` for unlabelled pixels.
        """
        return semantic_losses(self.criterion, raw, targets)


def semantic_losses(criterion: DeepSupervisionLoss, raw: SemanticOutput, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """``criterion`` over the final and auxiliary logits of ``raw``, with a clear error for an eval-mode output."""
    missing = [name for name in criterion.weights if name != "logits" and name not in raw.aux]
    if missing and not raw.aux:
        raise ValueError(
            f"losses() needs the auxiliary outputs {missing}, which forward computes in training mode only; "
            "call model.train() before model(images)."
        )
    return criterion({"logits": raw.logits, **raw.aux}, targets)
