"""A validator for panoptic predictions in segzoo's format (Kirillov et al., "Panoptic
Segmentation", arXiv:1801.00868): an ``(H, W)`` int32 id map (0 = void) and its
``segments_info`` list of ``{id, category_id, isthing, score, area}``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping, Sequence

import numpy as np
import torch

__all__ = ["check_panoptic", "SEGMENT_KEYS"]

SEGMENT_KEYS = ("id", "category_id", "isthing", "score", "area")


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def _preview(values: Sequence[Any], limit: int = 10) -> str:
    values = list(values)
    return str(values[:limit])[:-1] + (f", ... ({len(values)} in all)]" if len(values) > limit else "]")


def check_panoptic(
    panoptic_seg: torch.Tensor | np.ndarray,
    segments_info: Sequence[Mapping[str, Any]],
    *,
    thing_ids: Sequence[int] | None = None,
    stuff_ids: Sequence[int] | None = None,
    consecutive: bool = False,
) -> None:
    """Raise ``ValueError`` when the id map and its ``segments_info`` disagree.

    Checks: the map is a 2-D int32 tensor (or integer numpy array) without negative values;
    every segment has the keys ``id, category_id, isthing, score, area`` with the right
    types; ids are unique and positive; every listed id is in the map with exactly ``area``
    pixels; every non-zero id of the map is listed; a stuff category has at most one
    segment. ``thing_ids``/``stuff_ids`` (train ids) also check ``isthing`` against the
    category; ``consecutive=True`` requires the ids to be exactly 1..n (the fusers' output).
    """
    if isinstance(panoptic_seg, torch.Tensor):
        if panoptic_seg.dtype != torch.int32:
            raise ValueError(f"panoptic_seg must be an int32 tensor, got {panoptic_seg.dtype}; use .to(torch.int32).")
        ids_map = panoptic_seg.detach().cpu()
    elif isinstance(panoptic_seg, np.ndarray):
        if panoptic_seg.dtype.kind not in "iu":
            raise ValueError(f"panoptic_seg must hold integers, got dtype {panoptic_seg.dtype}.")
        ids_map = torch.from_numpy(panoptic_seg.astype(np.int64))
    else:
        raise ValueError(f"panoptic_seg must be a tensor or numpy array, got {type(panoptic_seg).__name__}.")
    if ids_map.dim() != 2:
        raise ValueError(f"panoptic_seg must be (H, W), got shape {tuple(ids_map.shape)}.")
    if not isinstance(segments_info, Sequence) or isinstance(segments_info, (str, bytes)):
        raise ValueError(f"segments_info must be a list of dicts, got {type(segments_info).__name__}.")

    listed: dict[int, int] = {}
    stuff_seen: dict[int, int] = {}
    things = set(thing_ids) if thing_ids is not None else None
    stuff = set(stuff_ids) if stuff_ids is not None else None
    for n, seg in enumerate(segments_info):
        where = f"segments_info[{n}]"
        if not isinstance(seg, Mapping):
            raise ValueError(f"{where} must be a dict, got {type(seg).__name__}.")
        missing = [k for k in SEGMENT_KEYS if k not in seg]
        if missing:
            raise ValueError(f"{where} = {dict(seg)} lacks {missing}; every segment needs {list(SEGMENT_KEYS)}.")
        sid, cat, isthing, score, area = (seg[k] for k in SEGMENT_KEYS)
        if not _is_int(sid) or sid <= 0:
            raise ValueError(f"{where}: id must be a positive int (0 is void), got {sid!r}.")
        if sid in listed:
            raise ValueError(f"{where}: segment id {sid} is listed twice.")
        if not _is_int(cat) or cat < 0:
            raise ValueError(f"{where}: category_id must be a non-negative int, got {cat!r}.")
        if not isinstance(isthing, (bool, np.bool_)):
            raise ValueError(f"{where}: isthing must be a bool, got {isthing!r}.")
        if not isinstance(score, numbers.Real) or not math.isfinite(float(score)):
            raise ValueError(f"{where}: score must be a finite float, got {score!r}.")
        if not _is_int(area):
            raise ValueError(f"{where}: area must be an int, got {area!r}.")
        if things is not None and bool(isthing) and cat not in things:
            raise ValueError(f"{where}: isthing is True but category {cat} is not in thing_ids {sorted(things)}.")
        if stuff is not None and not bool(isthing) and cat not in stuff:
            raise ValueError(f"{where}: isthing is False but category {cat} is not in stuff_ids {sorted(stuff)}.")
        if not bool(isthing):
            if cat in stuff_seen:
                raise ValueError(
                    f"{where}: stuff category {cat} has a second segment (id {sid}; first id {stuff_seen[cat]}); "
                    "all pixels of a stuff class form one segment."
                )
            stuff_seen[cat] = sid
        listed[int(sid)] = int(area)

    values, counts = torch.unique(ids_map, return_counts=True)
    negative = [v for v in values.tolist() if v < 0]
    if negative:
        raise ValueError(f"panoptic_seg holds negative ids {_preview(negative)}; ids are >= 0 (0 is void).")
    in_map = {int(v): int(c) for v, c in zip(values.tolist(), counts.tolist()) if v != 0}
    unlisted = sorted(set(in_map) - set(listed))
    if unlisted:
        raise ValueError(f"ids {_preview(unlisted)} are in panoptic_seg but not in segments_info.")
    absent = sorted(set(listed) - set(in_map))
    if absent:
        raise ValueError(f"segments {_preview(absent)} are listed in segments_info but have no pixel in panoptic_seg.")
    wrong = [(sid, listed[sid], in_map[sid]) for sid in sorted(listed) if listed[sid] != in_map[sid]]
    if wrong:
        raise ValueError(
            "segment areas disagree with panoptic_seg (id, listed area, pixels): " + _preview(wrong) + "."
        )
    if consecutive and sorted(listed) != list(range(1, len(listed) + 1)):
        raise ValueError(f"segment ids must be 1..{len(listed)}, got {_preview(sorted(listed))}.")
