"""Panoptic quality (PQ = SQ x RQ): the per-image matching of the COCO panoptic API, on tensors.

Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868, with exactly the rules of the
reference implementation (cocodataset/panopticapi, ``panopticapi/evaluation.py``:
``pq_compute_single_core`` and ``PQStat.pq_average``):

- segment id 0 is void (``VOID``); ground-truth pixels with id 0 are not part of any segment;
- a (gt, pred) pair can match only if both have the same category and the gt is not crowd;
  its IoU is ``inter / (area_pred + area_gt - inter - inter(pred, gt void))``: the part of
  the prediction lying on gt void is taken out of the union; it matches if IoU > 0.5
  strictly (0.5 itself does not match), which makes matches unique;
- a matched pair is a TP of its category and adds its IoU; an unmatched non-crowd gt is a FN;
  crowd gts are never TP nor FN;
- an unmatched prediction is a FP unless more than half of its area lies on gt void plus the
  crowd region of its own category, in which case it is ignored. As in the reference code
  (a dict ``category -> crowd segment`` overwritten in ``segments_info`` order), only the
  *last* crowd segment of a category in ``segments_info`` counts as that category's crowd
  region;
- per category: ``PQ = sum IoU / (TP + FP/2 + FN/2)``, ``SQ = sum IoU / TP`` (0 if TP = 0),
  ``RQ = TP / (TP + FP/2 + FN/2)``; All/Things/Stuff average over the categories with
  ``TP + FP + FN > 0`` (their number is ``n``).

Departures (errors, never different numbers on valid input): the reference code raises
``ZeroDivisionError`` when a group has no category with TP + FP + FN > 0; here its PQ/SQ/RQ
are NaN with ``n = 0``. Inconsistent annotations raise :class:`PanopticFormatError` for the
ground truth as well as for the prediction (the reference checks only the prediction).

The pixel work runs on the maps' device (with numpy on the CPU): the maps are cut into runs
of constant (gt, pred) ids (a few elementwise passes), run ids are looked up with
``searchsorted`` and the overlaps counted with one ``index_add``; the matching then works on
the small table of overlapping pairs, without Python loops over segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .panoptic_format import VOID, PanopticFormatError, SegmentTable, preview

__all__ = [
    "PanopticResult",
    "segment_positions",
    "pixel_runs",
    "joint_histogram",
    "image_pq_stats",
    "pq_average",
]


def segment_positions(id_map: torch.Tensor, segments: SegmentTable, *, role: str, image: str) -> torch.Tensor:
    """Row of each id's segment in ``segments`` plus one (0 = void), same shape; unknown ids raise."""
    id_map = id_map.to(torch.int64)
    table = torch.cat([torch.zeros(1, dtype=torch.int64), segments.ids]).to(id_map.device)  # (S + 1,) sorted
    pos = torch.searchsorted(table, id_map).clamp_(max=len(segments))
    unknown = table[pos] != id_map
    if bool(unknown.any()):
        values = torch.unique(id_map[unknown]).tolist()
        raise PanopticFormatError(
            f"segment ids {preview(values)} appear in the {role} id map of {image} but not in its "
            "segments_info; every non-zero id in the map needs a segments_info entry (0 is void)"
        )
    return pos


def pixel_runs(gt_map: torch.Tensor, pred_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Runs of the flattened maps over which neither the gt id nor the pred id changes.

    Panoptic maps are piecewise constant, so the ~N pixels collapse to a few thousand runs
    and all later work (id lookup, pair counting) is on runs. Returns ``(R,)`` gt ids,
    pred ids and int64 run lengths, on the maps' device.
    """
    g, p = gt_map.reshape(-1), pred_map.reshape(-1)
    if g.numel() == 0:
        empty = g.new_zeros(0, dtype=torch.int64)
        return empty, empty, empty
    if g.device.type == "cpu":
        return _pixel_runs_numpy(g, p)
    return _pixel_runs_torch(g, p)


def _pixel_runs_numpy(g: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Single-threaded numpy passes that release the GIL: images evaluate in parallel threads
    # without oversubscribing torch's OpenMP pool (which is very slow on a busy machine).
    gn, pn = g.numpy(), p.numpy()
    change = np.empty(gn.size, dtype=bool)  # (N,) True where a run starts
    change[0] = True
    np.not_equal(gn[1:], gn[:-1], out=change[1:])
    change[1:] |= pn[1:] != pn[:-1]
    starts = np.flatnonzero(change)
    lengths = np.diff(starts, append=gn.size)
    return torch.from_numpy(gn[starts]), torch.from_numpy(pn[starts]), torch.from_numpy(lengths)


def _pixel_runs_torch(g: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    change = torch.empty(g.numel(), dtype=torch.bool, device=g.device)  # (N,) True where a run starts
    change[0] = True
    torch.ne(g[1:], g[:-1], out=change[1:])
    change[1:] |= p[1:] != p[:-1]
    starts = change.nonzero().squeeze(1)  # (R,)
    lengths = torch.diff(starts, append=starts.new_full((1,), g.numel()))
    return g[starts], p[starts], lengths


def joint_histogram(
    gt_pos: torch.Tensor, pred_pos: torch.Tensor, weights: torch.Tensor, n_gt: int, n_pred: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixel counts of every overlapping (gt row, pred row) pair, rows 0 = void.

    ``gt_pos``, ``pred_pos``: ``(R,)`` rows of each run, ``weights`` its pixel count.
    Returns ``g, p, inter``: ``(P,)`` int64 each, one entry per pair with a non-zero overlap.
    The combined id ``g * (n_pred + 1) + p`` is counted densely when the table is small,
    else through ``unique`` (images with very many segments).
    """
    stride = n_pred + 1
    joint = gt_pos * stride + pred_pos
    nbins = (n_gt + 1) * stride
    if nbins <= 4 * joint.numel() + 4096:
        counts = torch.zeros(nbins, dtype=torch.int64, device=joint.device).index_add_(0, joint, weights)
        keys = counts.nonzero().squeeze(1)
        inter = counts[keys]
    else:
        keys, inverse = torch.unique(joint, return_inverse=True)
        inter = torch.zeros(keys.numel(), dtype=torch.int64, device=joint.device).index_add_(0, inverse, weights)
    return keys // stride, keys % stride, inter


# ----------------------------------------------------------------------------- matching


def image_pq_stats(
    g: torch.Tensor,
    p: torch.Tensor,
    inter: torch.Tensor,
    gt: SegmentTable,
    pred: SegmentTable,
    *,
    gt_area: torch.Tensor,
    pred_area: torch.Tensor,
    num_categories: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-category ``(tp, fp, fn, iou_sum)`` of one image from its overlap table.

    ``g, p, inter``: ``(P,)`` overlapping pairs (rows, 0 = void) and their pixel counts.
    ``gt_area`` ``(Sg,)`` and ``pred_area`` ``(Sp,)``: segment areas. Returns ``(C,)`` int64
    counts and a ``(C,)`` float64 IoU sum on the device of ``inter``.
    """
    dev = inter.device
    c = num_categories
    n_gt, n_pred = len(gt), len(pred)
    # Row-indexed tables: row 0 is void (category -1 for gt and -2 for pred never match).
    gt_cat = torch.cat([torch.full((1,), -1, dtype=torch.int64), gt.cat]).to(dev)  # (Sg + 1,)
    gt_crowd = torch.cat([torch.zeros(1, dtype=torch.bool), gt.crowd]).to(dev)
    pred_cat = torch.cat([torch.full((1,), -2, dtype=torch.int64), pred.cat]).to(dev)  # (Sp + 1,)
    zero = torch.zeros(1, dtype=torch.int64, device=dev)
    gt_area_r = torch.cat([zero, gt_area.to(dev)])
    pred_area_r = torch.cat([zero, pred_area.to(dev)])

    on_void = g == VOID
    void_pred = torch.zeros(n_pred + 1, dtype=torch.int64, device=dev).index_add_(0, p[on_void], inter[on_void])

    # TP: same category, gt not crowd, IoU > 0.5 (2 * inter > union is the exact integer form).
    union = pred_area_r[p] + gt_area_r[g] - inter - void_pred[p]
    match = (g > 0) & (p > 0) & (gt_cat[g] == pred_cat[p]) & ~gt_crowd[g] & (2 * inter > union)
    m_cat = gt_cat[g[match]]
    tp = torch.bincount(m_cat, minlength=c)
    iou_sum = torch.zeros(c, dtype=torch.float64, device=dev).index_add_(
        0, m_cat, inter[match].to(torch.float64) / union[match].to(torch.float64)
    )
    gt_matched = torch.zeros(n_gt + 1, dtype=torch.bool, device=dev)
    gt_matched[g[match]] = True
    pred_matched = torch.zeros(n_pred + 1, dtype=torch.bool, device=dev)
    pred_matched[p[match]] = True

    # FN: unmatched gt that is not crowd.
    gt_cat_d, gt_crowd_d = gt.cat.to(dev), gt.crowd.to(dev)
    fn = torch.bincount(gt_cat_d[~gt_matched[1:] & ~gt_crowd_d], minlength=c)

    # Crowd region of each category: its last crowd segment in segments_info order (row, 0 = none).
    crowd_row = torch.zeros(c, dtype=torch.int64, device=dev)
    if bool(gt.crowd.any()):
        rows = gt.crowd.nonzero().squeeze(1)  # sorted-table indices of crowd segments
        last = torch.full((c,), -1, dtype=torch.int64).scatter_reduce(0, gt.cat[rows], gt.order[rows], "amax")
        row_of_order = torch.empty(n_gt, dtype=torch.int64)
        row_of_order[gt.order] = torch.arange(n_gt)
        has = last >= 0
        crowd_row[has.to(dev)] = (row_of_order[last[has]] + 1).to(dev)

    # FP: unmatched predictions, unless > half of their area lies on gt void + same-category crowd.
    on_crowd = (p > 0) & (g > 0) & (g == crowd_row[pred_cat[p].clamp(min=0)])
    crowd_pred = torch.zeros(n_pred + 1, dtype=torch.int64, device=dev).index_add_(0, p[on_crowd], inter[on_crowd])
    ignored = 2 * (void_pred + crowd_pred) > pred_area_r
    fp = torch.bincount(pred.cat.to(dev)[~pred_matched[1:] & ~ignored[1:]], minlength=c)
    return tp, fp, fn, iou_sum


# ----------------------------------------------------------------------------- averaging


@dataclass(frozen=True)
class PanopticResult:
    """PQ, SQ, RQ as floats in [0, 1] for All / Things / Stuff, and per category.

    ``all``, ``things``, ``stuff``: ``{"pq", "sq", "rq", "n"}`` with ``n`` the number of
    categories averaged (those with TP + FP + FN > 0). ``per_class``: category id ->
    ``{"pq", "sq", "rq", "tp", "fp", "fn", "iou"}`` where ``iou`` is the summed IoU of the
    matched pairs (``PQStatCat.iou`` of the reference code); categories never seen get
    pq = sq = rq = 0.0 as in the reference. ``as_dict()`` has the layout of panopticapi's
    ``pq_compute`` result; ``summary()`` is its printed table (in percent).
    """

    all: dict[str, float]
    things: dict[str, float]
    stuff: dict[str, float]
    per_class: dict[int, dict[str, float]]

    @property
    def pq(self) -> float:
        return self.all["pq"]

    @property
    def sq(self) -> float:
        return self.all["sq"]

    @property
    def rq(self) -> float:
        return self.all["rq"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "All": dict(self.all),
            "Things": dict(self.things),
            "Stuff": dict(self.stuff),
            "per_class": {k: dict(v) for k, v in self.per_class.items()},
        }

    def summary(self) -> str:
        lines = ["{:10s}| {:>5s}  {:>5s}  {:>5s} {:>5s}".format("", "PQ", "SQ", "RQ", "N"), "-" * 38]
        for name, r in (("All", self.all), ("Things", self.things), ("Stuff", self.stuff)):
            lines.append(
                "{:10s}| {:5.1f}  {:5.1f}  {:5.1f} {:5d}".format(
                    name, 100 * r["pq"], 100 * r["sq"], 100 * r["rq"], int(r["n"])
                )
            )
        return "\n".join(lines)


def pq_average(
    tp: Any, fp: Any, fn: Any, iou: Any, categories: CategoryTable
) -> PanopticResult:
    """``PQStat.pq_average`` for All, Things and Stuff from per-category ``(C,)`` statistics."""
    tp, fp, fn, iou = (np.asarray(torch.as_tensor(x).cpu(), dtype=np.float64) for x in (tp, fp, fn, iou))
    denom = tp + 0.5 * fp + 0.5 * fn
    seen = denom > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pq_c = np.where(seen, iou / denom, 0.0)
        sq_c = np.where(tp > 0, iou / tp, 0.0)
        rq_c = np.where(seen, tp / denom, 0.0)
    isthing = np.array(categories.isthing, dtype=bool)

    def group(mask: np.ndarray) -> dict[str, float]:
        sel = mask & seen
        n = int(sel.sum())
        if n == 0:
            return {"pq": math.nan, "sq": math.nan, "rq": math.nan, "n": 0}
        return {"pq": float(pq_c[sel].sum() / n), "sq": float(sq_c[sel].sum() / n), "rq": float(rq_c[sel].sum() / n), "n": n}

    per_class = {
        cid: {
            "pq": float(pq_c[i]),
            "sq": float(sq_c[i]),
            "rq": float(rq_c[i]),
            "tp": int(tp[i]),
            "fp": int(fp[i]),
            "fn": int(fn[i]),
            "iou": float(iou[i]),
        }
        for i, cid in enumerate(categories.ids)
    }
    return PanopticResult(
        all=group(np.ones_like(isthing)), things=group(isthing), stuff=group(~isthing), per_class=per_class
    )
