"""File-based panoptic quality on COCO panoptic JSON + PNG folders (drop-in for panopticapi).

Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868; the evaluation protocol of the
COCO panoptic challenge (cocodataset/panopticapi, ``panopticapi/evaluation.py:pq_compute``).
:func:`pq_compute` returns the same numbers as the official evaluator (to float rounding)
and the same ``as_dict()`` layout, without printing. As the official code does, the
ground-truth segment areas are the JSON ``area`` fields (when every segment has one) and the
prediction areas are counted in the PNGs; the categories are the ground-truth JSON's.

PNG colours encode segment ids as ``R + 256 G + 256^2 B`` (0 = void).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .panoptic import PanopticQuality
from .panoptic_format import PanopticFormatError, rgb2id
from .pq_core import PanopticResult

__all__ = ["pq_compute", "read_panoptic_png"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike


def read_panoptic_png(path: PathLike) -> np.ndarray:
    """``(H, W)`` segment ids (int32; int64 for non-RGB PNGs) of a COCO panoptic PNG (``R + 256 G + 256^2 B``)."""
    with Image.open(path) as img:
        arr = np.asarray(img)
    return rgb2id(arr) if arr.ndim == 3 else arr.astype(np.int64)


def _load_json(obj: Any, name: str) -> tuple[dict, Path | None]:
    if isinstance(obj, Mapping):
        return dict(obj), None
    path = Path(obj)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no JSON file at {str(path)!r}")
    with open(path) as f:
        return json.load(f), path


def _folder(folder: PathLike | None, json_path: Path | None, name: str) -> Path:
    if folder is None:
        if json_path is None:
            raise TypeError(f"{name} is required when the JSON is given as a dict")
        folder = json_path.with_suffix("")  # the official default: X/ next to X.json
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{name}: folder {str(folder)!r} with the panoptic PNGs does not exist")
    return folder


def _annotations(data: dict, which: str) -> list[dict]:
    anns = data.get("annotations")
    if not isinstance(anns, list):
        raise ValueError(f"the {which} JSON has no 'annotations' list (COCO panoptic format expected)")
    for i, ann in enumerate(anns):
        for key in ("image_id", "file_name", "segments_info"):
            if key not in ann:
                raise PanopticFormatError(f"{which} annotations[{i}] has no {key!r} (COCO panoptic format expected)")
    return anns


def pq_compute(
    gt_json: PathLike | Mapping,
    pred_json: PathLike | Mapping,
    gt_folder: PathLike | None = None,
    pred_folder: PathLike | None = None,
    *,
    categories: Any = None,
    num_workers: int | None = None,
) -> PanopticResult:
    """PQ / SQ / RQ of the predictions in ``pred_json`` + ``pred_folder`` against the ground truth.

    ``gt_json``, ``pred_json``: paths of COCO panoptic JSON files or their loaded dicts;
    ``gt_folder``, ``pred_folder``: the PNG folders (default: the JSON path without
    ``.json``, as the official API). ``categories`` overrides the ground-truth JSON's
    ``categories`` (same forms as :class:`PanopticQuality`). Every ground-truth image needs a
    prediction (matched by ``image_id``); extra predictions are ignored. ``num_workers``
    threads evaluate images in parallel (default ``min(4, cpu_count)``; 0 or 1: inline).
    Errors (:class:`PanopticFormatError`, ``FileNotFoundError``) name the image.
    """
    gt_data, gt_json_path = _load_json(gt_json, "gt_json")
    pred_data, pred_json_path = _load_json(pred_json, "pred_json")
    gt_dir = _folder(gt_folder, gt_json_path, "gt_folder")
    pred_dir = _folder(pred_folder, pred_json_path, "pred_folder")
    if categories is None:
        if "categories" not in gt_data:
            raise ValueError("the ground-truth JSON has no 'categories'; pass categories=")
        categories = gt_data["categories"]
    metric = PanopticQuality(categories)

    pred_by_image: dict[Any, dict] = {}
    for ann in _annotations(pred_data, "prediction"):
        if ann["image_id"] in pred_by_image:
            raise PanopticFormatError(
                f"the prediction JSON has two annotations for image {ann['image_id']!r}; keep one per image"
            )
        pred_by_image[ann["image_id"]] = ann
    pairs = []
    for gt_ann in _annotations(gt_data, "ground-truth"):
        pred_ann = pred_by_image.get(gt_ann["image_id"])
        if pred_ann is None:
            raise PanopticFormatError(
                f"no prediction for image {gt_ann['image_id']!r} ({gt_ann['file_name']}): every ground-truth "
                "image needs an entry with its image_id in the prediction JSON's 'annotations'"
            )
        pairs.append((gt_ann, pred_ann))

    cpu = torch.device("cpu")

    def image_stats(pair: tuple[dict, dict]) -> torch.Tensor:
        gt_ann, pred_ann = pair
        image = f"image {gt_ann['image_id']!r} ({gt_ann['file_name']})"
        maps = []
        for folder, ann, which in ((gt_dir, gt_ann, "ground-truth"), (pred_dir, pred_ann, "prediction")):
            path = folder / ann["file_name"]
            if not path.is_file():
                raise FileNotFoundError(f"{which} PNG of {image} not found at {str(path)!r}")
            maps.append(read_panoptic_png(path))
        gt_ids, pred_ids = maps
        if gt_ids.shape != pred_ids.shape:
            raise PanopticFormatError(
                f"the prediction PNG of {image} is {pred_ids.shape[1]}x{pred_ids.shape[0]} but the ground truth "
                f"is {gt_ids.shape[1]}x{gt_ids.shape[0]} (WxH); predict at the ground-truth resolution"
            )
        return metric._image_stats(
            pred_ids, pred_ann["segments_info"], gt_ids, gt_ann["segments_info"],
            image=image, device=cpu, gt_area_from_segments=True,
        )

    workers = min(4, os.cpu_count() or 1) if num_workers is None else num_workers
    # Threads over images: PNG decoding and the numpy / small-tensor work release the GIL.
    # Results are summed in image order, so the numbers do not depend on the worker count.
    if workers > 1 and len(pairs) > 1:
        pool = ThreadPoolExecutor(workers)
        try:
            for stats in pool.map(image_stats, pairs):
                metric._add(stats)
        finally:  # on an error, don't evaluate the remaining images before raising
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        for pair in pairs:
            metric._add(image_stats(pair))
    logger.debug("pq_compute: evaluated %d images", len(pairs))
    return metric.compute(sync=False)
