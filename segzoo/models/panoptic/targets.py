"""Batching images and checking panoptic training targets.

Images of different sizes are padded (bottom/right) to a common size divisible by 32, as
Detectron2 and torchvision batch them. Targets follow the ``segzoo.data`` panoptic format:
``boxes (N, 4)`` xyxy, ``labels (N,)`` thing train ids, ``masks (N, H, W)``, ``iscrowd (N,)``,
``sem_seg (H, W)`` with 255 = ignore. Crowd regions take no part in the detector's
targets (they stay in ``sem_seg``); zero-area boxes are dropped with a warning.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torchvision.models.detection.image_list import ImageList

__all__ = ["batch_images", "detection_targets", "semantic_targets"]


def batch_images(images: torch.Tensor | Sequence[torch.Tensor], *, size_divisor: int = 32) -> ImageList:
    """A batch tensor or a list of ``(C, H, W)`` tensors -> a zero-padded ``ImageList``."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise ValueError(f"images must be (B, C, H, W) or a list of (C, H, W), got shape {tuple(images.shape)}.")
        images = list(images.unbind(0))
    if len(images) == 0:
        raise ValueError("Got an empty batch of images.")
    for i, image in enumerate(images):
        if image.ndim != 3:
            raise ValueError(f"Image {i}: expected (C, H, W), got shape {tuple(image.shape)}.")
    sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
    h = -(-max(s[0] for s in sizes) // size_divisor) * size_divisor
    w = -(-max(s[1] for s in sizes) // size_divisor) * size_divisor
    batch = torch.stack([F.pad(im, (0, w - im.shape[-1], 0, h - im.shape[-2])) for im in images])
    return ImageList(batch, sizes)


def detection_targets(
    targets: Sequence[dict[str, torch.Tensor]], *, class_of_train_id: torch.Tensor, image_sizes: Sequence[tuple[int, int]]
) -> list[dict[str, torch.Tensor]]:
    """Per-image ``{boxes, labels (1..T), masks}`` for torchvision's heads, without crowd or empty boxes."""
    out = []
    for i, (t, (h, w)) in enumerate(zip(targets, image_sizes)):
        for key in ("boxes", "labels", "masks"):
            if key not in t:
                raise KeyError(f"Target {i} has no {key!r}; panoptic targets need boxes, labels, masks and sem_seg.")
        boxes = t["boxes"].float().reshape(-1, 4)
        labels = t["labels"].long().reshape(-1)
        masks = t["masks"]
        if masks.shape[-2:] != (h, w):
            raise ValueError(f"Target {i}: masks are {tuple(masks.shape[-2:])}, the image is {(h, w)}.")
        if not (len(boxes) == len(labels) == len(masks)):
            raise ValueError(f"Target {i}: {len(boxes)} boxes, {len(labels)} labels and {len(masks)} masks must agree.")
        keep = torch.ones(len(boxes), dtype=torch.bool, device=boxes.device)
        if "iscrowd" in t:
            keep &= ~t["iscrowd"].bool().reshape(-1)
        degenerate = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        if bool((degenerate & keep).any()):
            warnings.warn(f"Target {i}: dropped {int((degenerate & keep).sum())} zero-area boxes.", stacklevel=3)
        keep &= ~degenerate
        classes = class_of_train_id.to(labels.device)[labels.clamp(0, len(class_of_train_id) - 1)]
        bad = keep & ((labels < 0) | (labels >= len(class_of_train_id)) | (classes <= 0))
        if bool(bad.any()):
            raise ValueError(
                f"Target {i}: labels {sorted(set(labels[bad].tolist()))} are not thing train ids of this model."
            )
        out.append({"boxes": boxes[keep], "labels": classes[keep], "masks": masks[keep].to(torch.uint8)})
    return out


def semantic_targets(targets: Sequence[dict[str, torch.Tensor]], padded: tuple[int, int], *, ignore_index: int = 255) -> torch.Tensor:
    """``sem_seg`` maps padded with ``ignore_index`` to the batch size -> ``(B, H, W)`` int64."""
    maps = []
    for i, t in enumerate(targets):
        if "sem_seg" not in t:
            raise KeyError(f"Target {i} has no 'sem_seg' (the semantic branch's labels, 255 = ignore).")
        sem = t["sem_seg"].long()
        maps.append(F.pad(sem, (0, padded[1] - sem.shape[-1], 0, padded[0] - sem.shape[-2]), value=ignore_index))
    return torch.stack(maps)
