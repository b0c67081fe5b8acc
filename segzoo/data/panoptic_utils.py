"""Panoptic helpers: COCO panoptic PNG ids, category maps, and targets built from id maps.

The COCO panoptic format (Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868, and
the COCO panoptic API) stores a segment id in an RGB PNG as ``id = R + 256 G + 256^2 B``
(0 = void) and lists the segments of each image in ``segments_info`` (id, category_id,
iscrowd, area, bbox as COCO ``[x, y, w, h]``).

Every segzoo dataset maps its original category ids to contiguous *train ids* the same
way Detectron2 does for COCO panoptic: sort all categories (things and stuff together) by
original id; the train id is the rank. ``CategoryMap`` does this once per dataset.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

__all__ = [
    "IGNORE_INDEX",
    "rgb2id",
    "id2rgb",
    "CategoryMap",
    "boxes_from_masks",
    "segment_stats",
    "panoptic_target",
    "colormap",
]

IGNORE_INDEX = 255  # label of void / ignored pixels in every ``sem_seg`` target
_MAX_ID = 256**3  # ids must fit in the three 8-bit channels of a panoptic PNG


def rgb2id(color: Any) -> Any:
    """``(..., 3)`` RGB array (numpy or torch) -> ``(...)`` int64 ids; an ``[r, g, b]`` triple -> int."""
    if isinstance(color, torch.Tensor):
        c = color.to(torch.int64)
        return c[..., 0] + 256 * c[..., 1] + 256 * 256 * c[..., 2]
    if isinstance(color, np.ndarray) and color.ndim >= 2:
        if color.shape[-1] != 3:
            raise ValueError(f"rgb2id expects (..., 3) RGB values, got shape {color.shape}.")
        c = color.astype(np.int64)
        return c[..., 0] + 256 * c[..., 1] + 256 * 256 * c[..., 2]
    r, g, b = (int(v) for v in color)
    return r + 256 * g + 256 * 256 * b


def id2rgb(ids: Any) -> Any:
    """``(...)`` integer ids (numpy or torch) -> ``(..., 3)`` uint8 RGB; an int -> ``[r, g, b]``."""
    if isinstance(ids, (int, np.integer)):
        ids = int(ids)
        if not 0 <= ids < _MAX_ID:
            raise ValueError(f"Panoptic ids must be in [0, 256^3), got {ids}.")
        return [ids % 256, ids // 256 % 256, ids // 65536]
    is_torch = isinstance(ids, torch.Tensor)
    a = ids.cpu().numpy() if is_torch else np.asarray(ids)
    a = a.astype(np.int64)
    if a.size and (a.min() < 0 or a.max() >= _MAX_ID):
        raise ValueError(f"Panoptic ids must be in [0, 256^3) to fit an RGB PNG, got range [{a.min()}, {a.max()}].")
    rgb = np.stack([a % 256, a // 256 % 256, a // 65536], axis=-1).astype(np.uint8)
    return torch.from_numpy(rgb) if is_torch else rgb


class CategoryMap:
    """Categories sorted by original id; train id = rank (things and stuff together).

    Args:
        categories: COCO-style dicts with at least ``id`` and ``name``; ``isthing`` (default 0)
            and ``color`` (default from :func:`colormap`) are optional.

    Attributes:
        categories: the dicts in train-id order, each with ``id, name, isthing, color, train_id``.
        ids: original id of each train id.
        id_to_train_id: original id -> train id.
        thing_ids / stuff_ids: train ids of the thing / stuff categories.
    """

    def __init__(self, categories: Iterable[Mapping[str, Any]]) -> None:
        cats = sorted((dict(c) for c in categories), key=lambda c: int(c["id"]))
        if not cats:
            raise ValueError("A dataset needs at least one category.")
        if len(cats) > IGNORE_INDEX:
            raise ValueError(
                f"At most {IGNORE_INDEX} categories fit train ids below the ignore label, got {len(cats)}."
            )
        ids = [int(c["id"]) for c in cats]
        if len(set(ids)) != len(ids) or ids[0] < 0:
            raise ValueError(f"Category ids must be unique non-negative ints, got {ids}.")
        palette = colormap(len(cats))
        self.categories: list[dict[str, Any]] = []
        for train_id, c in enumerate(cats):
            color = c.get("color")
            self.categories.append(
                {
                    "id": int(c["id"]),
                    "name": str(c["name"]),
                    "isthing": int(bool(c.get("isthing", 0))),
                    "color": [int(v) for v in color] if color is not None else palette[train_id],
                    "train_id": train_id,
                }
            )
        self.ids = ids
        self.id_to_train_id = {cid: t for t, cid in enumerate(ids)}
        self.thing_ids = [c["train_id"] for c in self.categories if c["isthing"]]
        self.stuff_ids = [c["train_id"] for c in self.categories if not c["isthing"]]
        # Lookup table original id -> train id; ids not listed map to the ignore label.
        self._lut = np.full(max(ids) + 1, IGNORE_INDEX, dtype=np.int64)
        self._lut[ids] = np.arange(len(ids))

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.categories]

    def to_train_ids(self, labels: np.ndarray) -> np.ndarray:
        """Original-id label map (any integer array) -> int64 train ids, unknown ids -> 255."""
        labels = np.asarray(labels).astype(np.int64)
        inside = (labels >= 0) & (labels < len(self._lut))
        return np.where(inside, self._lut[np.clip(labels, 0, len(self._lut) - 1)], IGNORE_INDEX)

    def train_id(self, category_id: int) -> int:
        """The train id of an original category id (``KeyError`` naming the known ids)."""
        try:
            return self.id_to_train_id[int(category_id)]
        except KeyError:
            raise KeyError(f"Unknown category id {category_id}; the dataset's categories are {self.ids}.") from None


def colormap(n: int) -> list[list[int]]:
    """``n`` distinct colours: the Pascal VOC bit-interleaving palette (background black)."""
    colors = []
    for i in range(n):
        r = g = b = 0
        c = i
        for shift in range(7, -1, -1):  # bits of the index spread over the high bits of R, G, B
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors.append([r, g, b])
    return colors


def boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """``(N, H, W)`` bool masks -> ``(N, 4)`` float32 xyxy boxes in pixel edges.

    ``x2 = last column + 1``, so a one-pixel mask at (x, y) has box ``[x, y, x + 1, y + 1]``
    and a COCO ``[x, y, w, h]`` box is ``[x, y, x + w, y + h]``. Empty masks give zeros.
    """
    n = masks.shape[0]
    if n == 0:
        return torch.zeros((0, 4), dtype=torch.float32)
    rows = masks.any(dim=2)  # (N, H)
    cols = masks.any(dim=1)  # (N, W)
    h, w = rows.shape[1], cols.shape[1]
    y1 = rows.float().argmax(dim=1)
    y2 = h - rows.flip(1).float().argmax(dim=1)
    x1 = cols.float().argmax(dim=1)
    x2 = w - cols.flip(1).float().argmax(dim=1)
    boxes = torch.stack([x1, y1, x2, y2], dim=1).float()
    return boxes * rows.any(dim=1, keepdim=True)


def _segment_index(panoptic: torch.Tensor, ids: Iterable[int] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted known ids ``(K,)`` (0 first) and each pixel's index into them ``(HW,)``."""
    flat = panoptic.reshape(-1)
    if ids is None:
        ids = np.unique(flat.numpy()).tolist()
    known = torch.tensor(sorted(set(int(i) for i in ids) | {0}), dtype=torch.int64)
    pos = torch.searchsorted(known, flat).clamp_(max=len(known) - 1)
    found = known[pos] == flat
    if not bool(found.all()):
        unlisted = np.unique(flat[~found].numpy())[:10].tolist()
        raise ValueError(
            f"segment ids {unlisted} are in the panoptic map but not in segments_info "
            "(the PNG and the JSON do not belong together)."
        )
    return known, pos


def segment_stats(panoptic: torch.Tensor, ids: Iterable[int] | None = None) -> dict[int, tuple[int, list[int]]]:
    """``(H, W)`` id map -> ``{id: (area, [x, y, w, h])}`` for every non-zero id with pixels.

    ``ids``: the segment ids the map may hold (faster than finding them); a non-zero pixel
    value outside them raises ``ValueError``.
    """
    return _stats(*_segment_index(panoptic, ids), *panoptic.shape)


def _stats(known: torch.Tensor, pos: torch.Tensor, h: int, w: int) -> dict[int, tuple[int, list[int]]]:
    """Areas and COCO boxes from :func:`_segment_index`'s output, one pass over the pixels."""
    k = len(known)
    area = torch.bincount(pos, minlength=k)
    ys = torch.arange(h).repeat_interleave(w)
    xs = torch.arange(w).repeat(h)
    big = torch.full((k,), h + w, dtype=torch.int64)
    small = torch.full((k,), -1, dtype=torch.int64)
    x1 = big.scatter_reduce(0, pos, xs, "amin").tolist()
    y1 = big.scatter_reduce(0, pos, ys, "amin").tolist()
    x2 = small.scatter_reduce(0, pos, xs, "amax").tolist()
    y2 = small.scatter_reduce(0, pos, ys, "amax").tolist()
    stats = {}
    for i, (sid, a) in enumerate(zip(known.tolist(), area.tolist())):
        if sid != 0 and a > 0:
            stats[sid] = (a, [x1[i], y1[i], x2[i] - x1[i] + 1, y2[i] - y1[i] + 1])
    return stats


def panoptic_target(
    panoptic: torch.Tensor,
    segments: Sequence[Mapping[str, Any]],
    categories: CategoryMap,
    *,
    image_id: Any,
) -> dict[str, Any]:
    """The panoptic target of an ``(H, W)`` int64 id map (0 = void) and its segment list.

    ``segments`` are dicts with ``id``, ``category_id`` (original id) and optional
    ``iscrowd``. Listed segments without pixels are dropped; a non-zero id of the map that is
    not listed raises ``ValueError`` (the caller adds the file name). Areas and boxes are
    counted from the map. ``masks[i]`` is the i-th thing segment of ``segments_info``.
    """
    listed = [int(s["id"]) for s in segments]
    if len(set(listed)) != len(listed):
        raise ValueError(f"segments_info lists a segment id twice: {sorted(listed)}.")
    known, pos = _segment_index(panoptic, listed)
    stats = _stats(known, pos, *panoptic.shape)
    infos: list[dict[str, Any]] = []
    for s in segments:
        sid = int(s["id"])
        if sid not in stats:  # listed but without pixels
            continue
        cat = categories.categories[categories.train_id(s["category_id"])]
        area, bbox = stats[sid]
        infos.append(
            {
                "id": sid,
                "category_id": cat["id"],
                "train_id": cat["train_id"],
                "isthing": bool(cat["isthing"]),
                "iscrowd": bool(s.get("iscrowd", 0)),
                "area": area,
                "bbox": bbox,
            }
        )
    # sem_seg: each pixel's segment -> its train id (void 0 -> 255).
    train_of = {s["id"]: s["train_id"] for s in infos}
    train = torch.tensor([train_of.get(i, IGNORE_INDEX) for i in known.tolist()], dtype=torch.int64)
    sem_seg = train[pos].reshape(panoptic.shape)
    things = [s for s in infos if s["isthing"]]
    thing_ids = torch.tensor([s["id"] for s in things], dtype=torch.int64)
    masks = panoptic[None] == thing_ids[:, None, None]  # (N, H, W)
    return {
        "boxes": boxes_from_masks(masks),
        "labels": torch.tensor([s["train_id"] for s in things], dtype=torch.int64),
        "masks": masks,
        "iscrowd": torch.tensor([s["iscrowd"] for s in things], dtype=torch.bool),
        "sem_seg": sem_seg,
        "panoptic": panoptic.to(torch.int64),
        "segments_info": infos,
        "image_id": image_id,
    }
