"""Conversion between segzoo panoptic predictions and the COCO panoptic format.

The COCO panoptic format (Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868, and
the COCO panoptic API) stores one RGB PNG per image with ``id = R + 256 G + 256^2 B``
(0 = void) and a JSON entry ``{image_id, file_name, segments_info: [{id, category_id,
iscrowd, area, bbox}]}`` with original category ids and ``bbox = [x, y, w, h]``. segzoo's
predictions use train ids and add ``isthing`` and ``score``; the id packing is
``segzoo.data.panoptic_utils.rgb2id/id2rgb``.

Readings: areas and boxes are counted from the map; the COCO entry has no score, so
:func:`from_coco_panoptic` gives ``score`` from the entry when present, else 1.0; segment
ids are kept as they are (COCO ground truth ids are not 1..n).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ...data.panoptic_utils import CategoryMap, id2rgb, rgb2id, segment_stats

__all__ = ["to_coco_panoptic", "from_coco_panoptic"]

Categories = CategoryMap | Sequence[Mapping[str, Any]] | Mapping[int, int] | Sequence[int] | None


def _category_table(categories: Categories) -> tuple[dict[int, int] | None, set[int] | None]:
    """``(train id -> original id, or None for identity; thing train ids, or None if unknown)``."""
    if categories is None:
        return None, None
    if isinstance(categories, CategoryMap):
        return dict(enumerate(categories.ids)), set(categories.thing_ids)
    if isinstance(categories, Mapping):
        return {int(k): int(v) for k, v in categories.items()}, None
    if isinstance(categories, Sequence) and not isinstance(categories, (str, bytes)):
        items = list(categories)
        if items and all(isinstance(c, Mapping) for c in items):  # COCO category dicts
            return _category_table(CategoryMap(items))
        return {t: int(c) for t, c in enumerate(items)}, None
    raise TypeError(
        "categories must be a segzoo.data.CategoryMap, the COCO category dicts [{id, name, isthing}], a mapping "
        f"train id -> category id, a list indexed by train id, or None (identity); got {type(categories).__name__}."
    )


def _as_id_tensor(panoptic_seg: Any) -> torch.Tensor:
    t = panoptic_seg if isinstance(panoptic_seg, torch.Tensor) else torch.from_numpy(np.asarray(panoptic_seg))
    if t.dim() != 2:
        raise ValueError(f"panoptic_seg must be (H, W), got shape {tuple(t.shape)}.")
    return t.detach().cpu().to(torch.int64)


def _default_file_name(image_id: Any) -> str:
    return f"{image_id:012d}.png" if isinstance(image_id, int) else f"{image_id}.png"


def to_coco_panoptic(
    panoptic_seg: torch.Tensor | np.ndarray,
    segments_info: Sequence[Mapping[str, Any]],
    *,
    categories: Categories = None,
    image_id: Any,
    file_name: str | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """A segzoo panoptic prediction -> ``(rgb (H, W, 3) uint8, COCO panoptic annotation dict)``.

    Args:
        panoptic_seg: ``(H, W)`` id map, 0 = void.
        segments_info: ``[{id, category_id (train id), ...}]``; segments without pixels are left out.
        categories: train id -> original category id (a ``CategoryMap``, the COCO category
            dicts, a mapping or a list indexed by train id); identity when None.
        image_id: the image's COCO id.
        file_name: the PNG's name (default ``f"{image_id:012d}.png"`` for int ids).
    """
    ids = _as_id_tensor(panoptic_seg)
    to_original, _ = _category_table(categories)
    listed = [int(s["id"]) for s in segments_info]
    if len(set(listed)) != len(listed):
        raise ValueError(f"segments_info lists a segment id twice: {sorted(listed)}.")
    stats = segment_stats(ids, listed)  # raises when the map holds an unlisted id
    segments = []
    for seg in segments_info:
        sid, train_id = int(seg["id"]), int(seg["category_id"])
        if sid not in stats:
            continue
        if to_original is not None and train_id not in to_original:
            raise ValueError(
                f"segment {sid} has train id {train_id}, which categories does not map (known train ids "
                f"{sorted(to_original)})."
            )
        area, bbox = stats[sid]
        cat = to_original[train_id] if to_original is not None else train_id
        segments.append({"id": sid, "category_id": cat, "iscrowd": 0, "area": area, "bbox": bbox})
    annotation = {
        "image_id": image_id,
        "file_name": file_name if file_name is not None else _default_file_name(image_id),
        "segments_info": segments,
    }
    return id2rgb(ids.numpy()), annotation


def from_coco_panoptic(
    rgb: torch.Tensor | np.ndarray,
    annotation: Mapping[str, Any],
    categories: Categories,
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """A COCO panoptic PNG + annotation -> ``(panoptic_seg (H, W) int32, segments_info)`` with train ids.

    ``categories`` as in :func:`to_coco_panoptic`; a ``CategoryMap`` or the COCO category
    dicts also tell ``isthing`` (with the other forms every segment must carry ``isthing``).
    Listed segments without pixels are dropped; a map id that is not listed raises.
    """
    if rgb.shape[-1] != 3 or len(rgb.shape) != 3:
        raise ValueError(f"rgb must be an (H, W, 3) panoptic PNG, got shape {tuple(rgb.shape)}.")
    ids = rgb2id(rgb)
    ids = (ids if isinstance(ids, torch.Tensor) else torch.from_numpy(ids)).to(torch.int64).cpu()
    to_original, things = _category_table(categories)
    to_train = {v: k for k, v in to_original.items()} if to_original is not None else None
    segs = list(annotation.get("segments_info", []))
    stats = segment_stats(ids, [int(s["id"]) for s in segs])
    segments = []
    for seg in segs:
        sid, cat = int(seg["id"]), int(seg["category_id"])
        if sid not in stats:
            continue
        if to_train is not None and cat not in to_train:
            raise ValueError(f"segment {sid} has category id {cat}, unknown to categories (known {sorted(to_train)}).")
        train_id = to_train[cat] if to_train is not None else cat
        if things is not None:
            isthing = train_id in things
        elif "isthing" in seg:
            isthing = bool(seg["isthing"])
        else:
            raise ValueError(
                f"segment {sid}: cannot tell whether category {cat} is a thing; pass a CategoryMap or the COCO "
                "category dicts [{id, name, isthing}] as categories."
            )
        segments.append(
            {"id": sid, "category_id": train_id, "isthing": isthing, "score": float(seg.get("score", 1.0)),
             "area": stats[sid][0]}
        )
    return ids.to(torch.int32), segments
