"""Pasting box-relative mask probabilities into the image by bilinear sampling at pixel centres.

A Mask R-CNN head predicts an ``M x M`` mask inside each box (He et al., arXiv:1703.06870).
torchvision pastes it by resizing the mask (padded by one pixel) to the box's integer size
(``paste_masks_in_image``, segzoo's default); Detectron2 samples it bilinearly at the centre of
every image pixel, the mask's ``M x M`` cells spanning the box exactly (``grid_sample`` with
``align_corners=False``, zeros outside). The two differ along mask edges, so reproducing
Detectron2's panoptic output needs its paste.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["paste_masks_by_sampling"]


def paste_masks_by_sampling(masks: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(N, M, M)`` masks in their ``(N, 4)`` xyxy boxes -> ``(N, H, W)`` at image ``size``.

    Each mask is sampled only over its box's pixels (one pixel of margin, where the sampling
    can still be non-zero); the rest of the image is 0.
    """
    h, w = int(size[0]), int(size[1])
    out = masks.new_zeros((masks.shape[0], h, w))
    for i in range(masks.shape[0]):
        x0, y0, x1, y1 = (float(v) for v in boxes[i])
        left, top = max(int(math.floor(x0)) - 1, 0), max(int(math.floor(y0)) - 1, 0)
        right, bottom = min(int(math.ceil(x1)) + 1, w), min(int(math.ceil(y1)) + 1, h)
        if right <= left or bottom <= top:
            continue
        box = boxes[i].to(torch.float32)
        ys = torch.arange(top, bottom, device=masks.device, dtype=torch.float32) + 0.5
        xs = torch.arange(left, right, device=masks.device, dtype=torch.float32) + 0.5
        ys = (ys - box[1]) / (box[3] - box[1]) * 2 - 1
        xs = (xs - box[0]) / (box[2] - box[0]) * 2 - 1
        grid = torch.stack([xs[None, :].expand(len(ys), -1), ys[:, None].expand(-1, len(xs))], dim=-1)
        sampled = F.grid_sample(masks[i][None, None], grid[None].to(masks.dtype), align_corners=False)
        out[i, top:bottom, left:right] = sampled[0, 0]
    return out
