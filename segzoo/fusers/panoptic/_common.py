"""Shared pieces of the panoptic fusers: argument checks and the final assembly of an id map.

The output format is the one of Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868:
every pixel gets one segment id (0 = void); each segment has one category. Ids are 1..n,
thing segments first (in paste order), then stuff segments in increasing train id.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .upsampled_logits import channel_argmax, class_probability

__all__ = [
    "as_ids", "check_class_sets", "check_instances", "thing_channels", "box_masks", "box_rows_and_columns",
    "assemble_panoptic", "channel_argmax", "first_true", "last_true",
]


def as_ids(ids: Sequence[int] | torch.Tensor, what: str) -> list[int]:
    """A sequence of train ids as a list of Python ints (unique, non-negative)."""
    if isinstance(ids, torch.Tensor):
        ids = ids.reshape(-1).tolist()
    try:
        out = [int(i) for i in ids]
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a sequence of integer train ids, got {ids!r}.") from None
    if len(set(out)) != len(out) or any(i < 0 for i in out):
        raise ValueError(f"{what} must be unique non-negative train ids, got {out}.")
    return out


def check_class_sets(
    thing_ids: Sequence[int], stuff_ids: Sequence[int], num_classes: int
) -> tuple[list[int], list[int]]:
    """Validate ``thing_ids``/``stuff_ids`` against the ``K`` semantic channels; return them as lists."""
    things, stuff = as_ids(thing_ids, "thing_ids"), as_ids(stuff_ids, "stuff_ids")
    both = sorted(set(things) & set(stuff))
    if both:
        raise ValueError(f"thing_ids and stuff_ids must be disjoint; both contain {both}.")
    too_big = sorted(i for i in things + stuff if i >= num_classes)
    if too_big:
        raise ValueError(
            f"Train ids {too_big} are out of range for semantic logits with {num_classes} classes: "
            "thing_ids and stuff_ids index the channels of sem_logits (K, H, W)."
        )
    return things, stuff


def check_instances(
    sem_logits: torch.Tensor, per_pixel: torch.Tensor, scores: torch.Tensor | None, labels: torch.Tensor,
    *, name: str = "masks",
) -> None:
    """Shapes: ``sem_logits (K, H, W)``, ``per_pixel (N, H, W)``, ``scores (N,)``, ``labels (N,)``."""
    if sem_logits.dim() != 3:
        raise ValueError(
            f"sem_logits must be (K, H, W) for one image, got shape {tuple(sem_logits.shape)}; "
            "call the fuser once per image (index the batch)."
        )
    size = tuple(sem_logits.shape[-2:])
    if per_pixel.dim() != 3 or tuple(per_pixel.shape[-2:]) != size:
        raise ValueError(
            f"{name} must be (N, H, W) pasted at the resolution of sem_logits {size}, got shape "
            f"{tuple(per_pixel.shape)}; paste the instance masks into the image first."
        )
    n = per_pixel.shape[0]
    for what, t in (("scores", scores), ("labels", labels)):
        if t is not None and tuple(t.shape) != (n,):
            raise ValueError(
                f"{what} must have shape ({n},) to match {name} {tuple(per_pixel.shape)}, got {tuple(t.shape)}."
            )


def thing_channels(labels: torch.Tensor, thing_ids: Sequence[int]) -> torch.Tensor:
    """``(N,)`` global train ids -> ``(N,)`` int64 index of each label in ``thing_ids``.

    One host sync (the check that every label is a thing id), outside any per-instance loop.
    """
    things = as_ids(thing_ids, "thing_ids")
    labels = labels.to(torch.int64)
    if labels.numel() == 0:
        return labels
    size = max(things, default=-1) + 1
    lut = torch.full((max(size, 1),), -1, dtype=torch.int64, device=labels.device)
    if things:
        lut[torch.tensor(things, device=labels.device)] = torch.arange(len(things), device=labels.device)
    inside = (labels >= 0) & (labels < size)
    channel = torch.where(inside, lut[labels.clamp(0, max(size - 1, 0))], -1)
    if bool((channel < 0).any()):
        bad = sorted(set(labels[channel < 0].tolist()))
        raise ValueError(
            f"Instance labels {bad} are not in thing_ids {things}. Instances must carry global train ids of "
            "thing classes (the ids of the semantic channels); map a detector's contiguous class index c to "
            "thing_ids[c] first."
        )
    return channel


def box_masks(boxes: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``(N, 4)`` xyxy boxes in pixels -> ``(N, H, W)`` bool: pixels whose centre lies in the box.

    Pixel ``(y, x)`` covers ``[x, x + 1) x [y, y + 1)``; it is inside when ``x1 <= x + 0.5 < x2``
    and ``y1 <= y + 0.5 < y2`` (so ``[0, 0, 4, 4]`` covers the 4x4 top-left pixels).
    """
    in_y, in_x = box_rows_and_columns(boxes, size)
    return in_y[:, :, None] & in_x[:, None, :]


def box_rows_and_columns(boxes: torch.Tensor, size: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The two factors of :func:`box_masks`: ``(N, H)`` rows and ``(N, W)`` columns whose pixel centres
    lie in each box."""
    h, w = int(size[0]), int(size[1])
    boxes = boxes.to(torch.float32)
    xs = torch.arange(w, device=boxes.device, dtype=torch.float32) + 0.5
    ys = torch.arange(h, device=boxes.device, dtype=torch.float32) + 0.5
    in_x = (xs >= boxes[:, 0:1]) & (xs < boxes[:, 2:3])  # (N, W)
    in_y = (ys >= boxes[:, 1:2]) & (ys < boxes[:, 3:4])  # (N, H)
    return in_y, in_x


def assemble_panoptic(
    instance_map: torch.Tensor,
    stuff_map: torch.Tensor,
    sem_logits: torch.Tensor,
    *,
    scores: torch.Tensor,
    labels: torch.Tensor,
    order: torch.Tensor,
    source_index: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Number the segments and list them.

    Args:
        instance_map: ``(H, W)`` int64, index of the instance owning each pixel, -1 for none.
        stuff_map: ``(H, W)`` int64, stuff train id of each pixel, -1 for none (disjoint from
            the instance pixels).
        sem_logits: ``(K, H, W)`` (a tensor or an :class:`UpsampledLogits`); a stuff segment's
            score is the mean softmax probability of its class over its pixels.
        scores, labels: ``(N,)`` of the instances ``instance_map`` indexes.
        order: instance indices in id order (the first with pixels gets id 1). Instances not
            in ``order`` must own no pixel.
        source_index: ``(N,)`` index of each instance in the caller's input (``instance_id``
            of the segment); ``arange(N)`` when None.

    Returns ``(panoptic_seg (H, W) int32, segments_info)`` sorted by id; instances and stuff
    classes without pixels get no segment.
    """
    device = instance_map.device
    n, k = scores.shape[0], sem_logits.shape[0]
    zero = torch.zeros(1, dtype=torch.int64, device=device)
    # Instances: areas, then ids 1..n_things in `order` among those with pixels.
    inst_area = torch.bincount((instance_map + 1).reshape(-1), minlength=n + 1)[1 : n + 1]  # (N,)
    present = (inst_area > 0).to(torch.int64)
    ordered = present[order]
    inst_id = torch.zeros(n, dtype=torch.int64, device=device).scatter(0, order, ordered.cumsum(0) * ordered)
    n_things = present.sum()
    # Stuff: one segment per class, ids after the things, in increasing train id.
    stuff_area = torch.bincount((stuff_map + 1).reshape(-1), minlength=k + 1)[1 : k + 1]  # (K,)
    stuff_present = (stuff_area > 0).to(torch.int64)
    stuff_id = (n_things + stuff_present.cumsum(0)) * stuff_present
    # Maps are disjoint, so the two lookups add up (index 0 of each table is "none" -> 0).
    panoptic = torch.cat([zero, inst_id])[instance_map + 1] + torch.cat([zero, stuff_id])[stuff_map + 1]
    # Mean probability of each stuff class over its segment: p_c = exp(l_c - logsumexp(l)).
    prob = class_probability(sem_logits, stuff_map)
    prob_sum = torch.zeros(k + 1, dtype=prob.dtype, device=device).index_add_(
        0, (stuff_map + 1).reshape(-1), prob.reshape(-1)
    )[1:]
    stuff_score = prob_sum / stuff_area.clamp(min=1)

    # The small per-segment tables go to the host once, at the end.
    if source_index is None:
        source_index = torch.arange(n, device=device)
    segments: list[dict[str, Any]] = []
    rows = zip(inst_id.tolist(), inst_area.tolist(), labels.tolist(), scores.float().tolist(), source_index.tolist())
    for sid, area, label, score, src in rows:
        if area > 0:
            segments.append(
                {"id": sid, "category_id": label, "isthing": True, "score": score, "area": area, "instance_id": src}
            )
    for cls_id, (sid, area, score) in enumerate(zip(stuff_id.tolist(), stuff_area.tolist(), stuff_score.tolist())):
        if area > 0:
            segments.append({"id": sid, "category_id": cls_id, "isthing": False, "score": score, "area": area})
    segments.sort(key=lambda s: s["id"])
    return panoptic.to(torch.int32), segments


def first_true(flags: torch.Tensor) -> torch.Tensor:
    """``(N, L)`` bool -> ``(N,)`` index of the first True in each row (``L`` where there is none)."""
    length = flags.shape[-1]
    index = torch.arange(length, 0, -1, device=flags.device)  # L..1: the first True scores highest
    return torch.where(flags.any(-1), length - (flags * index).amax(-1), length)


def last_true(flags: torch.Tensor) -> torch.Tensor:
    """``(N, L)`` bool -> ``(N,)`` index of the last True in each row (-1 where there is none)."""
    index = torch.arange(1, flags.shape[-1] + 1, device=flags.device)
    return (flags * index).amax(-1) - 1
