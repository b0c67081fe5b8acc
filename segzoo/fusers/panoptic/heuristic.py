"""Heuristic panoptic fusion.

Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868 (Sec. 7, the heuristic that
combines a semantic and an instance prediction), used by Panoptic FPN (Kirillov et al.,
arXiv:1901.02446) and implemented as Detectron2's ``combine_semantic_and_instance_outputs``:

1. drop instances with score < ``score_threshold`` (0.5) and sort the rest by score;
2. binarise the mask probabilities at ``mask_threshold`` (0.5);
3. paste each instance onto the still free pixels; an instance whose mask area is 0, or the
   already-taken part of whose mask is more than ``overlap_threshold`` (0.5) of its area, is
   dropped; otherwise it gets only its free pixels;
4. fill the remaining free pixels with the stuff classes of the semantic argmax (argmax
   over all K classes: free pixels whose argmax is a thing class stay void, as Detectron2);
   stuff segments smaller than ``stuff_area_limit`` (4096 px) become void.

Readings: ``area >= stuff_area_limit`` keeps a stuff segment (Detectron2 drops ``area <
limit``); all pixels of one stuff class form one segment; a stuff segment's score is the mean
softmax probability of its class over its pixels; thing segments carry the detection score
and ``instance_id`` (the index of the instance in the input). The order key is pluggable so
that OANet's spatial ranking (``spatial_ranking.py``) reuses the same paste.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ._common import (
    assemble_panoptic,
    check_class_sets,
    check_instances,
    first_true,
    last_true,
    thing_channels,
)
from .base import PanopticFuser
from .upsampled_logits import semantic_argmax

__all__ = ["paste_instances", "fill_stuff", "heuristic_fusion", "HeuristicFuser"]


def paste_instances(
    masks: torch.Tensor,
    order: torch.Tensor,
    *,
    overlap_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    windows: torch.Tensor | None = None,
) -> torch.Tensor:
    """Paste binary masks in ``order`` onto free pixels; return the ``(H, W)`` int64 owner map.

    Args:
        masks: ``(N, H, W)`` bool, or probabilities binarised as ``masks >= mask_threshold``.
        order: int64 indices into ``masks``, first pasted first (a subset is fine: the others
            are not pasted).
        overlap_threshold: an instance is dropped when ``taken & mask`` covers more than this
            fraction of its mask (or when its mask is empty).
        windows: optional ``(N, 4)`` int64 ``(y0, y1, x0, x1)`` per mask, outside which it is
            empty (a paste's box windows); without it the masks' own bounding windows are found.

    Returns the index of the instance owning each pixel, -1 for free pixels. The loop over
    instances is sequential by nature (each decision depends on what was pasted before); each
    step touches only its mask's window (all windows go to the host at once), so its cost follows
    the instance's size rather than the image's. On CPU (bool, float32 or float64 masks) the loop
    runs on NumPy views of the same memory: the same steps at a fraction of torch's per-call cost.
    """
    h, w = masks.shape[-2:]
    binary = masks.dtype == torch.bool
    if windows is not None and (binary or mask_threshold > 0):
        source, spans = order.tolist(), windows[order].tolist()  # the masks stay where they are
    else:
        masks = masks if binary else masks >= mask_threshold
        binary = True
        masks = masks[order]  # (n, H, W)
        rows, cols = masks.any(2), masks.any(1)  # (n, H), (n, W)
        spans = torch.stack([first_true(rows), last_true(rows) + 1, first_true(cols), last_true(cols) + 1], 1).tolist()
        source = list(range(len(spans)))
    host = masks.device.type == "cpu" and masks.dtype in (torch.bool, torch.float32, torch.float64)
    host = host and torch.get_default_dtype() in (torch.float32, torch.float64)  # torch's overlap test runs in it
    paste = _paste_on_host if host else _paste_on_device
    rank = paste(masks, source, spans, binary=binary, mask_threshold=mask_threshold, overlap_threshold=overlap_threshold)
    if order.shape[0] == 0:
        return rank
    return torch.where(rank >= 0, order[rank.clamp(min=0)], -1)


def _paste_on_device(masks, source, spans, *, binary, mask_threshold, overlap_threshold) -> torch.Tensor:
    """:func:`paste_instances`' loop in torch: ``(H, W)`` int64 paste rank of each pixel's owner, -1 free."""
    h, w = masks.shape[-2:]
    rank = torch.full((h, w), -1, dtype=torch.int64, device=masks.device)
    taken = torch.zeros((h, w), dtype=torch.bool, device=masks.device)
    for k, (y0, y1, x0, x1) in enumerate(spans):
        if y1 <= y0 or x1 <= x0:  # an empty mask: dropped (area 0)
            continue
        mask = masks[source[k], y0:y1, x0:x1]
        if not binary:
            mask = mask >= mask_threshold
        free = ~taken[y0:y1, x0:x1]
        area = torch.count_nonzero(mask)
        keep = torch.count_nonzero(mask & ~free) <= overlap_threshold * area
        paste = mask & free & keep  # the free part of a kept mask (nothing for an empty one)
        rank[y0:y1, x0:x1].masked_fill_(paste, k)  # k is a host int: no sync
        taken[y0:y1, x0:x1] |= paste
    return rank


def _paste_on_host(masks, source, spans, *, binary, mask_threshold, overlap_threshold) -> torch.Tensor:
    """:func:`_paste_on_device` on NumPy views of CPU masks, with its overlap test in torch's default dtype."""
    h, w = masks.shape[-2:]
    rank = np.full((h, w), -1, dtype=np.int64)
    array = masks.detach().numpy()  # read only: no gradient flows through the comparisons
    threshold = None if binary else array.dtype.type(mask_threshold)  # compared in the masks' dtype, as torch
    real = np.float64 if torch.get_default_dtype() == torch.float64 else np.float32
    limit = real(overlap_threshold)  # torch multiplies the area by it in the default dtype
    for k, (y0, y1, x0, x1) in enumerate(spans):
        if y1 <= y0 or x1 <= x0:
            continue
        mask = array[source[k], y0:y1, x0:x1]
        if not binary:
            mask = mask >= threshold
        owner = rank[y0:y1, x0:x1]
        area = np.count_nonzero(mask)
        if area == 0:
            continue
        paste = mask & (owner < 0)
        overlap = area - np.count_nonzero(paste)
        if real(overlap) <= real(area) * limit:
            owner[paste] = k
    return torch.from_numpy(rank)


def fill_stuff(
    sem_logits: torch.Tensor, free: torch.Tensor, *, stuff_ids: Sequence[int], stuff_area_limit: int = 4096
) -> torch.Tensor:
    """Stuff classes of the semantic argmax on the ``free`` pixels; ``(H, W)`` int64, -1 = none.

    The argmax runs over all ``K`` classes, so a free pixel whose argmax is a thing class stays
    void. A stuff class covering fewer than ``stuff_area_limit`` free pixels is dropped.
    """
    k = sem_logits.shape[0]
    label = semantic_argmax(sem_logits)  # (H, W)
    is_stuff = torch.zeros(k, dtype=torch.bool, device=label.device)
    if len(stuff_ids):
        is_stuff[torch.as_tensor(list(stuff_ids), device=label.device)] = True
    candidate = free & is_stuff[label]
    area = torch.bincount(torch.where(candidate, label + 1, 0).reshape(-1), minlength=k + 1)[1:]  # (K,)
    keep = area >= stuff_area_limit
    return torch.where(candidate & keep[label], label, -1)


def heuristic_fusion(
    sem_logits: torch.Tensor,
    masks: torch.Tensor,
    scores: torch.Tensor,
    labels: torch.Tensor,
    *,
    thing_ids: Sequence[int],
    stuff_ids: Sequence[int],
    rank_scores: torch.Tensor | None = None,
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    overlap_threshold: float = 0.5,
    stuff_area_limit: int = 4096,
    windows: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Combine one image's semantic logits and instances into a panoptic prediction.

    Args:
        sem_logits: ``(K, H, W)`` over all classes (things and stuff).
        masks: ``(N, H, W)`` mask probabilities pasted at image resolution (or bool masks,
            used as they are).
        scores, labels: ``(N,)`` detection scores and global train ids (each in ``thing_ids``).
        rank_scores: ``(N,)`` optional paste order key (OANet's spatial ranking scores); the
            detection score breaks ties. Default: the detection score.
        score_threshold: instances with a detection score below it are dropped.
        mask_threshold: masks are ``masks >= mask_threshold``.
        overlap_threshold: see :func:`paste_instances`.
        stuff_area_limit: stuff segments with fewer pixels become void.
        windows: optional ``(N, 4)`` windows outside which the masks are empty (see
            :func:`paste_instances`; ``PanopticModel.instances`` provides them).

    Returns ``(panoptic_seg (H, W) int32, segments_info)``; see the module docstring.
    """
    check_instances(sem_logits, masks, scores, labels)
    _, stuff = check_class_sets(thing_ids, stuff_ids, sem_logits.shape[0])
    thing_channels(labels, thing_ids)  # raises on a label outside thing_ids
    if rank_scores is not None and tuple(rank_scores.shape) != tuple(scores.shape):
        raise ValueError(
            f"rank_scores must have shape {tuple(scores.shape)} like scores, got {tuple(rank_scores.shape)}."
        )
    kept = torch.nonzero(scores >= score_threshold).squeeze(1)  # one host sync, before the loop
    order = kept[torch.argsort(scores[kept], descending=True, stable=True)]
    if rank_scores is not None:  # stable: equal rank scores keep the detection-score order
        order = order[torch.argsort(rank_scores[order], descending=True, stable=True)]
    owner = paste_instances(
        masks, order, overlap_threshold=overlap_threshold, mask_threshold=mask_threshold, windows=windows
    )
    stuff_map = fill_stuff(sem_logits, owner < 0, stuff_ids=stuff, stuff_area_limit=stuff_area_limit)
    return assemble_panoptic(owner, stuff_map, sem_logits, scores=scores, labels=labels, order=order)


class HeuristicFuser(PanopticFuser):
    """Heuristic fusion (Kirillov et al., arXiv:1801.00868; Panoptic FPN) as a module.

    ``fuser(sem_logits, instances, *, thing_ids, stuff_ids)`` with ``instances`` holding
    ``boxes, scores, labels, masks``; see :func:`heuristic_fusion`.
    """

    def __init__(
        self,
        *,
        score_threshold: float = 0.5,
        mask_threshold: float = 0.5,
        overlap_threshold: float = 0.5,
        stuff_area_limit: int = 4096,
    ) -> None:
        super().__init__()
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold
        self.overlap_threshold = overlap_threshold
        self.stuff_area_limit = stuff_area_limit

    def fuse(self, sem_logits, instances, *, thing_ids, stuff_ids):
        return heuristic_fusion(
            sem_logits, instances["masks"], instances["scores"], instances["labels"],
            thing_ids=thing_ids, stuff_ids=stuff_ids, windows=instances.get("windows"), **self._options(),
        )

    def _options(self) -> dict[str, Any]:
        return {
            "score_threshold": self.score_threshold,
            "mask_threshold": self.mask_threshold,
            "overlap_threshold": self.overlap_threshold,
            "stuff_area_limit": self.stuff_area_limit,
        }

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._options().items())
