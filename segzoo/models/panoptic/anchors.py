"""Anchors with exact sizes, as Detectron2 generates them.

torchvision's ``AnchorGenerator`` rounds each base anchor's corners to whole pixels (a size-32
anchor of aspect ratio 0.5 becomes 46 x 22 instead of 45.25 x 22.63); Detectron2's
``DefaultAnchorGenerator`` (Ren et al., Faster R-CNN, arXiv:1506.01497, as in Detectron) keeps
them exact. An RPN trained on one set of anchors predicts offsets from those anchors, so
Detectron2's weights need its anchors.
"""

from __future__ import annotations

import math

import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator

__all__ = ["ExactAnchorGenerator"]


class ExactAnchorGenerator(AnchorGenerator):
    """torchvision's ``AnchorGenerator`` (same layout: per level, aspect ratios outer, sizes inner)
    with unrounded base anchors: area ``size**2``, ``w = sqrt(size**2 / ratio)``, ``h = ratio * w``,
    computed in float64 and centred on 0 (Detectron2's ``generate_cell_anchors``)."""

    def generate_anchors(
        self,
        scales: list[int],
        aspect_ratios: list[float],
        dtype: torch.dtype = torch.float32,
        device: torch.device = torch.device("cpu"),
    ) -> torch.Tensor:
        anchors = []
        for ratio in aspect_ratios:
            for size in scales:
                w = math.sqrt(float(size) ** 2 / float(ratio))
                h = float(ratio) * w
                anchors.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
        return torch.tensor(anchors, dtype=torch.float64).to(dtype=dtype, device=device)
