"""SemanticMetrics: hand-computed confusion matrices, ignore / absent classes, input forms, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segzoo.metrics import SemanticMetrics

# 8 pixels, 2 ignored. Valid (target, pred) pairs: (0,0) x2, (0,1), (1,1), (1,2), (2,2).
TARGET = np.array([[0, 0, 0, 1], [1, 2, 255, 255]])
PRED = np.array([[0, 0, 1, 1], [2, 2, 0, 1]])


def nan_equal(got, expected) -> None:
    got = np.asarray(got, dtype=np.float64)
    np.testing.assert_allclose(got, np.asarray(expected, dtype=np.float64), rtol=0, atol=1e-12)


def test_hand_computed_metrics():
    metric = SemanticMetrics(3)
    metric.update(PRED, TARGET)
    assert metric.confusion_matrix.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    r = metric.compute()
    # tp [2, 1, 1], target counts [3, 2, 1], predicted counts [2, 2, 2], unions [3, 3, 2]
    nan_equal(r.iou, [2 / 3, 1 / 3, 1 / 2])
    nan_equal(r.acc, [2 / 3, 1 / 2, 1])
    nan_equal(r.dice, [4 / 5, 2 / 4, 2 / 3])
    assert r.miou == pytest.approx(0.5, abs=1e-12)
    assert r.macc == pytest.approx(13 / 18, abs=1e-12)
    assert r.aacc == pytest.approx(4 / 6, abs=1e-12)
    assert r.mdice == pytest.approx(59 / 90, abs=1e-12)
    assert r.fwiou == pytest.approx(3 / 6 * 2 / 3 + 2 / 6 * 1 / 3 + 1 / 6 * 1 / 2, abs=1e-12)
    assert r.score == pytest.approx((4 / 6 + 0.5) / 2, abs=1e-12)
    d = r.as_dict()
    assert d["mIoU"] == r.miou and d["aAcc"] == r.aacc and len(d["IoU"]) == 3


def test_ignored_pixels_do_not_count_whatever_the_prediction():
    a, b = SemanticMetrics(3), SemanticMetrics(3)
    a.update(PRED, TARGET)
    other = PRED.copy()
    other[TARGET == 255] = [2, 255]  # anything in range (or the ignore label) at ignored pixels
    b.update(other, TARGET)
    assert torch.equal(a.confusion_matrix, b.confusion_matrix)


def test_absent_classes_are_nan_and_left_out_of_means():
    metric = SemanticMetrics(4)  # class 3 never appears; class 2 only predicted
    metric.update(np.array([0, 2, 1, 1]), np.array([0, 0, 1, 1]))
    r = metric.compute()
    nan_equal(r.iou, [0.5, 1.0, 0.0, math.nan])
    nan_equal(r.acc, [0.5, 1.0, math.nan, math.nan])  # accuracy is NaN for classes absent from the target
    nan_equal(r.dice, [2 / 3, 1.0, 0.0, math.nan])
    assert r.miou == pytest.approx(0.5)
    assert r.macc == pytest.approx(0.75)
    assert r.mdice == pytest.approx(5 / 9)
    assert r.aacc == pytest.approx(0.75)
    assert r.fwiou == pytest.approx(0.75)


def test_prediction_equal_to_ignore_index_is_a_miss():
    metric = SemanticMetrics(2)
    metric.update(np.array([0, 255, 1]), np.array([0, 0, 1]))
    r = metric.compute()
    nan_equal(r.iou, [0.5, 1.0])  # class 0: tp 1, union 2 (the miss counts), class 1 untouched
    nan_equal(r.acc, [0.5, 1.0])
    assert r.aacc == pytest.approx(2 / 3)


def test_empty_metric_is_nan():
    r = SemanticMetrics(2).compute()
    assert math.isnan(r.miou) and math.isnan(r.aacc) and math.isnan(r.score)


def test_input_forms_agree():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 5, size=(3, 7, 9))
    target[:, 0] = 255
    logits = rng.standard_normal((3, 5, 7, 9)).astype(np.float32)
    labels = logits.argmax(1)

    def matrix(*batches):
        metric = SemanticMetrics(5)
        for pred, tgt in batches:
            metric.update(pred, tgt)
        return metric.confusion_matrix

    reference = matrix((labels, target))
    assert reference.sum() == 3 * 6 * 9  # one ignored row per image
    assert torch.equal(matrix((torch.from_numpy(labels), torch.from_numpy(target))), reference)
    assert torch.equal(matrix((labels, target.astype(np.uint8))), reference)  # uint8 targets
    assert torch.equal(matrix((logits, target)), reference)  # logits are arg-maxed
    assert torch.equal(matrix((torch.from_numpy(logits), torch.from_numpy(target))), reference)
    assert torch.equal(matrix(*[(labels[i], target[i]) for i in range(3)]), reference)  # streaming, (H, W)
    assert torch.equal(matrix((logits[1], target[1]), (logits[0], target[0]), (logits[2], target[2])), reference)


def test_reset_forgets():
    metric = SemanticMetrics(3)
    metric.update(PRED, TARGET)
    metric.reset()
    metric.update(np.array([1]), np.array([1]))
    assert metric.confusion_matrix.sum() == 1


@pytest.mark.parametrize(
    "pred, target, error, message",
    [
        (np.zeros((2, 3), int), np.zeros((2, 4), int), ValueError, r"pred has shape \(2, 3\) but target has shape \(2, 4\)"),
        (np.array([0, 3, 7]), np.array([0, 1, 1]), ValueError, r"pred has labels \[3, 7\] outside \[0, 3\)"),
        (np.array([0, -1, 1]), np.array([0, 1, 1]), ValueError, r"pred has labels \[-1\]"),
        (np.array([0, 1, 1]), np.array([0, 5, 255]), ValueError, r"target has labels \[5\] outside \[0, 3\)"),
        (np.zeros((1, 4, 2, 2), np.float32), np.zeros((1, 2, 2), int), ValueError, "logits have 4 channels"),
        (np.zeros((2, 2), np.float32), np.zeros((2, 2), int), ValueError, "read as logits"),
        (np.zeros((2, 2), int), np.zeros((2, 2), np.float32), TypeError, "target must hold integer labels"),
    ],
)
def test_errors(pred, target, error, message):
    metric = SemanticMetrics(3)
    with pytest.raises(error, match=message):
        metric.update(pred, target)
    assert metric.confusion_matrix.sum() == 0


def test_ignore_index_must_not_be_a_class():
    with pytest.raises(ValueError, match="ignore_index=2 is a valid class id"):
        SemanticMetrics(3, ignore_index=2)
    metric = SemanticMetrics(3, ignore_index=-1)
    metric.update(np.array([0, 1]), np.array([0, -1]))
    assert metric.confusion_matrix.sum() == 1


def test_compute_sums_over_processes(monkeypatch):
    import torch.distributed as dist

    metric = SemanticMetrics(3)
    metric.update(PRED, TARGET)
    local = metric.compute(sync=False)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")
    calls = []
    monkeypatch.setattr(dist, "all_reduce", lambda t, op=None: calls.append(t.clone()) or t.mul_(2))
    doubled = metric.compute()
    assert len(calls) == 1 and calls[0].sum() == 6  # the (K, K + 1) local counts
    nan_equal(doubled.iou, local.iou)  # ratios unchanged by doubling every count
    assert metric.confusion_matrix.sum() == 6  # local state untouched, compute stays idempotent


def test_compute_in_a_real_process_group(tmp_path):
    import torch.distributed as dist

    if not dist.is_available() or dist.is_initialized():
        pytest.skip("torch.distributed unavailable or already initialised")
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        metric = SemanticMetrics(3)
        metric.update(PRED, TARGET)
        assert metric.compute().miou == pytest.approx(0.5)
    finally:
        dist.destroy_process_group()
