"""RoIAlign over the FPN levels with Detectron2's ``ROIAlignV2`` sampling.

Lin et al., "Feature Pyramid Networks for Object Detection", arXiv:1612.03144, Eq. 1: a box of
size ``sqrt(w h)`` is pooled from level ``floor(4 + log2(sqrt(w h) / 224))`` (clamped to the
pyramid). torchvision's ``MultiScaleRoIAlign`` (used by segzoo's default detector, as by
torchvision's Mask R-CNN) samples with ``aligned=False`` and a fixed 2 x 2 grid per bin.
Detectron2's ``ROIAlignV2`` samples with ``aligned=True`` (box corners shifted by half a pixel
so that bin centres fall on pixel centres) and an adaptive grid (``sampling_ratio=0``: about
one sample per input pixel); its weights need that sampling.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import roi_align

__all__ = ["LevelRoIAlign"]


class LevelRoIAlign(nn.Module):
    """Called like torchvision's ``MultiScaleRoIAlign``: ``pool(features, boxes, image_shapes)``.

    Args:
        featmap_names: the feature-dict keys of the levels, finest first (strides 4, 8, ...).
        output_size: pooled size (7 for boxes, 14 for masks).
        sampling_ratio: samples per bin side; 0 = adaptive (``ceil(roi size / output size)``).
        aligned: shift the boxes by -0.5 pixel (``ROIAlignV2``; Detectron2's default).
        canonical_scale, canonical_level: Eq. 1's 224 and 4.
    """

    def __init__(
        self,
        *,
        featmap_names: list[str],
        output_size: int,
        sampling_ratio: int = 0,
        aligned: bool = True,
        canonical_scale: int = 224,
        canonical_level: int = 4,
    ) -> None:
        super().__init__()
        self.featmap_names = list(featmap_names)
        self.output_size = (int(output_size), int(output_size))
        self.sampling_ratio = int(sampling_ratio)
        self.aligned = bool(aligned)
        self.canonical_scale = float(canonical_scale)
        self.canonical_level = float(canonical_level)

    def forward(
        self, features: dict[str, torch.Tensor], boxes: list[torch.Tensor], image_shapes: list[tuple[int, int]]
    ) -> torch.Tensor:
        levels = [features[name] for name in self.featmap_names]
        height = max(int(s[0]) for s in image_shapes)  # the level's stride, as torchvision infers it
        scales = [2.0 ** round(math.log2(f.shape[-2] / height)) for f in levels]
        k_min, k_max = -math.log2(scales[0]), -math.log2(scales[-1])
        rois = torch.cat(
            [torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)], dim=0
        )  # (N, 5): batch index, x1, y1, x2, y2
        ref = levels[0]
        out = ref.new_zeros((rois.shape[0], ref.shape[1], *self.output_size))
        if rois.shape[0] == 0:
            return out
        area = (rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2])
        level = torch.floor(self.canonical_level + torch.log2(torch.sqrt(area) / self.canonical_scale + 1e-8))
        level = (level.clamp(min=k_min, max=k_max) - k_min).to(torch.int64)
        for i, (feature, scale) in enumerate(zip(levels, scales)):
            index = torch.nonzero(level == i).squeeze(1)
            pooled = roi_align(
                feature, rois[index].to(feature.dtype), self.output_size, spatial_scale=scale,
                sampling_ratio=self.sampling_ratio, aligned=self.aligned,
            )  # fmt: skip
            out[index] = pooled.to(out.dtype)
        return out
