"""The semantic segmentation model: backbone -> [neck] -> decode head (+ auxiliary head).

The structure of FCN (arXiv:1411.4038), DeepLab (arXiv:1706.05587, arXiv:1802.02611) and
PSPNet (arXiv:1612.01105) models: logits from the decode head are upsampled bilinearly to
the input size; an optional auxiliary FCN head on an intermediate level adds a weighted
loss during training (0.4 in PSPNet).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import SegmentationModel

__all__ = ["SemanticModel", "SemanticOutput"]


class SemanticOutput(NamedTuple):
    """What ``forward_train`` returns: final logits and named auxiliary logits, all at input size."""

    logits: torch.Tensor  # (B, K, H, W)
    aux: dict[str, torch.Tensor]  # name -> (B, K, H, W)


def resize_to(logits: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of ``logits`` to the spatial size of ``reference``."""
    return F.interpolate(logits, size=reference.shape[-2:], mode="bilinear", align_corners=False)


class SemanticModel(SegmentationModel):
    """Backbone + decode head (+ auxiliary head), logits at input resolution for any size.

    Args:
        backbone: a module returning a list of feature maps (high resolution first).
        decode_head: a module taking that list (after ``neck``) and returning logits.
        num_classes: classes the heads predict.
        in_chans: input channels.
        neck: optional module between backbone and heads (list in, list out).
        aux_head: optional head trained with ``aux_weight``; skipped by ``forward``.
        aux_weight: weight of the auxiliary cross entropy.
        ignore_index: label ignored by the losses.
        mean, std: normalisation used by ``predict`` (ImageNet by default).
    """

    task = "semantic"

    def __init__(
        self,
        *,
        backbone: nn.Module,
        decode_head: nn.Module,
        num_classes: int,
        in_chans: int = 3,
        neck: nn.Module | None = None,
        aux_head: nn.Module | None = None,
        aux_weight: float = 0.4,
        ignore_index: int = 255,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, mean=mean, std=std)
        self.backbone = backbone
        self.neck = neck if neck is not None else nn.Identity()
        self.decode_head = decode_head
        self.aux_head = aux_head
        self.aux_weight = float(aux_weight)
        self.ignore_index = int(ignore_index)

    def extract_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Backbone (and neck) features, high resolution first."""
        return self.neck(self.backbone(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images ``(B, C, H, W)`` -> logits ``(B, K, H, W)`` (auxiliary heads skipped)."""
        return resize_to(self.decode_head(self.extract_features(x)), x)

    def forward_train(self, x: torch.Tensor) -> SemanticOutput:
        """Final and auxiliary logits, all at input size, in train and eval mode alike."""
        features = self.extract_features(x)
        logits = resize_to(self.decode_head(features), x)
        aux = {} if self.aux_head is None else {"aux": resize_to(self.aux_head(features), x)}
        return SemanticOutput(logits=logits, aux=aux)

    def loss(self, outputs: SemanticOutput, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cross entropy on the final logits plus ``aux_weight`` times that of each auxiliary output.

        Args:
            outputs: the result of ``forward_train``.
            target: ``(B, H, W)`` int64 labels, ``ignore_index`` for unlabelled pixels.
        """
        if target.shape != outputs.logits.shape[:1] + outputs.logits.shape[2:]:
            raise ValueError(
                f"target must be (B, H, W) = {tuple(outputs.logits.shape[:1] + outputs.logits.shape[2:])}, "
                f"got {tuple(target.shape)}."
            )
        target = target.long()
        losses = {"loss_seg": F.cross_entropy(outputs.logits, target, ignore_index=self.ignore_index)}
        for name, logits in outputs.aux.items():
            losses[f"loss_{name}"] = self.aux_weight * F.cross_entropy(logits, target, ignore_index=self.ignore_index)
        return losses

    def _predict_batch(self, images: torch.Tensor) -> list[torch.Tensor]:
        return list(self(images).argmax(dim=1).unbind(0))
