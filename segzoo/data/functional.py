"""Joint geometric operations on an image and its target dict, on top of torchvision's v2 kernels.

The dense entries of a target move with the image: ``sem_seg`` (H, W), ``panoptic``
(H, W) and ``masks`` (N, H, W) use nearest interpolation ("nearest-exact": the sample
point is the output pixel's centre, as for the bilinear image, so labels stay aligned
with the pixels they describe); the image is bilinear (antialiased when shrinking).
After every operation :func:`refresh` restores the invariants of the panoptic target:

- instances whose mask vanished are dropped (``masks``, ``boxes``, ``labels``, ``iscrowd``);
- ``boxes`` are recomputed from ``masks`` (xyxy, pixel edges), so they always agree;
- ``segments_info`` areas and boxes are recounted from ``panoptic``; segments without
  pixels are dropped. Masks and the panoptic map go through the same kernels, so the
  i-th mask stays the i-th thing segment.

A target with ``boxes`` but no ``masks`` has its boxes transformed with torchvision's
box kernels, clipped, and empty boxes dropped. Other entries (``image_id``, ...) pass
through unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torchvision.transforms.v2.functional as TF
from torchvision import tv_tensors
from torchvision.transforms.v2 import InterpolationMode

from .panoptic_utils import IGNORE_INDEX, boxes_from_masks, segment_stats

__all__ = ["image_size", "resize", "crop", "hflip", "pad", "refresh", "INSTANCE_KEYS"]

INSTANCE_KEYS = ("masks", "boxes", "labels", "iscrowd")  # per-instance entries, (N, ...)
_XYXY = tv_tensors.BoundingBoxFormat.XYXY
_NEAREST = InterpolationMode.NEAREST_EXACT


def image_size(image: torch.Tensor) -> tuple[int, int]:
    """``(H, W)`` of a ``(C, H, W)`` image."""
    return int(image.shape[-2]), int(image.shape[-1])


def _dense(target: dict[str, Any], fn) -> dict[str, Any]:
    """Apply ``fn(tensor, fill)`` to the dense entries of a copy of ``target``."""
    out = dict(target)
    if "sem_seg" in out:
        out["sem_seg"] = fn(out["sem_seg"], IGNORE_INDEX)
    if "panoptic" in out:
        out["panoptic"] = fn(out["panoptic"], 0)
    if "masks" in out:
        # uint8 for the kernels (bool resizing is several times slower), back to bool after.
        out["masks"] = fn(out["masks"].to(torch.uint8), 0).bool()
    return out


def _box_only(target: dict[str, Any]) -> bool:
    return "boxes" in target and "masks" not in target


def resize(image: torch.Tensor, target: dict[str, Any], size: tuple[int, int]) -> tuple[torch.Tensor, dict[str, Any]]:
    """Resize to ``size = (H, W)``: image bilinear (antialiased), labels nearest."""
    size = [int(size[0]), int(size[1])]
    old = image_size(image)
    image = TF.resize_image(image, size, interpolation=InterpolationMode.BILINEAR, antialias=True)
    out = _dense(target, lambda t, fill: TF.resize_mask(t, size, interpolation=_NEAREST))
    if _box_only(out):
        out["boxes"], _ = TF.resize_bounding_boxes(out["boxes"], canvas_size=old, size=size, format=_XYXY)
    return image, refresh(out, image_size(image))


def crop(
    image: torch.Tensor, target: dict[str, Any], top: int, left: int, height: int, width: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Crop the region ``[top, top + height) x [left, left + width)`` (inside the image)."""
    h, w = image_size(image)
    if not (0 <= top and 0 <= left and height > 0 and width > 0 and top + height <= h and left + width <= w):
        raise ValueError(f"Crop ({top}, {left}, {height}, {width}) is not inside the {h}x{w} image.")
    # contiguous copies: a view would keep the whole input alive and share its memory
    image = TF.crop_image(image, top, left, height, width).contiguous()
    out = _dense(target, lambda t, fill: TF.crop_mask(t, top, left, height, width).contiguous())
    if _box_only(out):
        out["boxes"], _ = TF.crop_bounding_boxes(out["boxes"], _XYXY, top, left, height, width)
    return image, refresh(out, (height, width))


def hflip(image: torch.Tensor, target: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
    """Mirror left-right."""
    size = image_size(image)
    image = TF.horizontal_flip_image(image)
    out = _dense(target, lambda t, fill: TF.horizontal_flip_mask(t))
    if _box_only(out):
        out["boxes"] = TF.horizontal_flip_bounding_boxes(out["boxes"], _XYXY, size)
    return image, refresh(out, size)


def pad(
    image: torch.Tensor, target: dict[str, Any], padding: tuple[int, int, int, int], *, fill: float = 0
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Pad by ``(left, top, right, bottom)``: image with ``fill``, ``sem_seg`` 255, ``panoptic`` 0, masks False."""
    padding = [int(p) for p in padding]
    if any(p < 0 for p in padding):
        raise ValueError(f"padding must be non-negative (left, top, right, bottom), got {padding}.")
    if not any(padding):
        return image, target
    old = image_size(image)
    image = TF.pad_image(image, padding, fill=fill)
    out = _dense(target, lambda t, f: TF.pad_mask(t, padding, fill=f))
    if _box_only(out):
        out["boxes"], _ = TF.pad_bounding_boxes(out["boxes"], _XYXY, old, padding)
    return image, refresh(out, image_size(image))


def refresh(target: dict[str, Any], size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Drop vanished instances and segments; recompute boxes, areas and segment boxes.

    ``size`` (H, W) clips box-only targets (ignored when masks are present).
    """
    out = dict(target)
    _num_instances(out)  # checks that the per-instance entries agree
    keep = None
    if "masks" in out:
        keep = out["masks"].flatten(1).any(dim=1)  # (N,)
        out["boxes"] = boxes_from_masks(out["masks"][keep])  # masks are the truth; boxes follow them
    elif "boxes" in out:
        boxes = out["boxes"].to(torch.float32, copy=True)  # clipped in place below
        if size is not None:
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, size[1])
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, size[0])
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        out["boxes"] = boxes[keep]
    if keep is not None:
        for key in ("masks", "labels", "iscrowd"):
            if key in out:
                out[key] = out[key][keep]
    if "panoptic" in out and "segments_info" in out:
        stats = segment_stats(out["panoptic"], [s["id"] for s in out["segments_info"]])
        out["segments_info"] = [
            dict(s, area=stats[s["id"]][0], bbox=stats[s["id"]][1]) for s in out["segments_info"] if s["id"] in stats
        ]
    return out


def _num_instances(target: dict[str, Any]) -> int:
    counts = {k: len(target[k]) for k in INSTANCE_KEYS if k in target}
    if len(set(counts.values())) > 1:
        raise ValueError(f"Per-instance target entries disagree in length: {counts}.")
    return next(iter(counts.values()), 0)
