"""Panoptic quality: hand-computed cases, official-evaluator parity, file-based pq_compute, errors.

The hand cases use 6x6 id maps written as digit strings (digit = segment id, 0 = void).
The "official" numbers below were obtained by running cocodataset/panopticapi's
``panopticapi.evaluation.pq_compute`` (commit 7bb4655, run from a copy outside this
repository, never copied into it) on the PNG/JSON trees that ``write_tree`` and
``write_perturbed_prediction`` write (all CASES as one data set, the JSON-area case, the
perturbed COCO samples); its per-case results also agree with the hand-computed HAND values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segzoo.metrics import PanopticFormatError, PanopticQuality, pq_compute, read_panoptic_png

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco_panoptic_sample"

CATEGORIES = [
    {"id": 1, "name": "person", "isthing": 1},
    {"id": 2, "name": "car", "isthing": 1},
    {"id": 3, "name": "sky", "isthing": 0},
    {"id": 4, "name": "grass", "isthing": 0},
]


def grid(*rows: str) -> np.ndarray:
    return np.array([[int(c) for c in row] for row in rows], dtype=np.int64)


def segs(*entries) -> list[dict]:
    """``(id, category_id)`` or ``(id, category_id, iscrowd)`` -> segments_info."""
    return [{"id": e[0], "category_id": e[1], "iscrowd": e[2] if len(e) > 2 else 0} for e in entries]


# name -> (gt map, gt segments, pred map, pred segments)
CASES = {
    # identical up to the choice of ids
    "exact": (
        grid("111222", "111222", "111222", "333333", "333333", "000000"),
        segs((1, 1), (2, 2), (3, 3)),
        grid("777888", "777888", "777888", "999999", "999999", "000000"),
        segs((7, 1), (8, 2), (9, 3)),
    ),
    # person: pred covers 2 of the 4 gt pixels, IoU = 2/4 = 0.5 exactly -> no match (FN + FP)
    # sky: inter 32, union 34
    "iou_half": (
        grid("113333", "113333", "333333", "333333", "333333", "333333"),
        segs((1, 1), (3, 3)),
        grid("113333", "333333", "333333", "333333", "333333", "333333"),
        segs((1, 1), (3, 3)),
    ),
    # person: pred covers 5 of the 9 gt pixels, IoU = 5/9 -> match; sky: 27/31
    "iou_above_half": (
        grid("111333", "111333", "111333", "333333", "333333", "333333"),
        segs((1, 1), (3, 3)),
        grid("111333", "113333", "333333", "333333", "333333", "333333"),
        segs((1, 1), (3, 3)),
    ),
    # person: pred = 6 px on the gt person + 6 px on void; IoU = 6 / (12 + 6 - 6 - 6) = 1
    # (without the void correction it would be 6/12 = 0.5, no match); car: FN; sky: 21/24
    "void": (
        grid("111000", "111000", "333333", "333333", "333333", "222333"),
        segs((1, 1), (2, 2), (3, 3)),
        grid("111111", "111111", "333333", "333333", "333333", "333333"),
        segs((1, 1), (3, 3)),
    ),
    # gt 4 = person crowd. pred 2 (person): 6 of its 9 px on the person crowd -> ignored;
    # pred 5 (car) on the person crowd -> FP (the crowd is another category's); sky: 15/18
    "crowd": (
        grid("444111", "444111", "444111", "333333", "333333", "333333"),
        segs((4, 1, 1), (1, 1), (3, 3)),
        grid("225111", "225111", "225111", "222333", "333333", "333333"),
        segs((2, 1), (5, 2), (1, 1), (3, 3)),
    ),
    # pred 1 (person): 4 of 6 px on void -> ignored; pred 2 (car): 4 of 8 px on void, exactly
    # half -> FP; sky: 18 / (22 + 24 - 18 - 4) = 0.75
    "mostly_void": (
        grid("000000", "000000", "333333", "333333", "333333", "333333"),
        segs((3, 3),),
        grid("112233", "112233", "112233", "332233", "333333", "333333"),
        segs((1, 1), (2, 2), (3, 3)),
    ),
    # two person crowds; as in the official code only the LAST listed one (5) is the person
    # crowd region: pred 1 on crowd 4 is a FP, pred 2 on crowd 5 is ignored
    "two_crowds": (
        grid("445566", "445566", "333333", "333333", "333333", "333333"),
        segs((4, 1, 1), (5, 1, 1), (6, 2), (3, 3)),
        grid("112266", "112266", "333333", "333333", "333333", "333333"),
        segs((1, 1), (2, 1), (6, 2), (3, 3)),
    ),
}

# Hand-computed per-class (tp, fp, fn, iou_sum) and PQ for All / Things / Stuff (pq, sq, rq, n).
HAND = {
    "exact": ({1: (1, 0, 0, 1.0), 2: (1, 0, 0, 1.0), 3: (1, 0, 0, 1.0)},
              {"All": (1, 1, 1, 3), "Things": (1, 1, 1, 2), "Stuff": (1, 1, 1, 1)}),
    "iou_half": ({1: (0, 1, 1, 0.0), 3: (1, 0, 0, 32 / 34)},
                 {"All": (16 / 34, 16 / 34, 0.5, 2), "Things": (0, 0, 0, 1), "Stuff": (32 / 34, 32 / 34, 1, 1)}),
    "iou_above_half": ({1: (1, 0, 0, 5 / 9), 3: (1, 0, 0, 27 / 31)},
                       {"All": ((5 / 9 + 27 / 31) / 2, (5 / 9 + 27 / 31) / 2, 1, 2),
                        "Things": (5 / 9, 5 / 9, 1, 1), "Stuff": (27 / 31, 27 / 31, 1, 1)}),
    "void": ({1: (1, 0, 0, 1.0), 2: (0, 0, 1, 0.0), 3: (1, 0, 0, 21 / 24)},
             {"All": (1.875 / 3, 1.875 / 3, 2 / 3, 3), "Things": (0.5, 0.5, 0.5, 2), "Stuff": (0.875, 0.875, 1, 1)}),
    "crowd": ({1: (1, 0, 0, 1.0), 2: (0, 1, 0, 0.0), 3: (1, 0, 0, 15 / 18)},
              {"All": ((1 + 15 / 18) / 3, (1 + 15 / 18) / 3, 2 / 3, 3), "Things": (0.5, 0.5, 0.5, 2),
               "Stuff": (15 / 18, 15 / 18, 1, 1)}),
    "mostly_void": ({1: (0, 0, 0, 0.0), 2: (0, 1, 0, 0.0), 3: (1, 0, 0, 0.75)},
                    {"All": (0.375, 0.375, 0.5, 2), "Things": (0, 0, 0, 1), "Stuff": (0.75, 0.75, 1, 1)}),
    "two_crowds": ({1: (0, 1, 0, 0.0), 2: (1, 0, 0, 1.0), 3: (1, 0, 0, 1.0)},
                   {"All": (2 / 3, 2 / 3, 2 / 3, 3), "Things": (0.5, 0.5, 0.5, 2), "Stuff": (1, 1, 1, 1)}),
}


def evaluate(*names: str) -> dict:
    metric = PanopticQuality(CATEGORIES)
    for name in names:
        gt, gt_segs, pred, pred_segs = CASES[name]
        metric.update(pred, pred_segs, gt, gt_segs, image_id=name)
    return metric.compute().as_dict()


def assert_groups(result: dict, expected: dict, tol: float = 1e-12) -> None:
    for group, (pq, sq, rq, n) in expected.items():
        got = result[group]
        assert got["n"] == n, (group, got)
        assert got["pq"] == pytest.approx(pq, abs=tol), (group, got)
        assert got["sq"] == pytest.approx(sq, abs=tol), (group, got)
        assert got["rq"] == pytest.approx(rq, abs=tol), (group, got)


@pytest.mark.parametrize("name", list(HAND))
def test_hand_computed_cases(name):
    per_class, groups = HAND[name]
    result = evaluate(name)
    assert_groups(result, groups)
    for cat, (tp, fp, fn, iou) in per_class.items():
        got = result["per_class"][cat]
        assert (got["tp"], got["fp"], got["fn"]) == (tp, fp, fn), (cat, got)
        assert got["iou"] == pytest.approx(iou, abs=1e-12)
    # grass never appears: zero counts, reported as 0 like the official per-class dict
    assert result["per_class"][4] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 0, "fn": 0, "iou": 0.0}


def test_streaming_sums_statistics_over_images():
    result = evaluate(*CASES)
    for cat in (1, 2, 3):
        totals = np.sum([HAND[name][0].get(cat, (0, 0, 0, 0.0)) for name in CASES], axis=0)
        got = result["per_class"][cat]
        assert (got["tp"], got["fp"], got["fn"]) == tuple(int(v) for v in totals[:3])
        assert got["iou"] == pytest.approx(totals[3], abs=1e-12)


# Official panopticapi numbers for all CASES written as one 7-image data set by write_tree
# (see the module docstring): group -> (pq, sq, rq, n) and category -> (pq, sq, rq).
OFFICIAL_CASES = {
    "All": (0.7045585748147417, 0.9282237984799654, 0.7662337662337663, 3),
    "Things": (0.6089466089466089, 0.9444444444444444, 0.6493506493506493, 2),
    "Stuff": (0.8957825065510076, 0.8957825065510076, 1.0, 1),
}
OFFICIAL_CASES_PER_CLASS = {
    1: (0.6464646464646464, 0.8888888888888888, 0.7272727272727273),
    2: (0.5714285714285714, 1.0, 0.5714285714285714),
    3: (0.8957825065510076, 0.8957825065510076, 1.0),
}


def assert_per_class(result: dict, expected: dict, tol: float = 1e-9) -> None:
    for cat, (pq, sq, rq) in expected.items():
        got = result["per_class"][cat]
        assert (got["pq"], got["sq"], got["rq"]) == pytest.approx((pq, sq, rq), abs=tol), (cat, got)


def test_file_based_cases_match_official_evaluator(tmp_path):
    gt_json, pred_json = write_tree(tmp_path, CASES, CATEGORIES)
    result = pq_compute(gt_json, pred_json, num_workers=0).as_dict()  # folders default to gt/, pred/
    assert_groups(result, OFFICIAL_CASES, tol=1e-9)
    assert_per_class(result, OFFICIAL_CASES_PER_CLASS)
    # the tensor API gives the same numbers (areas in the JSON agree with the maps)
    assert_groups(evaluate(*CASES), OFFICIAL_CASES, tol=1e-9)


def test_gt_json_area_is_used_like_the_official_evaluator(tmp_path):
    gt_json, pred_json = write_tree(tmp_path, {"iou_above_half": CASES["iou_above_half"]}, CATEGORIES)
    data = json.loads(gt_json.read_text())
    data["annotations"][0]["segments_info"][0]["area"] = 8  # the person has 9 px in the PNG
    gt_json.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="differs from their pixel count"):
        result = pq_compute(gt_json, pred_json).as_dict()
    # IoU = 5 / (5 + 8 - 5) (official: 0.625); the tensor API counts 9 px: 5/9
    assert result["per_class"][1]["iou"] == pytest.approx(0.625, abs=1e-12)
    assert evaluate("iou_above_half")["per_class"][1]["iou"] == pytest.approx(5 / 9, abs=1e-12)


def test_input_forms_agree():
    gt, gt_segs, pred, pred_segs = CASES["crowd"]
    expected = evaluate("crowd")
    big = 70001  # ids past 16 bits use all three PNG channels

    def scaled(ss):
        return [{**s, "id": s["id"] * big} for s in ss]

    forms = {
        "torch": (torch.from_numpy(pred), pred_segs, torch.from_numpy(gt), gt_segs),
        "int32 numpy": (pred.astype(np.int32), pred_segs, gt.astype(np.int32), gt_segs),
        "rgb": (id2rgb(pred * big), scaled(pred_segs), torch.from_numpy(id2rgb(gt * big)), scaled(gt_segs)),
    }
    for name, args in forms.items():
        metric = PanopticQuality({1: True, 2: 1, 3: False, 4: 0})  # mapping id -> isthing
        metric.update(*args)
        assert metric.compute().as_dict() == expected, name


def test_group_without_categories_is_nan():
    metric = PanopticQuality(CATEGORIES)
    gt = grid("333", "333", "333")
    metric.update(gt, segs((3, 3)), gt, segs((3, 3)))
    result = metric.compute()
    assert result.stuff == {"pq": 1.0, "sq": 1.0, "rq": 1.0, "n": 1}
    assert result.things["n"] == 0 and math.isnan(result.things["pq"])  # the official code divides by zero
    assert result.pq == 1.0
    assert "Stuff     | 100.0  100.0  100.0     1" in result.summary()


def test_compute_sums_over_processes(monkeypatch):
    import torch.distributed as dist

    metric = PanopticQuality(CATEGORIES)
    gt, gt_segs, pred, pred_segs = CASES["iou_half"]
    metric.update(pred, pred_segs, gt, gt_segs)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")
    monkeypatch.setattr(dist, "all_reduce", lambda t, op=None: t.mul_(2))  # two identical processes
    assert metric.compute().per_class[1]["fp"] == 2
    assert metric.compute(sync=False).per_class[1]["fp"] == 1  # local state untouched


# ----------------------------------------------------------------------------- real COCO samples


def test_identity_on_coco_samples_is_pq_100():
    sample = sample_dir()
    gt_json = sample / "panoptic_val_sample.json"
    result = pq_compute(gt_json, gt_json, sample / "panoptic", sample / "panoptic")
    assert result.all == {"pq": 1.0, "sq": 1.0, "rq": 1.0, "n": 8}  # official: 1.0 with n = 8 (4 things, 4 stuff)
    assert (result.things["n"], result.stuff["n"]) == (4, 4)
    assert "All       | 100.0  100.0  100.0     8" in result.summary()
    # tensor API, RGB arrays straight from the PNGs
    data = json.loads(gt_json.read_text())
    metric = PanopticQuality(data["categories"])
    for ann in data["annotations"]:
        rgb = np.array(Image.open(sample / "panoptic" / ann["file_name"]))
        metric.update(rgb, ann["segments_info"], torch.from_numpy(rgb), ann["segments_info"], image_id=ann["image_id"])
    assert metric.compute().all == result.all


# Official panopticapi numbers for write_perturbed_prediction on the two COCO samples.
OFFICIAL_PERTURBED = {
    "All": (0.8431537751062969, 0.887599045560958, 0.8443821973233738, 9),
    "Things": (0.7843434618580009, 0.7976782820097245, 0.7865546218487396, 5),
    "Stuff": (0.9166666666666666, 1.0, 0.9166666666666666, 4),
}
OFFICIAL_PERTURBED_PER_CLASS = {
    1: (0.9803921568627451, 1.0, 0.9803921568627451),
    2: (0.0, 0.0, 0.0),
    19: (0.9413251524272593, 0.9883914100486223, 0.9523809523809523),
    193: (0.6666666666666666, 1.0, 0.6666666666666666),
}


def test_perturbed_coco_samples_match_official_evaluator(tmp_path):
    sample = sample_dir()
    pred_json = write_perturbed_prediction(sample, tmp_path)
    result = pq_compute(sample / "panoptic_val_sample.json", pred_json, sample / "panoptic", tmp_path / "pred").as_dict()
    assert_groups(result, OFFICIAL_PERTURBED, tol=1e-9)
    assert_per_class(result, OFFICIAL_PERTURBED_PER_CLASS)
    assert (result["per_class"][1]["tp"], result["per_class"][1]["fn"]) == (25, 1)  # 26 persons, one relabelled
    assert result["per_class"][2]["fp"] == 1


# ----------------------------------------------------------------------------- errors


def error_tree(tmp_path: Path, edit) -> tuple[Path, Path]:
    """The "crowd" case as image 1 (crowd.png) after ``edit(gt_json_dict, pred_json_dict, root)``."""
    gt_json, pred_json = write_tree(tmp_path, {"crowd": CASES["crowd"]}, CATEGORIES)
    gt, pred = json.loads(gt_json.read_text()), json.loads(pred_json.read_text())
    edit(gt, pred, tmp_path)
    gt_json.write_text(json.dumps(gt))
    pred_json.write_text(json.dumps(pred))
    return gt_json, pred_json


def _drop_pred_segment(gt, pred, root):
    pred["annotations"][0]["segments_info"].pop(0)


def _extra_pred_segment(gt, pred, root):
    pred["annotations"][0]["segments_info"].append({"id": 9, "category_id": 1})


def _duplicate_pred_segment(gt, pred, root):
    pred["annotations"][0]["segments_info"].append({"id": 2, "category_id": 2})


def _unknown_category(gt, pred, root):
    pred["annotations"][0]["segments_info"][0]["category_id"] = 99


def _missing_prediction(gt, pred, root):
    pred["annotations"] = []


def _size_mismatch(gt, pred, root):
    Image.fromarray(id2rgb(np.ones((6, 7), np.int64) * 2)).save(root / "pred" / "crowd.png")


def _gt_png_id_not_in_json(gt, pred, root):
    gt["annotations"][0]["segments_info"].pop(0)


@pytest.mark.parametrize(
    "edit, message",
    [
        (_drop_pred_segment, r"segment ids \[2\] appear in the prediction id map of image 1 \(crowd\.png\)"),
        (_extra_pred_segment, r"segments \[9\] are listed in the prediction segments_info of image 1 \(crowd\.png\)"),
        (_duplicate_pred_segment, r"duplicate segment ids \[2\] in the prediction segments_info of image 1 \(crowd\.png\)"),
        (_unknown_category, r"prediction segments of image 1 \(crowd\.png\) have unknown category ids.*99"),
        (_missing_prediction, r"no prediction for image 1 \(crowd\.png\)"),
        (_size_mismatch, r"prediction PNG of image 1 \(crowd\.png\) is 7x6 but the ground truth is 6x6"),
        (_gt_png_id_not_in_json, r"segment ids \[4\] appear in the ground truth id map of image 1 \(crowd\.png\)"),
    ],
)
def test_pq_compute_errors_name_the_image(tmp_path, edit, message):
    gt_json, pred_json = error_tree(tmp_path, edit)
    with pytest.raises(PanopticFormatError, match=message):
        pq_compute(gt_json, pred_json)


def test_update_errors_name_the_image():
    gt, gt_segs, pred, pred_segs = CASES["crowd"]
    metric = PanopticQuality(CATEGORIES)
    with pytest.raises(PanopticFormatError, match=r"segment ids \[5\] appear in the prediction id map of image 'x'"):
        metric.update(pred, [s for s in pred_segs if s["id"] != 5], gt, gt_segs, image_id="x")
    with pytest.raises(PanopticFormatError, match=r"differ in size: pred \(6, 5\) vs gt \(6, 6\)"):
        metric.update(pred[:, :5], pred_segs, gt, gt_segs, image_id="x")
    with pytest.raises(PanopticFormatError, match="unknown category ids"):
        metric.update(pred, pred_segs, gt, segs((4, 1, 1), (1, 7), (3, 3)), image_id="x")
    with pytest.raises(PanopticFormatError, match="id 0 is void"):
        metric.update(pred, pred_segs + [{"id": 0, "category_id": 3}], gt, gt_segs)
    assert metric.num_images == 0  # nothing was counted


# ----------------------------------------------------------------------------- file trees


def id2rgb(ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)


def write_tree(root: Path, cases: dict, categories: list, *, with_area: bool = True) -> tuple[Path, Path]:
    """Write ``cases`` (name -> gt map, gt segs, pred map, pred segs) as COCO panoptic gt.json + gt/, pred.json + pred/."""
    root = Path(root)
    out = {}
    for which in ("gt", "pred"):
        (root / which).mkdir(parents=True, exist_ok=True)
        out[which] = {"images": [], "annotations": [], "categories": categories}
    for image_id, (name, (gt, gt_segs, pred, pred_segs)) in enumerate(cases.items(), start=1):
        for which, ids, seg_list in (("gt", gt, gt_segs), ("pred", pred, pred_segs)):
            file_name = f"{name}.png"
            Image.fromarray(id2rgb(ids)).save(root / which / file_name)
            infos = []
            for s in seg_list:
                info = dict(s)
                if with_area and which == "gt":
                    info["area"] = int((np.asarray(ids) == s["id"]).sum())
                infos.append(info)
            out[which]["images"].append({"id": image_id, "file_name": file_name.replace(".png", ".jpg"),
                                         "height": int(ids.shape[0]), "width": int(ids.shape[1])})
            out[which]["annotations"].append({"image_id": image_id, "file_name": file_name, "segments_info": infos})
    for which in ("gt", "pred"):
        (root / f"{which}.json").write_text(json.dumps(out[which]))
    return root / "gt.json", root / "pred.json"


# ----------------------------------------------------------------------------- real COCO samples


def sample_dir() -> Path:
    if not SAMPLE.is_dir():
        pytest.skip(f"shared COCO panoptic sample not found at {SAMPLE} (only in the development workspace)")
    return SAMPLE


def write_perturbed_prediction(sample: Path, out: Path) -> Path:
    """Prediction = ground truth with one segment relabelled, one removed and two merged."""
    gt = json.loads((sample / "panoptic_val_sample.json").read_text())
    (out / "pred").mkdir(parents=True, exist_ok=True)
    annotations = []
    for ann in gt["annotations"]:
        ids = read_panoptic_png(sample / "panoptic" / ann["file_name"])
        infos = [{"id": s["id"], "category_id": s["category_id"]} for s in ann["segments_info"]]
        if ann["image_id"] == 142238:
            next(s for s in infos if s["id"] == 3937500)["category_id"] = 2  # a person called bicycle
            ids[ids == 10025880] = 0  # stuff segment (category 193) removed: void in the prediction
            infos = [s for s in infos if s["id"] != 10025880]
        if ann["image_id"] == 439180:
            ids[ids == 16762012] = 16758454  # two category-19 segments merged
            infos = [s for s in infos if s["id"] != 16762012]
        Image.fromarray(id2rgb(ids)).save(out / "pred" / ann["file_name"])
        annotations.append({"image_id": ann["image_id"], "file_name": ann["file_name"], "segments_info": infos})
    pred_json = out / "pred.json"
    pred_json.write_text(json.dumps({"annotations": annotations, "categories": gt["categories"]}))
    return pred_json


def test_pixel_runs_torch_path_matches_numpy_path():
    from segzoo.metrics.pq_core import _pixel_runs_numpy, _pixel_runs_torch  # the torch path serves GPUs

    rng = np.random.default_rng(0)
    gt = torch.from_numpy(rng.integers(0, 3, size=500).repeat(rng.integers(1, 4, size=500)))
    pred = torch.roll(gt, 7) * 5
    runs_np, runs_torch = _pixel_runs_numpy(gt, pred), _pixel_runs_torch(gt, pred)
    for a, b in zip(runs_np, runs_torch):
        assert torch.equal(a, b)
    assert int(runs_np[2].sum()) == gt.numel() and runs_np[2].min() > 0
    # every run is constant in both maps and the runs tile the map
    assert torch.equal(torch.repeat_interleave(runs_np[0], runs_np[2]), gt)
    assert torch.equal(torch.repeat_interleave(runs_np[1], runs_np[2]), pred)
