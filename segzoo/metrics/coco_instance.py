"""COCO box and mask average precision through pycocotools' ``COCOeval``.

Lin et al., "Microsoft COCO: Common Objects in Context", arXiv:1405.0312: AP averaged over
IoU thresholds 0.50:0.05:0.95 and over categories, AP50, AP75, and AP for small / medium /
large objects (area < 32^2, < 96^2, larger), up to 100 detections per image. The numbers
are pycocotools' own (this module only converts tensors to COCO records); masks are
encoded with ``pycocotools.mask.encode`` (RLE). As Detectron2 does, mask AP is evaluated on
records without boxes so that object areas come from the masks.

Values are floats in [0, 1]; an AP pycocotools reports as -1 (no ground truth in that area
range) is NaN. ``COCOeval``'s printing goes to the ``logging`` debug level, not stdout.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["CocoInstanceMetric"]

logger = logging.getLogger(__name__)

IOU_TYPES = ("bbox", "segm")
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def _numpy(x: Any, name: str, dtype: Any = None) -> np.ndarray:
    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except Exception as err:
        raise TypeError(f"{name} must be a tensor, numpy array or sequence, got {type(x).__name__}") from err
    return arr.astype(dtype) if dtype is not None else arr


def _boxes_xywh(boxes: Any, n: int | None, name: str) -> np.ndarray:
    b = _numpy(boxes, name, np.float64)
    if b.size == 0:
        b = np.zeros((0, 4))
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{name} has shape {b.shape}; expected (N, 4) boxes (x1, y1, x2, y2)")
    if n is not None and len(b) != n:
        raise ValueError(f"{name} has {len(b)} boxes but labels has {n} entries; give one label per box")
    if (b[:, 2] < b[:, 0]).any() or (b[:, 3] < b[:, 1]).any():
        raise ValueError(f"{name} must be (N, 4) boxes in (x1, y1, x2, y2) order with x2 >= x1 and y2 >= y1")
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def _encode_masks(masks: Any, n: int, name: str) -> list[dict]:
    """``(N, H, W)`` (or ``(N, 1, H, W)``) bool / 0-1 float masks -> compressed RLEs."""
    from pycocotools import mask as mask_utils

    m = _numpy(masks, name)
    if m.ndim == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.ndim != 3 or m.shape[0] != n:
        if n == 0 and m.size == 0:
            return []
        raise ValueError(f"{name} has shape {m.shape}; expected ({n}, H, W) masks, one per box")
    if n == 0:
        return []
    m = m > 0.5 if m.dtype.kind == "f" else m.astype(bool)
    # pycocotools wants Fortran-ordered (H, W, N) uint8
    return mask_utils.encode(np.asfortranarray(m.transpose(1, 2, 0).astype(np.uint8)))


@contextlib.contextmanager
def _quiet():
    """Send pycocotools' prints to the debug log instead of stdout."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield
    if buf.getvalue():
        logger.debug("%s", buf.getvalue().rstrip())


class CocoInstanceMetric:
    """Accumulates instance predictions and evaluates COCO bbox / segm AP with pycocotools.

    Ground truth comes either from a COCO instances dict / JSON path (``images``,
    ``annotations``, ``categories``) given as ``ground_truth``, or image by image with
    :meth:`add_ground_truth`. ``labels`` are COCO category ids (as in the ground truth).

    >>> metric = CocoInstanceMetric()
    >>> metric.add_ground_truth(1, boxes=gt_boxes, labels=gt_labels, masks=gt_masks)
    >>> metric.update(1, boxes=boxes, scores=scores, labels=labels, masks=masks)
    >>> metric.compute()["segm"]["AP"]

    ``iou_types``: ``("bbox", "segm")`` or a subset; by default bbox always and segm when
    every prediction came with masks and the ground truth has segmentations.
    """

    def __init__(
        self,
        ground_truth: Mapping | str | os.PathLike | None = None,
        *,
        iou_types: Sequence[str] | None = None,
        categories: Sequence[Any] | None = None,
    ) -> None:
        if iou_types is not None:
            bad = [t for t in iou_types if t not in IOU_TYPES]
            if bad or not iou_types:
                raise ValueError(f"iou_types must be a non-empty subset of {IOU_TYPES}, got {tuple(iou_types)}")
        self.iou_types = tuple(iou_types) if iou_types is not None else None
        self._gt_dataset: dict | None = None
        if ground_truth is not None:
            if not isinstance(ground_truth, Mapping):
                with open(ground_truth) as f:
                    ground_truth = json.load(f)
            for key in ("images", "annotations", "categories"):
                if key not in ground_truth:
                    raise ValueError(f"ground_truth has no {key!r}; expected a COCO instances dict")
            self._gt_dataset = copy.deepcopy(dict(ground_truth))
        self._categories = None
        if categories is not None:
            self._categories = [dict(c) if isinstance(c, Mapping) else {"id": int(c)} for c in categories]
        self.reset()

    def reset(self) -> None:
        """Forget the predictions and the per-image ground truth (a ``ground_truth`` dict stays)."""
        self._gt_images: dict[Any, dict] = {}
        self._gt_anns: list[dict] = []
        self._dets_bbox: list[dict] = []
        self._dets_segm: list[dict] = []
        self._all_dets_have_masks = True

    def add_ground_truth(
        self,
        image_id: Any,
        *,
        boxes: Any,
        labels: Any,
        masks: Any = None,
        iscrowd: Any = None,
        image_size: tuple[int, int] | None = None,
    ) -> None:
        """Ground truth of one image: ``boxes`` (N, 4) xyxy, ``labels`` (N,), optional ``masks`` (N, H, W)."""
        if self._gt_dataset is not None:
            raise RuntimeError("ground truth was given as a COCO dict; add_ground_truth can't be mixed with it")
        if image_id in self._gt_images:
            raise ValueError(f"ground truth of image {image_id!r} was already added")
        labels = _numpy(labels, "labels", np.int64).reshape(-1)
        n = len(labels)
        xywh = _boxes_xywh(boxes, n, "boxes")
        crowd = np.zeros(n, dtype=bool) if iscrowd is None else _numpy(iscrowd, "iscrowd").astype(bool).reshape(-1)
        if len(crowd) != n:
            raise ValueError(f"iscrowd has {len(crowd)} entries for {n} boxes")
        image: dict[str, Any] = {"id": image_id}
        rles = None
        if masks is not None:
            rles = _encode_masks(masks, n, "masks")
            shape = _numpy(masks, "masks").shape[-2:]
            image_size = image_size or (int(shape[0]), int(shape[1]))
        if image_size is not None:
            image["height"], image["width"] = int(image_size[0]), int(image_size[1])
        self._gt_images[image_id] = image
        for i in range(n):
            ann = {
                "id": len(self._gt_anns) + 1,  # COCOeval needs ids > 0
                "image_id": image_id,
                "category_id": int(labels[i]),
                "bbox": xywh[i].tolist(),
                "iscrowd": int(crowd[i]),
            }
            if rles is not None:
                from pycocotools import mask as mask_utils

                ann["segmentation"] = rles[i]
                ann["area"] = float(mask_utils.area(rles[i]))
            else:
                ann["area"] = float(xywh[i, 2] * xywh[i, 3])
            self._gt_anns.append(ann)

    def update(self, image_id: Any, *, boxes: Any, scores: Any, labels: Any, masks: Any = None) -> None:
        """Predictions of one image: ``boxes`` (N, 4) xyxy, ``scores`` (N,), ``labels`` (N,), ``masks`` (N, H, W)."""
        labels = _numpy(labels, "labels", np.int64).reshape(-1)
        n = len(labels)
        xywh = _boxes_xywh(boxes, n, "boxes")
        scores = _numpy(scores, "scores", np.float64).reshape(-1)
        if len(scores) != n:
            raise ValueError(f"scores has {len(scores)} entries for {n} labels; give one score per box")
        rles = _encode_masks(masks, n, "masks") if masks is not None else None
        self._all_dets_have_masks &= rles is not None
        for i in range(n):
            common = {"image_id": image_id, "category_id": int(labels[i]), "score": float(scores[i])}
            self._dets_bbox.append({**common, "bbox": xywh[i].tolist()})
            if rles is not None:
                self._dets_segm.append({**common, "segmentation": rles[i]})

    def _gt_coco(self):
        from pycocotools.coco import COCO

        if self._gt_dataset is not None:
            dataset = copy.deepcopy(self._gt_dataset)
        else:
            if not self._gt_images:
                raise RuntimeError("no ground truth: pass ground_truth= or call add_ground_truth before compute")
            cats = self._categories or [{"id": c} for c in sorted({a["category_id"] for a in self._gt_anns})]
            dataset = {"images": list(self._gt_images.values()), "annotations": copy.deepcopy(self._gt_anns), "categories": cats}
        coco = COCO()
        coco.dataset = dataset
        with _quiet():
            coco.createIndex()
        return coco

    def compute(self) -> dict[str, dict[str, float]]:
        """``{"bbox": {AP, AP50, AP75, APs, APm, APl}, "segm": {...}}`` (floats in [0, 1], NaN for -1)."""
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        gt = self._gt_coco()
        gt_has_segm = all("segmentation" in a for a in gt.dataset["annotations"])
        if self.iou_types is None:
            iou_types = ["bbox"] + (["segm"] if self._all_dets_have_masks and gt_has_segm else [])
        else:
            iou_types = list(self.iou_types)
            if "segm" in iou_types and not (self._all_dets_have_masks and gt_has_segm):
                raise ValueError(
                    "iou_types includes 'segm' but some predictions came without masks or some ground truth "
                    "has no segmentation; pass masks= to update/add_ground_truth or use iou_types=('bbox',)"
                )
        known = set(gt.getImgIds())
        unknown = sorted({d["image_id"] for d in self._dets_bbox} - known, key=str)
        if unknown:
            raise ValueError(
                f"predictions for images {unknown[:10]} that have no ground truth; add their ground truth "
                "(an image without objects: add_ground_truth(image_id, boxes=[], labels=[]))"
            )
        results = {}
        for iou_type in iou_types:
            dets = copy.deepcopy(self._dets_bbox if iou_type == "bbox" else self._dets_segm)
            with _quiet():
                if dets:
                    dt = gt.loadRes(dets)
                else:  # loadRes can't take an empty list; an empty result set scores 0
                    dt = COCO()
                    dt.dataset = {"images": gt.dataset["images"], "categories": gt.dataset["categories"], "annotations": []}
                    dt.createIndex()
                ev = COCOeval(gt, dt, iouType=iou_type)
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
            results[iou_type] = {
                name: (float(v) if v >= 0 else math.nan) for name, v in zip(STAT_NAMES, ev.stats[: len(STAT_NAMES)])
            }
        return results

    def __repr__(self) -> str:
        n_gt = len(self._gt_images) if self._gt_dataset is None else len(self._gt_dataset["images"])
        return f"{type(self).__name__}({n_gt} ground-truth images, {len(self._dets_bbox)} predictions)"
