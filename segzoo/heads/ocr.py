"""OCR head and the AinnoSeg head (seed 001).

- OCR head: Yuan et al., "Object-Contextual Representations for Semantic Segmentation",
  arXiv:1909.11065, as in the authors' HRNet-OCR: an auxiliary head (1x1 conv-norm-ReLU,
  1x1 classifier) predicts the coarse logits that define the soft object regions; a 3x3
  conv-norm-ReLU reduces the features to 512 channels; the OCR block augments them; a 1x1
  classifier predicts the final logits. Outputs ``logits`` and ``coarse`` (supervised with
  weight 0.4 in the paper).
- AinnoSeg head (seed 001, "AinnoSeg: Panoramic Segmentation with High Performance"): the
  same, with DANet dual attention (arXiv:1809.02983) and a non-local block
  (arXiv:1711.07971) between the 3x3 reduction and OCR. Reading chosen where the seed is
  vague: dual attention runs on the reduced HRNetV2 features (the "fourth stage" output,
  concatenated at 1/4), keeping their 512 channels; its fused output is classified for the
  auxiliary ``da`` loss (alpha = 0.1) and passed through the non-local block into OCR, whose
  coarse logits (``coarse``, beta = 0.3) come from the auxiliary head on the HRNet features;
  the final logits have weight gamma = 1.0. (The seed names two weights gamma; these are the
  values it gives: 0.1 dual attention, 0.3 OCR auxiliary, 1.0 final.)
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import ConvNormAct, DualAttention, NonLocal2d, ObjectContext

__all__ = ["OCRHead", "AinnoSegHead"]


class OCRHead(nn.Module):
    """Outputs ``{"logits": final, "coarse": soft-region logits}`` at the input level's stride; with
    ``with_features=True`` also ``"features"``, the object-contextual representation (``channels``
    wide) that the final classifier reads (NVIDIA's HMSA computes its scale attention from it)."""

    multi_output = True
    aux_names = ("coarse",)
    provides_features = True

    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        channels: int = 512,
        key_channels: int = 256,
        in_index: int = -1,
        norm: str | None = "bn",
    ) -> None:
        super().__init__()
        self.in_index = in_index
        self.aux_conv = ConvNormAct(in_channels, in_channels, 1, norm=norm)
        self.aux_classifier = nn.Conv2d(in_channels, num_classes, 1)
        self.bottleneck = ConvNormAct(in_channels, channels, 3, norm=norm)
        self.ocr = ObjectContext(channels, channels=channels, key_channels=key_channels, norm=norm)
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        self.out_channels = channels

    def forward(self, features: list[torch.Tensor], *, with_features: bool = False) -> dict[str, torch.Tensor]:
        x = features[self.in_index]
        coarse = self.aux_classifier(self.aux_conv(x))
        context = self.ocr(self.bottleneck(x), coarse)
        out = {"logits": self.classifier(context), "coarse": coarse}
        if with_features:
            out["features"] = context
        return out


class AinnoSegHead(nn.Module):
    """Seed 001's head: reduction -> dual attention -> non-local -> OCR.

    Outputs ``{"logits", "coarse", "da"}`` at the input level's stride.
    """

    multi_output = True
    aux_names = ("coarse", "da")

    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        channels: int = 512,
        key_channels: int = 256,
        nonlocal_sub_sample: bool = True,
        dropout: float = 0.1,
        in_index: int = -1,
        norm: str | None = "bn",
    ) -> None:
        super().__init__()
        self.in_index = in_index
        self.aux_conv = ConvNormAct(in_channels, in_channels, 1, norm=norm)
        self.aux_classifier = nn.Conv2d(in_channels, num_classes, 1)
        self.bottleneck = ConvNormAct(in_channels, channels, 3, norm=norm)
        self.dual_attention = DualAttention(channels, channels=channels, norm=norm)
        self.dropout = nn.Dropout(dropout)
        self.da_classifier = nn.Conv2d(channels, num_classes, 1)
        self.nonlocal_block = NonLocal2d(channels, sub_sample=nonlocal_sub_sample, norm=norm)
        self.ocr = ObjectContext(channels, channels=channels, key_channels=key_channels, norm=norm)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        x = features[self.in_index]
        coarse = self.aux_classifier(self.aux_conv(x))
        attended = self.dual_attention(self.bottleneck(x))
        refined = self.ocr(self.nonlocal_block(attended), coarse)
        return {
            "logits": self.classifier(refined),
            "coarse": coarse,
            "da": self.da_classifier(self.dropout(attended)),
        }
