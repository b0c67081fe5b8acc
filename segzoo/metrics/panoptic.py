"""Streaming panoptic quality (PQ, SQ, RQ; All / Things / Stuff) over id maps and segments_info.

Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868. The matching rules are exactly
those of the COCO panoptic API (cocodataset/panopticapi); they are written out in
:mod:`segzoo.metrics.pq_core`. For COCO panoptic JSON + PNG folders use
:func:`segzoo.metrics.pq_compute`, which returns the official evaluator's numbers.

Values are floats in [0, 1]; ``summary()`` prints them in percent like the official API.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from ._distributed import all_reduce_sum
from .panoptic_format import PanopticFormatError, SegmentTable, parse_categories, parse_segments, to_id_map
from .pq_core import PanopticResult, image_pq_stats, joint_histogram, pixel_runs, pq_average, segment_positions

__all__ = ["PanopticQuality", "PanopticResult", "PanopticFormatError"]


class PanopticQuality:
    """Accumulates per-category TP / FP / FN / IoU sums image by image.

    ``categories``: COCO category dicts ``[{id, name, isthing}]`` (the ``categories`` of a
    panoptic JSON) or a mapping ``{category_id: isthing}``.

    >>> pq = PanopticQuality(coco_json["categories"])
    >>> pq.update(pred_ids, pred_segments, gt_ids, gt_segments, image_id=139)
    >>> result = pq.compute()            # PanopticResult, result.pq in [0, 1]
    >>> print(result.summary())          # the official table, in percent

    ``*_ids`` are ``(H, W)`` integer id maps (0 = void), torch or numpy, or ``(H, W, 3)``
    uint8 arrays of COCO panoptic PNGs. ``*_segments`` are ``segments_info`` lists of dicts
    ``{id, category_id}`` plus ``iscrowd`` for the ground truth (default 0); a prediction's
    ``iscrowd`` is ignored. Segment areas are counted from the maps. Every non-zero id of a
    map must be in its list and every listed segment must have pixels, else
    :class:`PanopticFormatError` names the image. The pixel work runs on the device of the
    first id map given (the statistics stay there; on MPS, which lacks float64, on the CPU).
    Under ``torch.distributed`` ``compute`` sums the statistics of all processes.
    """

    def __init__(self, categories: Any) -> None:
        self.categories = parse_categories(categories)
        self.reset()

    def reset(self) -> None:
        """Forget all images."""
        self._stats: torch.Tensor | None = None  # (4, C) float64: tp, fp, fn, iou_sum
        self._device: torch.device | None = None
        self.num_images = 0

    def update(
        self,
        pred_ids: Any,
        pred_segments: Any,
        gt_ids: Any,
        gt_segments: Any,
        *,
        image_id: Any = None,
    ) -> None:
        """Add one image; ``image_id`` only names the image in error messages."""
        image = f"image {image_id!r}" if image_id is not None else f"image #{self.num_images} (0-based update count)"
        self._update(pred_ids, pred_segments, gt_ids, gt_segments, image=image, gt_area_from_segments=False)

    def _update(
        self,
        pred_ids: Any,
        pred_segments: Any,
        gt_ids: Any,
        gt_segments: Any,
        *,
        image: str,
        gt_area_from_segments: bool,
    ) -> None:
        if self._device is None:  # the first tensor input decides; numpy arrays live on the CPU
            self._device = next((x.device for x in (pred_ids, gt_ids) if torch.is_tensor(x)), torch.device("cpu"))
        stats = self._image_stats(
            pred_ids, pred_segments, gt_ids, gt_segments,
            image=image, device=self._device, gt_area_from_segments=gt_area_from_segments,
        )
        self._add(stats)

    def _add(self, stats: torch.Tensor) -> None:
        if self._stats is None:
            self._stats = stats
        else:
            self._stats += stats.to(self._stats.device)
        self.num_images += 1

    def _image_stats(
        self,
        pred_ids: Any,
        pred_segments: Any,
        gt_ids: Any,
        gt_segments: Any,
        *,
        image: str,
        device: torch.device,
        gt_area_from_segments: bool,
    ) -> torch.Tensor:
        """``(4, C)`` float64 (tp, fp, fn, iou_sum) of one image; touches no state (thread-safe).

        ``gt_area_from_segments``: use the gt ``area`` fields, as the official file-based evaluator does.
        """
        gt = parse_segments(gt_segments, self.categories, role="ground truth", image=image)
        pred = parse_segments(pred_segments, self.categories, role="prediction", image=image)
        pred_map = to_id_map(pred_ids, "pred_ids", device)
        gt_map = to_id_map(gt_ids, "gt_ids", device)
        if pred_map.shape != gt_map.shape:
            raise PanopticFormatError(
                f"prediction and ground truth of {image} differ in size: pred {tuple(pred_map.shape)} vs "
                f"gt {tuple(gt_map.shape)} (H, W); predict at the ground-truth resolution"
            )
        gt_run, pred_run, run_length = pixel_runs(gt_map, pred_map)  # (R,) each
        gt_pos = segment_positions(gt_run, gt, role="ground truth", image=image)
        pred_pos = segment_positions(pred_run, pred, role="prediction", image=image)
        g, p, inter = joint_histogram(gt_pos, pred_pos, run_length, len(gt), len(pred))
        if device.type == "mps":  # no float64 on MPS; the pair table is small
            g, p, inter = g.cpu(), p.cpu(), inter.cpu()
        gt_count = torch.zeros(len(gt) + 1, dtype=torch.int64, device=inter.device).index_add_(0, g, inter)[1:]
        pred_count = torch.zeros(len(pred) + 1, dtype=torch.int64, device=inter.device).index_add_(0, p, inter)[1:]
        _check_present(gt, gt_count, role="ground truth", image=image)
        _check_present(pred, pred_count, role="prediction", image=image)
        gt_area = gt_count
        if gt_area_from_segments and gt.area is not None:
            gt_area = gt.area.to(inter.device)
            differ = (gt_area != gt_count).cpu()
            if bool(differ.any()):
                warnings.warn(
                    f"ground-truth 'area' of segments {gt.ids[differ][:10].tolist()} in {image} differs from "
                    "their pixel count in the id map; using the JSON areas as the official evaluator does",
                    stacklevel=2,
                )
        tp, fp, fn, iou = image_pq_stats(
            g, p, inter, gt, pred, gt_area=gt_area, pred_area=pred_count, num_categories=len(self.categories)
        )
        return torch.stack([tp.to(torch.float64), fp.to(torch.float64), fn.to(torch.float64), iou])

    def compute(self, *, sync: bool = True) -> PanopticResult:
        """PQ / SQ / RQ over all images so far (summed over processes if ``sync``)."""
        stats = self._stats if self._stats is not None else torch.zeros(4, len(self.categories), dtype=torch.float64)
        if sync:
            stats = all_reduce_sum(stats)
        tp, fp, fn, iou = stats.cpu()
        return pq_average(tp, fp, fn, iou, self.categories)

    def summary(self) -> str:
        """The official PQ table (percent) of ``compute()``."""
        return self.compute().summary()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.categories)} categories, {self.num_images} images)"


def _check_present(segments: SegmentTable, counts: torch.Tensor, *, role: str, image: str) -> None:
    missing = segments.ids[(counts == 0).cpu()]
    if missing.numel():
        raise PanopticFormatError(
            f"segments {missing[:10].tolist()}{' ...' if missing.numel() > 10 else ''} are listed in the "
            f"{role} segments_info of {image} but have no pixels in its id map; remove them from "
            "segments_info or fix the map"
        )
