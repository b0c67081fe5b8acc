"""SemanticMetrics on the smallest inputs: one pixel, out-of-range and ignored labels."""

from __future__ import annotations

import pytest
import torch

from segzoo.metrics import SemanticMetrics


def test_one_pixel_with_an_out_of_range_label_is_refused():
    metric = SemanticMetrics(num_classes=3)
    with pytest.raises(ValueError, match=r"target has labels \[7\]"):
        metric.update(torch.tensor([[1]]), torch.tensor([[7]]))
    with pytest.raises(ValueError, match=r"pred has labels \[-1\]"):
        metric.update(torch.tensor([[-1]]), torch.tensor([[1]]))


def test_one_ignored_pixel_counts_nothing():
    metric = SemanticMetrics(num_classes=3, ignore_index=255)
    metric.update(torch.tensor([[2]]), torch.tensor([[255]]))
    assert not metric.confusion_matrix.any()
    metric.update(torch.tensor([[2]]), torch.tensor([[1]]))
    assert metric.confusion_matrix.tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 0]]


def test_one_pixel_predicted_as_no_prediction_is_a_miss():
    metric = SemanticMetrics(num_classes=2, ignore_index=255)
    metric.update(torch.tensor([[255]]), torch.tensor([[1]]))
    metric.update(torch.tensor([[1]]), torch.tensor([[1]]))
    result = metric.compute()
    assert float(result.acc[1]) == pytest.approx(0.5) and float(result.iou[1]) == pytest.approx(0.5)
    assert result.aacc == pytest.approx(0.5)
