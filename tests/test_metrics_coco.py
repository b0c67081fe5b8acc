"""CocoInstanceMetric: box and mask AP through pycocotools on a tiny fabricated data set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segzoo.metrics import CocoInstanceMetric

H, W = 32, 40
# image id -> (boxes xyxy, labels); all objects are "small" (area < 32^2)
GT = {
    1: ([[2, 2, 10, 12], [15, 5, 30, 20]], [1, 2]),
    2: ([[0, 0, 8, 8]], [1]),
}


def box_masks(boxes) -> np.ndarray:
    masks = np.zeros((len(boxes), H, W), dtype=bool)
    for m, (x1, y1, x2, y2) in zip(masks, boxes):
        m[y1:y2, x1:x2] = True
    return masks


def with_ground_truth(**kwargs) -> CocoInstanceMetric:
    metric = CocoInstanceMetric(**kwargs)
    for image_id, (boxes, labels) in GT.items():
        metric.add_ground_truth(image_id, boxes=boxes, labels=labels, masks=box_masks(boxes))
    return metric


def test_perfect_prediction_scores_one(capsys):
    metric = with_ground_truth()
    for image_id, (boxes, labels) in GT.items():
        masks = torch.from_numpy(box_masks(boxes)).float()  # float masks are thresholded at 0.5
        metric.update(image_id, boxes=torch.tensor(boxes, dtype=torch.float32), scores=torch.full((len(boxes),), 0.9),
                      labels=torch.tensor(labels), masks=masks)
    result = metric.compute()
    assert set(result) == {"bbox", "segm"}
    for iou_type in ("bbox", "segm"):
        r = result[iou_type]
        assert (r["AP"], r["AP50"], r["AP75"], r["APs"]) == pytest.approx((1.0, 1.0, 1.0, 1.0), abs=1e-9), iou_type
        assert math.isnan(r["APm"]) and math.isnan(r["APl"])  # no medium / large ground truth
    assert capsys.readouterr().out == ""  # COCOeval's prints are kept out of stdout


def test_wrong_label_scores_zero():
    metric = CocoInstanceMetric(categories=[1, 2])
    boxes = [[2, 2, 10, 12]]
    metric.add_ground_truth(7, boxes=boxes, labels=[1], masks=box_masks(boxes))
    metric.update(7, boxes=boxes, scores=[0.99], labels=[2], masks=box_masks(boxes))
    result = metric.compute()
    assert result["bbox"]["AP"] == 0.0 and result["segm"]["AP"] == 0.0


def test_shifted_box_is_a_miss_at_high_iou_only():
    metric = CocoInstanceMetric()
    metric.add_ground_truth(1, boxes=[[0, 0, 10, 10]], labels=[1], image_size=(H, W))
    metric.update(1, boxes=[[0, 2, 10, 12]], scores=[0.5], labels=[1])  # IoU = 80 / 120 = 0.667
    r = metric.compute()
    assert set(r) == {"bbox"}  # no masks: box AP only
    assert r["bbox"]["AP50"] == pytest.approx(1.0, abs=1e-9) and r["bbox"]["AP75"] == 0.0
    assert r["bbox"]["AP"] == pytest.approx(0.4, abs=1e-9)  # matched at 0.50 .. 0.65: 4 of 10 thresholds


def test_coco_dict_ground_truth_and_empty_predictions():
    from pycocotools import mask as mask_utils

    boxes, labels = GT[1]
    rles = mask_utils.encode(np.asfortranarray(box_masks(boxes).transpose(1, 2, 0).astype(np.uint8)))
    coco = {
        "images": [{"id": 1, "height": H, "width": W}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {"id": i + 1, "image_id": 1, "category_id": c, "iscrowd": 0, "segmentation": rle,
             "area": float(mask_utils.area(rle)), "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]}
            for i, (b, c, rle) in enumerate(zip(boxes, labels, rles))
        ],
    }
    metric = CocoInstanceMetric(coco)
    assert metric.compute(), "no predictions yet"
    assert metric.compute()["bbox"]["AP"] == 0.0
    metric.update(1, boxes=boxes, scores=[0.8, 0.7], labels=labels, masks=box_masks(boxes))
    assert metric.compute()["segm"]["AP"] == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(RuntimeError, match="can't be mixed"):
        metric.add_ground_truth(2, boxes=[], labels=[])


def test_errors():
    metric = with_ground_truth(iou_types=("segm",))
    with pytest.raises(ValueError, match="scores has 1 entries for 2 labels"):
        metric.update(1, boxes=GT[1][0], scores=[0.5], labels=GT[1][1])
    with pytest.raises(ValueError, match=r"expected \(2, H, W\) masks"):
        metric.update(1, boxes=GT[1][0], scores=[0.5, 0.5], labels=GT[1][1], masks=np.zeros((1, H, W)))
    metric.update(1, boxes=GT[1][0], scores=[0.5, 0.5], labels=GT[1][1])
    with pytest.raises(ValueError, match="includes 'segm' but some predictions came without masks"):
        metric.compute()
    metric.reset()
    metric.add_ground_truth(1, boxes=[[0, 0, 4, 4]], labels=[1], masks=box_masks([[0, 0, 4, 4]]))
    metric.update(3, boxes=[[0, 0, 4, 4]], scores=[0.5], labels=[1], masks=box_masks([[0, 0, 4, 4]]))
    with pytest.raises(ValueError, match=r"predictions for images \[3\] that have no ground truth"):
        metric.compute()
