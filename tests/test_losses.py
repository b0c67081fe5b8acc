"""Losses: known answers, all-ignored and one-pixel batches, OHEM selection, boundary weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import segzoo
from segzoo.losses import (
    BoundaryCrossEntropyLoss,
    CrossEntropyLoss,
    DeepSupervisionLoss,
    DiceLoss,
    LovaszSoftmaxLoss,
    OhemCrossEntropyLoss,
    boundary_mask,
    create_loss,
    for_model,
)

ALL_LOSSES = [
    CrossEntropyLoss(),
    OhemCrossEntropyLoss(min_kept=2),
    BoundaryCrossEntropyLoss(boundary_width=1),
    DiceLoss(),
    LovaszSoftmaxLoss(),
]


def _logits_from_probs(probs: list[list[float]]) -> torch.Tensor:
    """(P, K) probabilities -> logits (1, K, 1, P)."""
    return torch.tensor(probs).log().T.reshape(1, len(probs[0]), 1, len(probs))


def test_cross_entropy_known_answer():
    logits = _logits_from_probs([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])
    target = torch.tensor([[[0, 0, 255]]])
    expected = (-math.log(0.8) - math.log(0.3)) / 2
    assert CrossEntropyLoss()(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_class_weights_match_torch():
    logits, target = torch.randn(2, 4, 5, 6), torch.randint(0, 4, (2, 5, 6))
    target[0, 0] = 255
    weights = [1.0, 2.0, 0.5, 3.0]
    ours = CrossEntropyLoss(class_weights=weights)(logits, target)
    torch.testing.assert_close(ours, F.cross_entropy(logits, target, weight=torch.tensor(weights), ignore_index=255))


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda m: type(m).__name__)
def test_all_ignored_batch_gives_zero_with_zero_gradient(loss):
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    value = loss(logits, torch.full((2, 4, 4), 255))
    assert value.item() == 0.0
    value.backward()
    assert logits.grad is not None and torch.equal(logits.grad, torch.zeros_like(logits))


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda m: type(m).__name__)
def test_one_pixel_batch(loss):
    logits = torch.tensor([2.0, 0.0, -1.0]).view(1, 3, 1, 1).requires_grad_()
    value = loss(logits, torch.tensor([[[1]]]))
    assert torch.isfinite(value) and value.item() > 0
    value.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda m: type(m).__name__)
def test_bad_targets(loss):
    with pytest.raises(ValueError, match="target must be"):
        loss(torch.randn(1, 3, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long))


def test_out_of_range_labels_raise():
    with pytest.raises(ValueError, match=r"labels \[7\] outside \[0, 2\]"):
        CrossEntropyLoss()(torch.randn(1, 3, 2, 2), torch.tensor([[[0, 7], [1, 255]]]))


def test_ohem_keeps_below_threshold_pixels():
    # True-class probabilities 0.9, 0.6, 0.3, 0.95, 0.5 -> the three below 0.7 are kept.
    probs = [[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.05, 0.95], [0.5, 0.5]]
    target = torch.tensor([[[0, 1, 1, 1, 0]]])
    loss = OhemCrossEntropyLoss(thresh=0.7, min_kept=1)
    logits = _logits_from_probs(probs)
    keep = loss.keep_mask(logits, target, target != 255)
    assert keep.flatten().tolist() == [False, True, True, False, True]
    expected = -(math.log(0.6) + math.log(0.3) + math.log(0.5)) / 3
    assert loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_ohem_min_kept_takes_the_hardest_pixels():
    probs = [[0.9, 0.1], [0.8, 0.2], [0.99, 0.01], [0.75, 0.25], [0.95, 0.05]]
    target = torch.tensor([[[0, 0, 0, 0, 255]]])  # all valid pixels are easy (>= 0.7)
    loss = OhemCrossEntropyLoss(thresh=0.7, min_kept=2)
    keep = loss.keep_mask(_logits_from_probs(probs), target, target != 255)
    assert keep.flatten().tolist() == [False, True, False, True, False]  # the two lowest: 0.8 and 0.75
    loss_all = OhemCrossEntropyLoss(thresh=0.7, min_kept=100)  # more than valid: every valid pixel
    assert loss_all.keep_mask(_logits_from_probs(probs), target, target != 255).flatten().tolist() == [
        True, True, True, True, False,
    ]  # fmt: skip


def test_boundary_mask_known_answer():
    target = torch.tensor([[[0, 0, 0, 1, 1, 1]]])
    assert boundary_mask(target, 1).int().tolist() == [[[0, 0, 1, 1, 0, 0]]]
    assert boundary_mask(target, 2).int().tolist() == [[[0, 1, 1, 1, 1, 0]]]
    square = torch.zeros(1, 7, 7, dtype=torch.long)
    square[0, 2:5, 2:5] = 2
    mask = boundary_mask(square, 1)[0]
    assert mask[3, 3].item() is False and mask[0, 0].item() is False
    assert mask[2, 2].item() and mask[1, 3].item() and mask[3, 5].item()


def test_boundary_loss_weights_boundary_pixels():
    logits = _logits_from_probs([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    target = torch.tensor([[[0, 0, 1, 1]]])  # pixels 1 and 2 are on the boundary (width 1)
    per_pixel = [-math.log(p) for p in (0.8, 0.6, 0.7, 0.9)]
    expected = (per_pixel[0] + 3 * per_pixel[1] + 3 * per_pixel[2] + per_pixel[3]) / 8
    loss = BoundaryCrossEntropyLoss(boundary_width=1, boundary_weight=3.0)
    assert loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_dice_known_answer():
    logits = _logits_from_probs([[0.8, 0.2], [0.4, 0.6]])
    target = torch.tensor([[[0, 0]]])  # only class 0 present
    dice0 = 2 * (0.8 + 0.4) / ((0.8 + 0.4) + 2)
    assert DiceLoss()(logits, target).item() == pytest.approx(1 - dice0, rel=1e-6)
    confident = torch.tensor([[20.0, -20.0], [-20.0, 20.0]]).T.reshape(1, 2, 1, 2)
    assert DiceLoss()(confident, torch.tensor([[[0, 1]]])).item() == pytest.approx(0.0, abs=1e-6)


def test_lovasz_known_answer():
    # Worked by hand: class 0 -> 0.25, class 1 -> 0.3 (see the Lovasz gradient definition).
    logits = _logits_from_probs([[0.8, 0.2], [0.3, 0.7]])
    assert LovaszSoftmaxLoss()(logits, torch.tensor([[[0, 1]]])).item() == pytest.approx(0.275, rel=1e-5)


def test_deep_supervision_weights_and_missing_outputs():
    logits, aux, target = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4), torch.randint(0, 3, (1, 4, 4))
    loss = DeepSupervisionLoss(CrossEntropyLoss(), weights={"logits": 1.0, "aux": 0.4})
    out = loss({"logits": logits, "aux": aux}, target)
    torch.testing.assert_close(out["loss_aux"], 0.4 * F.cross_entropy(aux, target))
    torch.testing.assert_close(out["loss_seg"], F.cross_entropy(logits, target))
    with pytest.raises(KeyError, match="did not return"):
        loss({"logits": logits}, target)
    with pytest.raises(ValueError, match="'logits'"):
        DeepSupervisionLoss(CrossEntropyLoss(), weights={"aux": 1.0})


def test_registry_and_model_recipes():
    assert isinstance(create_loss("ohem", thresh=0.5), OhemCrossEntropyLoss)
    with pytest.raises(TypeError, match="min_kept"):
        create_loss("ohem", min_keep=3)
    default = segzoo.build("ainnoseg_hrnet_w48", backbone="tiny", num_classes=4)
    assert type(for_model(default).loss) is CrossEntropyLoss  # seed 001's eq. (1): plain cross entropies
    model = segzoo.build("ainnoseg_hrnet_w48", backbone="tiny", num_classes=4, loss="boundary")  # opt-in
    criterion = for_model(model)
    assert criterion.weights == {"logits": 1.0, "da": 0.1, "coarse": 0.3}
    assert isinstance(criterion.loss, BoundaryCrossEntropyLoss)
    danet = segzoo.build("danet_r50", backbone="tiny", num_classes=4, loss="ohem")
    assert isinstance(for_model(danet).loss, OhemCrossEntropyLoss)
    assert for_model(danet).weights == {"logits": 1.0, "position": 1.0, "channel": 1.0, "aux": 0.4}
    x, target = torch.randn(1, 3, 64, 64), torch.randint(0, 4, (1, 64, 64))
    out = model(x)
    losses = model.losses(out, target)
    assert set(losses) == {"loss_seg", "loss_da", "loss_coarse"}
    expected_da = 0.1 * BoundaryCrossEntropyLoss()(out.aux["da"], target)
    torch.testing.assert_close(losses["loss_da"], expected_da)
