"""Panoptic annotations as the COCO panoptic format has them: categories, ``segments_info``, id maps.

Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868; the data format of the COCO
panoptic challenge (cocodataset/panopticapi): a PNG whose colours encode segment ids
``R + 256 G + 256^2 B`` (0 = void) and per image a ``segments_info`` list of
``{id, category_id, iscrowd, area, bbox}``. This module validates them and turns them into
small tensors for :mod:`segzoo.metrics.pq_core`; every error names the image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.panoptic_utils import rgb2id  # one definition of the COCO id encoding

__all__ = [
    "VOID",
    "preview",
    "PanopticFormatError",
    "CategoryTable",
    "SegmentTable",
    "parse_categories",
    "parse_segments",
    "rgb2id",
    "to_id_map",
]

VOID = 0


class PanopticFormatError(ValueError):
    """Panoptic annotations that contradict each other (id map vs ``segments_info``, categories)."""


def preview(values: Sequence[Any], limit: int = 10) -> str:
    values = list(values)
    more = f" (and {len(values) - limit} more)" if len(values) > limit else ""
    return f"{values[:limit]}{more}"


# ----------------------------------------------------------------------------- categories


@dataclass(frozen=True)
class CategoryTable:
    """Categories in the given order; ``index`` maps a category id to its row."""

    ids: tuple[int, ...]
    isthing: tuple[bool, ...]
    names: tuple[str | None, ...]
    index: dict[int, int]

    def __len__(self) -> int:
        return len(self.ids)


def parse_categories(categories: Any) -> CategoryTable:
    """Accept COCO category dicts ``[{id, name?, isthing}]``, ``{id: isthing}`` or ``{id: {isthing, ...}}``."""
    if isinstance(categories, CategoryTable):
        return categories
    entries: list[tuple[int, Any, str | None]] = []
    if isinstance(categories, Mapping):
        for cid, info in categories.items():
            if isinstance(info, Mapping):
                if "isthing" not in info:
                    raise ValueError(f"category {cid!r} has no 'isthing' field; give 1 for things, 0 for stuff")
                entries.append((cid, info["isthing"], info.get("name")))
            else:
                entries.append((cid, info, None))
    elif isinstance(categories, Sequence) and not isinstance(categories, (str, bytes)):
        for i, info in enumerate(categories):
            if not isinstance(info, Mapping) or "id" not in info or "isthing" not in info:
                raise ValueError(
                    f"categories[{i}] = {info!r}: expected a dict with 'id' and 'isthing' "
                    "(as in the 'categories' list of a COCO panoptic JSON)"
                )
            entries.append((info["id"], info["isthing"], info.get("name")))
    else:
        raise TypeError(
            "categories must be a list of COCO category dicts {id, name, isthing} or a mapping "
            f"id -> isthing, got {type(categories).__name__}"
        )
    if not entries:
        raise ValueError("categories is empty; PQ needs at least one category")
    ids = [int(cid) for cid, _, _ in entries]
    dup = sorted({c for c in ids if ids.count(c) > 1})
    if dup:
        raise ValueError(f"duplicate category ids {dup} in categories")
    for cid, isthing, _ in entries:
        if isthing not in (0, 1):  # True/False compare equal to 1/0
            raise ValueError(f"category {cid}: isthing must be 0/1 or a bool, got {isthing!r}")
    return CategoryTable(
        ids=tuple(ids),
        # the reference code tests ``isthing == 1``
        isthing=tuple(bool(isthing == 1) for _, isthing, _ in entries),
        names=tuple(name for _, _, name in entries),
        index={cid: i for i, cid in enumerate(ids)},
    )


# ----------------------------------------------------------------------------- segments


@dataclass(frozen=True)
class SegmentTable:
    """One image's ``segments_info`` as CPU tensors, sorted by segment id."""

    ids: torch.Tensor  # (S,) int64, ascending, all > 0
    cat: torch.Tensor  # (S,) int64 row in the CategoryTable
    crowd: torch.Tensor  # (S,) bool
    order: torch.Tensor  # (S,) int64 position in the given segments_info list
    area: torch.Tensor | None  # (S,) int64 'area' fields, None unless every segment has one

    def __len__(self) -> int:
        return int(self.ids.numel())


def parse_segments(segments: Any, categories: CategoryTable, *, role: str, image: str) -> SegmentTable:
    """Validate a ``segments_info`` list (dicts with ``id``, ``category_id``, optional ``iscrowd``, ``area``)."""
    if isinstance(segments, (str, bytes, Mapping)) or not isinstance(segments, Sequence):
        raise TypeError(
            f"{role} segments of {image} must be a list of dicts {{id, category_id, iscrowd}}, "
            f"got {type(segments).__name__}"
        )
    ids, cats, crowd, areas = [], [], [], []
    for i, seg in enumerate(segments):
        if not isinstance(seg, Mapping) or "id" not in seg or "category_id" not in seg:
            raise PanopticFormatError(
                f"{role} segments_info[{i}] of {image} is {seg!r}; expected a dict with 'id' and 'category_id'"
            )
        ids.append(int(seg["id"]))
        cats.append(seg["category_id"])
        crowd.append(int(seg.get("iscrowd", 0)) == 1)
        areas.append(seg.get("area"))
    if any(s <= VOID for s in ids):
        raise PanopticFormatError(
            f"{role} segments_info of {image} uses segment ids {preview(sorted({s for s in ids if s <= 0}))}; "
            "id 0 is void and ids are positive (R + 256 G + 256^2 B of the PNG)"
        )
    if len(set(ids)) != len(ids):
        seen, dup = set(), set()
        for s in ids:
            (dup if s in seen else seen).add(s)
        raise PanopticFormatError(
            f"duplicate segment ids {preview(sorted(dup))} in the {role} segments_info of {image}; "
            "every segment needs its own id"
        )
    unknown = [(s, c) for s, c in zip(ids, cats) if c not in categories.index]
    if unknown:
        raise PanopticFormatError(
            f"{role} segments of {image} have unknown category ids: "
            f"{preview([f'segment {s}: category_id {c!r}' for s, c in unknown], 5)}; "
            f"known category ids are {preview(sorted(categories.ids), 20)}"
        )
    order = torch.tensor(sorted(range(len(ids)), key=ids.__getitem__), dtype=torch.int64)
    has_area = len(areas) > 0 and all(a is not None for a in areas)
    return SegmentTable(
        ids=torch.tensor(ids, dtype=torch.int64)[order],
        cat=torch.tensor([categories.index[c] for c in cats], dtype=torch.int64)[order],
        crowd=torch.tensor(crowd, dtype=torch.bool)[order],
        order=order,
        area=torch.tensor([int(a) for a in areas], dtype=torch.int64)[order] if has_area else None,
    )


# ----------------------------------------------------------------------------- id maps


def to_id_map(x: Any, name: str, device: torch.device) -> torch.Tensor:
    """An ``(H, W)`` integer id map, or an ``(H, W, 3)`` uint8 panoptic PNG array, on ``device``.

    int32 maps stay int32 (PNG ids fit in 24 bits); other integer types become int64.
    """
    if isinstance(x, np.ndarray):
        if x.dtype not in (np.uint8, np.int32, np.int64):
            x = x.astype(np.int64)
        elif not x.flags.writeable:  # e.g. np.asarray(PIL image); torch warns on read-only arrays
            x = x.copy()
        x = torch.from_numpy(np.ascontiguousarray(x))
    elif not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    x = x.to(device)
    if x.ndim == 3 and x.shape[-1] in (3, 4) and x.dtype == torch.uint8:
        x = torch.from_numpy(rgb2id(x.numpy())) if x.device.type == "cpu" else rgb2id(x)
    if x.ndim != 2:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}; expected an (H, W) integer id map (0 = void) "
            "or an (H, W, 3) uint8 COCO panoptic PNG array"
        )
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer segment ids, got dtype {x.dtype}")
    return x if x.dtype in (torch.int32, torch.int64) else x.to(torch.int64)
