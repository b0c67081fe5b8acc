"""Property-based tests: PanopticQuality and pq_compute equal a plain reference loop.

Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868, with the COCO panoptic API's
rules (cocodataset/panopticapi ``evaluation.py``), re-stated here as the obviously-correct
loop ``reference_stats`` (dicts and counters, one pair at a time):

- void is segment id 0; a (gt, pred) pair of the same category with a non-crowd gt matches
  when ``inter / (area_pred + area_gt - inter - inter(pred, gt void)) > 0.5``;
- an unmatched non-crowd gt is a FN of its category;
- an unmatched prediction is a FP unless more than half of it lies on gt void plus the crowd
  region of its category (the last crowd segment of that category in ``segments_info``);
- per category PQ = sum IoU / (TP + FP/2 + FN/2), SQ = sum IoU / TP, RQ = TP / (TP + FP/2 + FN/2);
  All / Things / Stuff average over the categories with TP + FP + FN > 0 (NaN when none).

Hypothesis draws small id maps as painted rectangles (void = 0, ids up to 256^3 - 1, crowd
segments, thing and stuff categories, categories on one side only, predictions that copy
the ground truth with some ids and categories changed) over one to three images.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from segzoo.metrics import PanopticQuality, pq_compute

TOL = 1e-12

# In-memory metric: 200 examples in ~5 s; the file-based one writes PNGs, 100 examples in ~5 s.
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
FILE_SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- the reference loop


def reference_stats(gt_map, gt_segments, pred_map, pred_segments, *, gt_areas=None):
    """Per-category ``{"tp", "fp", "fn", "iou"}`` of one image, pair by pair.

    ``gt_areas``: segment id -> area to use for the ground truth (the JSON ``area`` fields, as
    the official file-based evaluator does); default: pixel counts.
    """
    gt_flat, pred_flat = np.asarray(gt_map).ravel().tolist(), np.asarray(pred_map).ravel().tolist()
    gt_area = Counter(gt_flat) if gt_areas is None else Counter(gt_areas)
    pred_area = Counter(pred_flat)
    inter = Counter(zip(gt_flat, pred_flat))
    gt_info = {s["id"]: s for s in gt_segments}
    pred_info = {s["id"]: s for s in pred_segments}
    stats = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "iou": 0.0, "ignored": 0})

    gt_matched, pred_matched = set(), set()
    for (g, p), overlap in inter.items():
        if g == 0 or p == 0:
            continue
        if gt_info[g].get("iscrowd", 0) == 1:
            continue
        if gt_info[g]["category_id"] != pred_info[p]["category_id"]:
            continue
        union = pred_area[p] + gt_area[g] - overlap - inter.get((0, p), 0)
        iou = overlap / union
        if iou > 0.5:
            stats[gt_info[g]["category_id"]]["tp"] += 1
            stats[gt_info[g]["category_id"]]["iou"] += iou
            gt_matched.add(g)
            pred_matched.add(p)

    crowd_of = {}  # category -> its crowd segment (the last one listed wins)
    for s in gt_segments:
        if s["id"] in gt_matched:
            continue
        if s.get("iscrowd", 0) == 1:
            crowd_of[s["category_id"]] = s["id"]
            continue
        stats[s["category_id"]]["fn"] += 1

    for s in pred_segments:
        p = s["id"]
        if p in pred_matched:
            continue
        ignored = inter.get((0, p), 0)
        if s["category_id"] in crowd_of:
            ignored += inter.get((crowd_of[s["category_id"]], p), 0)
        if ignored / pred_area[p] > 0.5:
            stats[s["category_id"]]["ignored"] += 1  # not a FP (only reported as a Hypothesis event)
            continue
        stats[s["category_id"]]["fp"] += 1
    return stats


def reference_result(images, categories, *, use_json_area=False):
    """Summed statistics over ``images`` and the All / Things / Stuff averages, as nested dicts."""
    total = defaultdict(lambda: {"tp": 0, "fp": 0, "fn": 0, "iou": 0.0, "ignored": 0})
    for gt_map, gt_segments, pred_map, pred_segments in images:
        gt_areas = {s["id"]: s["area"] for s in gt_segments} if use_json_area else None
        for cat, s in reference_stats(gt_map, gt_segments, pred_map, pred_segments, gt_areas=gt_areas).items():
            for key in s:
                total[cat][key] += s[key]
    for key in ("tp", "fp", "fn", "ignored"):  # what the examples exercise (--hypothesis-show-statistics)
        if currently_in_test_context():
            event(f"{key} > 0" if any(s[key] for s in total.values()) else f"{key} = 0")
    per_class = {}
    for c in categories:
        s = total[c["id"]]
        tp, fp, fn, iou = s["tp"], s["fp"], s["fn"], s["iou"]
        if tp + fp + fn == 0:
            per_class[c["id"]] = {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 0, "fn": 0, "iou": 0.0}
            continue
        per_class[c["id"]] = {
            "pq": iou / (tp + 0.5 * fp + 0.5 * fn),
            "sq": iou / tp if tp else 0.0,
            "rq": tp / (tp + 0.5 * fp + 0.5 * fn),
            "tp": tp, "fp": fp, "fn": fn, "iou": iou,
        }
    groups = {}
    for name, keep in (("All", lambda c: True), ("Things", lambda c: c["isthing"] == 1), ("Stuff", lambda c: c["isthing"] != 1)):
        seen = [c["id"] for c in categories if keep(c) and total[c["id"]]["tp"] + total[c["id"]]["fp"] + total[c["id"]]["fn"] > 0]
        n = len(seen)
        groups[name] = {
            key: (sum(per_class[cid][key] for cid in seen) / n if n else math.nan) for key in ("pq", "sq", "rq")
        }
        groups[name]["n"] = n
    return groups, per_class


def assert_matches_reference(result, images, categories, *, use_json_area=False):
    expected_groups, expected_per_class = reference_result(images, categories, use_json_area=use_json_area)
    got = result.as_dict()
    for name, expected in expected_groups.items():
        assert got[name]["n"] == expected["n"], (name, got[name], expected)
        for key in ("pq", "sq", "rq"):
            a, b = got[name][key], expected[key]
            assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= TOL, (name, key, a, b)
    assert set(got["per_class"]) == set(expected_per_class)
    for cid, expected in expected_per_class.items():
        for key in ("tp", "fp", "fn"):
            assert got["per_class"][cid][key] == expected[key], (cid, key, got["per_class"][cid], expected)
        for key in ("pq", "sq", "rq", "iou"):
            assert abs(got["per_class"][cid][key] - expected[key]) <= TOL, (cid, key, got["per_class"][cid], expected)


# ----------------------------------------------------------------------------- generators

def rectangles(*, min_size: int, max_size: int):
    """``(y, x, h, w, k)``: a rectangle of an up-to-12x12 map to fill with the k-th id (0 = void)."""
    rect = st.tuples(st.integers(0, 11), st.integers(0, 11), st.integers(1, 12), st.integers(1, 12), st.integers(0, 5))
    return st.lists(rect, min_size=min_size, max_size=max_size)


def paint(shape, rects, ids, *, background=0):
    """An id map filled with ``ids[background]``, then each rectangle with its id, in order."""
    out = np.full(shape, ids[background], dtype=np.int64)
    for y, x, h, w, k in rects:
        out[y : y + h, x : x + w] = ids[k]
    return out


# Void (0) and five distinct segment ids: small ones in any order, or spread up to 256^3 - 1
# (all three PNG channels).
segment_ids = st.one_of(
    st.permutations(range(1, 9)).map(lambda p: [0, *p[:5]]),
    st.tuples(st.integers(1, 1000), st.integers(1, 3_000_000)).map(lambda t: [0] + [t[0] + i * t[1] for i in range(5)]),
)


@st.composite
def panoptic_categories(draw):
    ids = draw(st.lists(st.integers(1, 200), min_size=1, max_size=4, unique=True))
    return [{"id": cid, "name": f"c{cid}", "isthing": draw(st.sampled_from([0, 1]))} for cid in ids]


@st.composite
def segments_for(draw, id_map, categories, *, crowd):
    """``segments_info`` for the non-zero ids of ``id_map`` in a random order (crowd only for gt)."""
    ids = [int(i) for i in np.unique(id_map) if i != 0]
    ids = draw(st.permutations(ids))
    cats = [c["id"] for c in categories]
    segments = []
    for sid in ids:
        seg = {"id": sid, "category_id": draw(st.sampled_from(cats))}
        if crowd:
            seg["iscrowd"] = draw(st.sampled_from([0, 0, 0, 1]))
        segments.append(seg)
    return segments


@st.composite
def panoptic_pair(draw, categories):
    """One image: ``(gt_map, gt_segments, pred_map, pred_segments)``."""
    shape = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    gt_ids = draw(segment_ids)
    gt_map = paint(shape, draw(rectangles(min_size=1, max_size=6)), gt_ids, background=draw(st.integers(0, 5)))
    gt_segments = draw(segments_for(gt_map, categories, crowd=True))

    pred_ids = draw(segment_ids)
    if draw(st.booleans()):
        # Start from the ground truth (renamed ids, mostly the same categories), then paint over it.
        rename = {0: 0}
        for i, sid in enumerate(np.unique(gt_map).tolist()):
            if sid:
                rename[sid] = pred_ids[1 + i % 5] if draw(st.integers(0, 5)) else 0
        pred_map = np.vectorize(rename.__getitem__, otypes=[np.int64])(gt_map)
        for y, x, h, w, k in draw(rectangles(min_size=0, max_size=3)):
            pred_map[y : y + h, x : x + w] = pred_ids[k]
        gt_cat = {s["id"]: s["category_id"] for s in gt_segments}
        cat_of = {}
        for sid, pid in rename.items():
            if pid and pid not in cat_of and draw(st.integers(0, 4)):
                cat_of[pid] = gt_cat[sid]
        pred_segments = draw(segments_for(pred_map, categories, crowd=False))
        for seg in pred_segments:
            seg["category_id"] = cat_of.get(seg["id"], seg["category_id"])
    else:
        pred_map = paint(shape, draw(rectangles(min_size=1, max_size=6)), pred_ids, background=draw(st.integers(0, 5)))
        pred_segments = draw(segments_for(pred_map, categories, crowd=False))
    return gt_map, gt_segments, pred_map, pred_segments


@st.composite
def panoptic_dataset(draw):
    categories = draw(panoptic_categories())
    images = draw(st.lists(panoptic_pair(categories), min_size=1, max_size=3))
    return categories, images


def as_input(id_map, form):
    """The same id map in one of the accepted forms."""
    if form == "numpy int64":
        return id_map
    if form == "torch int32":
        return torch.from_numpy(id_map.astype(np.int32))
    if form == "numpy uint32":
        return id_map.astype(np.uint32)
    return id2rgb(id_map)  # (H, W, 3) uint8 as a COCO panoptic PNG reads


def id2rgb(ids):
    ids = np.asarray(ids, dtype=np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)


FORMS = st.sampled_from(["numpy int64", "torch int32", "numpy uint32", "rgb"])

# ----------------------------------------------------------------------------- properties

# Known answer: a crowd gt region of category 1 under a prediction of category 1 lying wholly
# on it (ignored, not a FP), a stuff match with IoU 8/9 (the prediction's 3 pixels on gt void
# are taken out of the union), and a category only the prediction has (a FP, on the crowd
# region of another category).
_CATS = [{"id": 1, "name": "a", "isthing": 1}, {"id": 2, "name": "b", "isthing": 0}, {"id": 3, "name": "c", "isthing": 1}]
_KNOWN = (
    np.array([[5, 5, 7, 7], [5, 5, 7, 7], [0, 7, 7, 7], [7, 7, 0, 0]]),
    [{"id": 5, "category_id": 1, "iscrowd": 1}, {"id": 7, "category_id": 2, "iscrowd": 0}],
    np.array([[9, 9, 8, 4], [9, 4, 8, 8], [8, 8, 8, 8], [8, 8, 8, 8]]),
    [{"id": 9, "category_id": 1}, {"id": 8, "category_id": 2}, {"id": 4, "category_id": 3}],
)


def test_reference_loop_known_answer():
    groups, per_class = reference_result([_KNOWN], _CATS)
    # category 2: gt 9 px, pred 11 px, overlap 8, pred on gt void 3 -> union 9 + 11 - 8 - 3 = 9
    assert per_class[2]["tp"] == 1 and abs(per_class[2]["iou"] - 8 / 9) < TOL
    assert per_class[1] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 0, "fn": 0, "iou": 0.0}
    assert (per_class[3]["fp"], per_class[3]["pq"]) == (1, 0.0)
    assert groups["Things"]["n"] == 1 and groups["Stuff"]["n"] == 1 and groups["All"]["n"] == 2
    assert abs(groups["All"]["pq"] - 4 / 9) < TOL


@SETTINGS
@given(data=panoptic_dataset(), gt_form=FORMS, pred_form=FORMS)
@example(data=(_CATS, [_KNOWN]), gt_form="numpy int64", pred_form="rgb")
def test_panoptic_quality_equals_reference_loop(data, gt_form, pred_form):
    categories, images = data
    metric = PanopticQuality(categories)
    for image_id, (gt_map, gt_segments, pred_map, pred_segments) in enumerate(images):
        metric.update(
            as_input(pred_map, pred_form), pred_segments, as_input(gt_map, gt_form), gt_segments, image_id=image_id
        )
    assert_matches_reference(metric.compute(), images, categories)


@FILE_SETTINGS
@given(data=panoptic_dataset(), num_workers=st.sampled_from([0, 2]), as_files=st.booleans())
@example(data=(_CATS, [_KNOWN]), num_workers=0, as_files=True)
def test_pq_compute_equals_reference_loop(data, num_workers, as_files):
    categories, images = data
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files, with_area = {}, []
        for which in ("gt", "pred"):
            (root / which).mkdir()
            files[which] = {"annotations": [], "categories": categories, "images": []}
        for image_id, (gt_map, gt_segments, pred_map, pred_segments) in enumerate(images):
            gt_segments = [dict(s, area=int((gt_map == s["id"]).sum())) for s in gt_segments]
            with_area.append((gt_map, gt_segments, pred_map, pred_segments))
            for which, id_map, segments in (("gt", gt_map, gt_segments), ("pred", pred_map, pred_segments)):
                Image.fromarray(id2rgb(id_map)).save(root / which / f"{image_id}.png")
                files[which]["images"].append({"id": image_id, "file_name": f"{image_id}.jpg"})
                files[which]["annotations"].append(
                    {"image_id": image_id, "file_name": f"{image_id}.png", "segments_info": segments}
                )
        for which in ("gt", "pred"):
            (root / f"{which}.json").write_text(json.dumps(files[which]))
        if as_files:
            result = pq_compute(root / "gt.json", root / "pred.json", num_workers=num_workers)
        else:
            result = pq_compute(files["gt"], files["pred"], root / "gt", root / "pred", num_workers=num_workers)
    assert_matches_reference(result, with_area, categories, use_json_area=True)
