"""Pasting box-relative mask probabilities into the image by bilinear sampling at pixel centres.

A Mask R-CNN head predicts an ``M x M`` mask inside each box (He et al., arXiv:1703.06870).
torchvision pastes it by resizing the mask (padded by one pixel) to the box's integer size
(``paste_masks_in_image``, segzoo's default); Detectron2 samples it bilinearly at the centre of
every image pixel, the mask's ``M x M`` cells spanning the box exactly (``grid_sample`` with
``align_corners=False``, zeros outside). The two differ along mask edges, so reproducing
Detectron2's panoptic output needs its paste.

``paste_logits_and_probs`` is torchvision's paste (``paste_masks_in_image`` of the logits, and of a
mask of ones for the "inside the box" test) computed into one preallocated ``(N, H, W)`` tensor,
with the sigmoid taken only inside the box windows: the same resizes and the same values as
torchvision's, without its full-image zero tensor per instance and the stack of them (at 512x512
with 100 detections that was most of the panoptic post-processing time).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import expand_boxes

from .zero_buffers import zeros_on_demand

__all__ = [
    "paste_masks_by_sampling", "paste_logits_and_probs", "paste_windows", "binarize_in_windows", "zeros_on_demand",
]


def paste_logits_and_probs(
    logits: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], *, with_logits: bool = True
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(N, M, M)`` mask logits in their ``(N, 4)`` xyxy boxes -> ``(pasted logits, probabilities)``,
    both ``(N, H, W)``: the logits pasted as torchvision's ``paste_masks_in_image`` pastes them (0
    outside the box) and ``sigmoid(logits)`` where torchvision's paste of a mask of ones exceeds 0.5
    (0 elsewhere), as the panoptic fusers take them. Equal to torchvision's values, element for element.
    ``with_logits=False`` skips the full-image logits (``None`` in their place)."""
    n, m = logits.shape[0], logits.shape[-1]
    h, w = int(size[0]), int(size[1])
    pasted = zeros_on_demand((n, h, w), logits) if with_logits else None
    probs = zeros_on_demand((n, h, w), logits)
    if n == 0:
        return pasted, probs
    # torchvision's expand_masks (padding 1) of the logits and of a mask of ones, as two channels: one
    # resize per box gives both (each channel is resized on its own, to the same values)
    padded = F.pad(torch.stack([logits, torch.ones_like(logits)], 1), (1, 1, 1, 1))  # (N, 2, M + 2, M + 2)
    corners = _paste_corners(boxes, m).tolist()  # one host sync
    windows, resized_windows = [], []
    for i, (bx0, by0, bx1, by1) in enumerate(corners):
        bw, bh = max(bx1 - bx0 + 1, 1), max(by1 - by0 + 1, 1)
        x0, x1, y0, y1 = max(bx0, 0), min(bx1 + 1, w), max(by0, 0), min(by1 + 1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        both = F.interpolate(padded[i : i + 1], size=(bh, bw), mode="bilinear", align_corners=False)[0]
        resized = both[0, y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0]
        inside = both[1, y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0] > 0.5
        windows.append((i, y0, y1, x0, x1, inside))
        resized_windows.append(resized.reshape(-1))
    if windows:
        # One sigmoid over all windows plus a tail of padding: every value goes through the same
        # vectorised kernel as a sigmoid of the whole pasted tensor does, so the results are equal.
        flat = torch.cat([*resized_windows, logits.new_zeros(64)])
        values = torch.sigmoid(flat)
        host = probs.device.type == "cpu" and probs.dtype in (torch.float32, torch.float64) and not values.requires_grad
        _write_windows(probs, pasted, values, flat if pasted is not None else None, windows, host=host)
    return pasted, probs


def _write_windows(probs, pasted, values, logits, windows, *, host: bool) -> None:
    """Write each window's ``values * inside`` into ``probs`` (and its ``logits`` into ``pasted``), reading
    ``values`` and ``logits`` as the windows laid end to end; through NumPy views on CPU (the same
    products, at a fraction of torch's per-call cost)."""
    if host:
        probs_np, values_np = probs.numpy(), values.numpy()
        pasted_np, logits_np = (pasted.numpy(), logits.numpy()) if pasted is not None else (None, None)
    start = 0
    for i, y0, y1, x0, x1, inside in windows:
        shape, count = (y1 - y0, x1 - x0), (y1 - y0) * (x1 - x0)
        if host:
            np.multiply(values_np[start : start + count].reshape(shape), inside.numpy(), out=probs_np[i, y0:y1, x0:x1])
            if pasted_np is not None:
                pasted_np[i, y0:y1, x0:x1] = logits_np[start : start + count].reshape(shape)
        else:
            probs[i, y0:y1, x0:x1] = values[start : start + count].view(shape) * inside
            if pasted is not None:
                pasted[i, y0:y1, x0:x1] = logits[start : start + count].view(shape)
        start += count


def binarize_in_windows(masks: torch.Tensor, windows: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """``masks > threshold`` as ``(N, H, W)`` bool, computed inside each mask's ``(y0, y1, x0, x1)``
    window only (the masks are 0 outside their windows, so the result is the same)."""
    out = zeros_on_demand(tuple(masks.shape), masks.new_empty(0, dtype=torch.bool))
    if masks.device.type == "cpu" and masks.dtype in (torch.float32, torch.float64):  # NumPy views: cheaper calls
        source, target = masks.detach().numpy(), out.numpy()
        limit = source.dtype.type(threshold)  # compared in the masks' dtype, as torch.gt
        for i, (y0, y1, x0, x1) in enumerate(windows.tolist()):  # one host copy
            np.greater(source[i, y0:y1, x0:x1], limit, out=target[i, y0:y1, x0:x1])
        return out
    for i, (y0, y1, x0, x1) in enumerate(windows.tolist()):
        torch.gt(masks[i, y0:y1, x0:x1], threshold, out=out[i, y0:y1, x0:x1])
    return out


def _paste_corners(boxes: torch.Tensor, mask_size: int) -> torch.Tensor:
    """``(N, 4)`` int64 xyxy corners of torchvision's paste: each box grown by the mask's one-pixel
    padding (``expand_boxes``), truncated to integers."""
    return expand_boxes(boxes, float(mask_size + 2) / mask_size).to(dtype=torch.int64)


def paste_windows(boxes: torch.Tensor, mask_size: int, size: tuple[int, int]) -> torch.Tensor:
    """``(N, 4)`` int64 ``(y0, y1, x0, x1)``: the image window :func:`paste_logits_and_probs` writes
    for each box (its masks are 0 outside); empty windows for boxes outside the image."""
    h, w = int(size[0]), int(size[1])
    c = _paste_corners(boxes, mask_size)
    y0, y1 = c[:, 1].clamp(0, h), (c[:, 3] + 1).clamp(0, h)
    x0, x1 = c[:, 0].clamp(0, w), (c[:, 2] + 1).clamp(0, w)
    return torch.stack([y0, torch.maximum(y1, y0), x0, torch.maximum(x1, x0)], 1)


def paste_masks_by_sampling(masks: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(N, M, M)`` masks in their ``(N, 4)`` xyxy boxes -> ``(N, H, W)`` at image ``size``.

    Each mask is sampled only over its box's pixels (one pixel of margin, where the sampling
    can still be non-zero); the rest of the image is 0.
    """
    h, w = int(size[0]), int(size[1])
    out = zeros_on_demand((masks.shape[0], h, w), masks)
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
