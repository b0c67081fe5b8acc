"""Dense-CRF refinement of panoptic segment edges (seed 002's post-processing step).

The fully connected CRF of Krahenbuhl & Koltun (arXiv:1210.5644) run over *segments*: each
segment of a panoptic prediction is one CRF label (plus one for void, if present), so the
bilateral kernel pulls instance and stuff edges onto image edges while segment identities,
categories and scores are kept. Reading of seed 002 ("dense CRF on instance/stuff edges"):
the segments' unary is pydensecrf's ``unary_from_labels`` (probability ``confidence`` on the
predicted segment, the rest spread evenly) unless per-segment scores are given.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .meanfield import BILATERAL, GAUSSIAN, dense_crf

__all__ = ["refine_panoptic"]


def _check(panoptic_seg: torch.Tensor, segments_info: list[dict]) -> list[int]:
    if not isinstance(panoptic_seg, torch.Tensor) or panoptic_seg.dim() != 2 or panoptic_seg.is_floating_point():
        raise ValueError("panoptic_seg must be an (H, W) integer tensor of segment ids (0 = void), got "
                         f"{getattr(panoptic_seg, 'shape', type(panoptic_seg))}")
    try:
        ids = [int(s["id"]) for s in segments_info]
    except (KeyError, TypeError) as err:
        raise ValueError("segments_info must be a list of dicts with an 'id' key "
                         "({id, category_id, isthing, score, area})") from err
    if len(set(ids)) != len(ids) or any(i <= 0 for i in ids):
        raise ValueError(f"segment ids must be unique positive ints (0 is void), got {ids}")
    present = torch.unique(panoptic_seg).tolist()
    unknown = sorted(set(present) - set(ids) - {0})
    if unknown:
        raise ValueError(f"panoptic_seg contains ids {unknown[:10]} that segments_info does not list; "
                         "add them to segments_info or set those pixels to 0 (void)")
    return ids


def _bboxes(labels: torch.Tensor, n: int) -> torch.Tensor:
    """(n, 4) COCO boxes [x, y, w, h] of each label of an (H, W) label map (zeros when absent)."""
    h, w = labels.shape
    y, x = torch.meshgrid(torch.arange(h, device=labels.device), torch.arange(w, device=labels.device), indexing="ij")
    flat = labels.reshape(-1)
    big = torch.full((n,), h + w, device=labels.device)
    x0 = big.scatter_reduce(0, flat, x.reshape(-1), "amin")
    y0 = big.scatter_reduce(0, flat, y.reshape(-1), "amin")
    x1 = torch.full_like(big, -1).scatter_reduce(0, flat, x.reshape(-1), "amax")
    y1 = torch.full_like(big, -1).scatter_reduce(0, flat, y.reshape(-1), "amax")
    return torch.stack([x0, y0, x1 - x0 + 1, y1 - y0 + 1], 1).clamp_min(0)


def refine_panoptic(
    panoptic_seg: torch.Tensor,
    segments_info: list[dict],
    image: torch.Tensor,
    *,
    unary: torch.Tensor | None = None,
    input: str = "probs",
    confidence: float = 0.8,
    fill_void: bool = False,
    iterations: int = 5,
    gaussian: Mapping | None = GAUSSIAN,
    bilateral: Mapping | None = BILATERAL,
    method: str = "permutohedral",
    window: int = 11,
    blur: int = 4,
) -> tuple[torch.Tensor, list[dict]]:
    """Refine a panoptic prediction with a dense CRF over its segments.

    Args:
        panoptic_seg: (H, W) integer segment-id map, 0 = void.
        segments_info: ``[{id, category_id, isthing, score?, area, ...}]``; every non-zero id of
            the map must be listed.
        image: (3, H, W) RGB, uint8 or float (see ``dense_crf`` for the float convention).
        unary: optional (L, H, W) per-label scores, L = len(segments_info) (+ 1 for void, last,
            when the map has void pixels and ``fill_void`` is False); ``input`` says whether they
            are "probs" or "logits". Default: ``confidence`` on the predicted segment, the rest
            spread evenly over the other labels.
        fill_void: void pixels get a uniform unary and no void label, so the CRF assigns them
            to neighbouring segments; otherwise void is a label like the others.
        iterations, gaussian, bilateral, method, window, blur: as in ``dense_crf``.

    Returns:
        ``(new_panoptic_seg, new_segments_info)``: an int32 (H, W) map on the input's device and
        the input's segment dicts (same order and ids, other keys kept) with ``area`` (and
        ``bbox``, when present) recomputed; segments left without pixels are removed.
    """
    ids = _check(panoptic_seg, segments_info)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    device = panoptic_seg.device
    seg = panoptic_seg.long()
    void = bool((seg == 0).any())
    void_label = void and not fill_void
    num_labels = len(ids) + int(void_label)
    lut = torch.full((max(ids + [0]) + 1,), len(ids), dtype=torch.long, device=device)  # void -> last label
    lut[torch.tensor(ids, dtype=torch.long, device=device)] = torch.arange(len(ids), device=device)
    labels = lut[seg]  # (H, W); void pixels hold len(ids)
    if unary is None:
        if num_labels >= 2:
            off = (1.0 - confidence) / (num_labels - 1)
            probs = torch.full((num_labels, *seg.shape), off, dtype=torch.float32, device=device)
            known = labels < num_labels
            probs.scatter_(0, labels.clamp_max(num_labels - 1)[None], confidence)
            probs[:, ~known] = 1.0 / num_labels  # fill_void: no opinion on void pixels
            unary, input = probs, "probs"
    elif unary.shape != (num_labels, *seg.shape):
        void_note = " plus void last" if void_label else ""
        raise ValueError(f"unary must be (L, H, W) = ({num_labels}, {seg.shape[0]}, {seg.shape[1]}): one channel "
                         f"per segment in segments_info order{void_note}; got {tuple(unary.shape)}")
    if num_labels >= 2:
        q = dense_crf(unary, image, iterations=iterations, gaussian=gaussian, bilateral=bilateral,
                      input=input, method=method, window=window, blur=blur)
        labels = q.argmax(0)
    elif image.shape[-2:] != seg.shape:
        raise ValueError(f"image is {tuple(image.shape[-2:])} (H, W) but panoptic_seg is {tuple(seg.shape)}")
    label_ids = torch.tensor(ids + [0], dtype=torch.int32, device=device)  # last entry: void
    new_seg = label_ids[labels.clamp_max(len(ids))]
    areas = torch.bincount(labels.reshape(-1), minlength=len(ids) + 1)[: len(ids)].tolist()
    boxes = _bboxes(labels, len(ids) + 1).tolist() if any("bbox" in s for s in segments_info) else None
    new_info = []
    for i, (info, area) in enumerate(zip(segments_info, areas)):
        if area > 0:
            entry = dict(info, area=int(area))
            if boxes is not None and "bbox" in info:
                entry["bbox"] = boxes[i]
            new_info.append(entry)
    return new_seg, new_info
