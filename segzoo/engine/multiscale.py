"""Multi-scale training by rescaling each batch to a random size (seed 001, AinnoSeg).

AinnoSeg trains on randomly rescaled images (base short sides 520, 640, 800 times a random
multiple); HRNet/OCR and DeepLab configs draw a ratio in [0.5, 2.0]. The data pipeline can
do this per sample (``segzoo.data.RandomResize``); :class:`BatchRescale` does it per
iteration on the whole batch, so one batch keeps a common size and the scale changes from
step to step. The draw depends only on ``(seed, iteration)``, so a resumed run draws the same
scales.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..data import functional as DF

__all__ = ["BatchRescale"]


class BatchRescale:
    """Rescale a batch so its short side is ``base * s`` (or the batch by ``s``) each iteration.

    Args:
        scale_range: ``s`` uniform in ``(low, high)``.
        scales: ``s`` drawn from these values instead.
        base_sizes: short sides at ``s = 1``, one drawn per iteration; without them the batch's
            own size is the base (``s`` is a plain resize factor).
        size_divisor: round the new size to a multiple of this (e.g. 32 for FPNs).
        seed: the run's seed.
    """

    def __init__(
        self,
        *,
        scale_range: Sequence[float] | None = None,
        scales: Sequence[float] | None = None,
        base_sizes: Sequence[int] | None = None,
        size_divisor: int = 1,
        seed: int = 0,
    ) -> None:
        if scale_range is not None and scales is not None:
            raise ValueError("Pass scale_range (continuous) or scales (discrete), not both.")
        if scale_range is not None and (len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]):
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}.")
        if scales is not None and (not scales or min(scales) <= 0):
            raise ValueError(f"scales must be positive numbers, got {scales}.")
        if base_sizes is not None and (not base_sizes or min(base_sizes) < 1):
            raise ValueError(f"base_sizes must be positive ints, got {base_sizes}.")
        if scale_range is None and scales is None and base_sizes is None:
            raise ValueError("BatchRescale needs scale_range, scales or base_sizes.")
        self.scale_range = tuple(float(s) for s in scale_range) if scale_range is not None else None
        self.scales = tuple(float(s) for s in scales) if scales is not None else None
        self.base_sizes = tuple(int(b) for b in base_sizes) if base_sizes is not None else None
        self.size_divisor, self.seed = max(1, int(size_divisor)), int(seed)

    def size_for(self, height: int, width: int, iteration: int) -> tuple[int, int]:
        """The ``(H, W)`` a batch of ``height x width`` images gets at ``iteration``."""
        g = torch.Generator().manual_seed(self.seed * 7_919 + iteration)
        if self.scales is not None:
            s = self.scales[int(torch.randint(len(self.scales), (), generator=g))]
        elif self.scale_range is not None:
            low, high = self.scale_range
            s = low + (high - low) * float(torch.rand((), generator=g))
        else:
            s = 1.0
        factor = s
        if self.base_sizes is not None:
            base = self.base_sizes[int(torch.randint(len(self.base_sizes), (), generator=g))]
            factor = base * s / min(height, width)
        d = self.size_divisor
        return max(d, round(height * factor / d) * d), max(d, round(width * factor / d) * d)

    def __call__(self, images: Any, targets: Any, iteration: int) -> tuple[Any, Any]:
        """Semantic batches ``(B, C, H, W)`` float + ``(B, H, W)`` labels, or panoptic lists of
        ``(C, H, W)`` float images + target dicts (each image scaled by the same factor)."""
        if isinstance(images, torch.Tensor):
            size = self.size_for(*images.shape[-2:], iteration)
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
            targets = F.interpolate(targets[:, None].float(), size=size, mode="nearest-exact")[:, 0].long()
            return images, targets
        ref_h = max(int(im.shape[-2]) for im in images)
        ref_w = max(int(im.shape[-1]) for im in images)
        new_h, new_w = self.size_for(ref_h, ref_w, iteration)
        out_images, out_targets = [], []
        for image, target in zip(images, targets):
            h, w = image.shape[-2:]
            size = (max(1, round(h * new_h / ref_h)), max(1, round(w * new_w / ref_w)))
            image, target = DF.resize(image, target, size)
            out_images.append(image)
            out_targets.append(target)
        return out_images, out_targets
