"""Fully convolutional head, also used as the auxiliary head of the semantic recipes.

Long et al., "Fully Convolutional Networks for Semantic Segmentation", arXiv:1411.4038
(the head of torchvision's ``fcn_resnet50``: 3x3 conv to C/4, dropout, 1x1 classifier).
``context`` puts any attention/context block of ``segzoo.layers`` (``se``, ``danet``,
``nonlocal``, ``ppm``, ``aspp``, by registry name or as a module) between the convs and the
classifier: ``FCNHead(2048, num_classes=19, context="danet")``. ``concat_input=True`` concatenates
the input with the convs' output and fuses them with one more 3x3 conv-norm-ReLU (MMSegmentation's
``FCNHead(concat_input=True)``, the head of its FCN R50-D8 models, with ``num_convs=2``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import ConvNormAct, resolve_attention

__all__ = ["FCNHead"]


class FCNHead(nn.Module):
    """``num_convs`` 3x3 conv-norm-ReLU, dropout, 1x1 classifier on ``features[in_index]``."""

    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        channels: int | None = None,
        num_convs: int = 1,
        dropout: float = 0.1,
        in_index: int = -1,
        norm: str | None = "bn",
        context: str | nn.Module | None = None,
        concat_input: bool = False,
    ) -> None:
        super().__init__()
        channels = channels or max(in_channels // 4, 1)
        self.in_index = in_index
        self.convs = nn.Sequential(
            *[ConvNormAct(in_channels if i == 0 else channels, channels, 3, norm=norm) for i in range(num_convs)]
        )
        width = channels if num_convs else in_channels
        self.concat = ConvNormAct(in_channels + width, channels, 3, norm=norm) if concat_input else None
        width = channels if concat_input else width
        if context == "ocr":
            raise ValueError("The OCR block also needs coarse logits: use segzoo.heads.OCRHead (or the ocrnet_* recipes).")
        # A block by registry name is built for this width; its out_channels (if it changes the width) feed the classifier.
        self.context = resolve_attention(context, width)
        width = getattr(self.context, "out_channels", width)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[self.in_index]
        out = self.convs(x)
        if self.concat is not None:
            out = self.concat(torch.cat([x, out], dim=1))
        return self.classifier(self.dropout(self.context(out)))
