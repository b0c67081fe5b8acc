"""CocoInstanceMetric area ranges for box-only ground truth: area = w * h of the box (COCO's
small < 32^2 <= medium; a 100 x 10 box is small, 100 x 11 medium < 96^2 <= large), so APs / APm / APl see the right objects."""

from __future__ import annotations

import math

import pytest
import torch

from segzoo.metrics import CocoInstanceMetric


@pytest.mark.parametrize(
    "box, present",
    [([0, 0, 20, 40], "APs"), ([0, 0, 40, 40], "APm"), ([10, 0, 110, 100], "APl"), ([0, 0, 100, 11], "APm"), ([0, 0, 100, 10], "APs")],
)
def test_box_only_ground_truth_falls_in_its_area_range(box, present):
    metric = CocoInstanceMetric()
    metric.add_ground_truth(1, boxes=[box], labels=[1], image_size=(128, 128))
    metric.update(1, boxes=torch.tensor([box], dtype=torch.float32), scores=torch.tensor([0.9]), labels=torch.tensor([1]))
    r = metric.compute()["bbox"]
    assert r["AP"] == pytest.approx(1.0) and r[present] == pytest.approx(1.0)
    for other in {"APs", "APm", "APl"} - {present}:
        assert math.isnan(r[other]), other
