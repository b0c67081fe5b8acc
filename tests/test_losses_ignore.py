"""Pixel losses with ignored pixels, exact thresholds and known answers.

An ignored pixel must change nothing: each loss on a target with an ignore band equals the
loss on the valid pixels alone. OHEM keeps ``p < thresh`` (strict); the boundary mask marks
pixels within ``width`` of a label change; Kendall et al.'s weighting (arXiv:1705.07115) is
``0.5 exp(-s) L + 0.5 s``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from segzoo.losses import (
    BoundaryCrossEntropyLoss,
    CrossEntropyLoss,
    DeepSupervisionLoss,
    DiceLoss,
    LovaszSoftmaxLoss,
    OhemCrossEntropyLoss,
    UncertaintyWeighting,
)
from segzoo.losses.cross_entropy import boundary_mask
from segzoo.losses.lovasz import lovasz_grad

IGNORE = 255


def inputs(k=3, h=4, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(1, k, h, w, generator=g)
    target = torch.randint(0, k, (1, h, w), generator=g)
    return logits, target


def with_ignored_column(logits, target):
    """The same pixels plus an extra ignored column holding confident wrong scores."""
    extra_logits = torch.cat([logits, 10 * torch.ones_like(logits[..., :1])], dim=-1)
    extra_target = torch.cat([target, torch.full_like(target[..., :1], IGNORE)], dim=-1)
    return extra_logits, extra_target


@pytest.mark.parametrize(
    "loss",
    [CrossEntropyLoss(), DiceLoss(), LovaszSoftmaxLoss(), CrossEntropyLoss(class_weights=[0.2, 1.0, 3.0]),
     OhemCrossEntropyLoss(thresh=0.7, min_kept=3)],
    ids=["ce", "dice", "lovasz", "ce_weighted", "ohem"],
)  # fmt: skip
def test_ignored_pixels_change_nothing(loss):
    logits, target = inputs()
    expected = loss(logits, target)
    torch.testing.assert_close(loss(*with_ignored_column(logits, target)), expected)


def test_cross_entropy_matches_torch_with_ignore_and_weights():
    logits, target = inputs()
    target[0, 0, :3] = IGNORE
    torch.testing.assert_close(CrossEntropyLoss()(logits, target), F.cross_entropy(logits, target, ignore_index=IGNORE))
    w = torch.tensor([0.2, 1.0, 3.0])
    torch.testing.assert_close(
        CrossEntropyLoss(class_weights=w.tolist())(logits, target),
        F.cross_entropy(logits, target, weight=w, ignore_index=IGNORE),
    )
    torch.testing.assert_close(
        CrossEntropyLoss(label_smoothing=0.1, ignore_index=7)(logits, target.masked_fill(target == IGNORE, 7)),
        F.cross_entropy(logits, target, ignore_index=IGNORE, label_smoothing=0.1),
    )


def test_label_range_is_checked_at_both_ends():
    logits, target = inputs()
    target[0, 0, 0] = 2  # K - 1: fine
    CrossEntropyLoss()(logits, target)
    for bad in (3, -1):
        target[0, 0, 0] = bad
        with pytest.raises(ValueError, match=rf"labels \[{bad}\] outside \[0, 2\]"):
            CrossEntropyLoss()(logits, target)
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        CrossEntropyLoss()(logits, target[0])
    with pytest.raises(ValueError, match=r"\(B, K, H, W\)"):
        CrossEntropyLoss()(logits[0], target)
    with pytest.raises(TypeError, match="integer"):
        CrossEntropyLoss()(logits, target.float())


def test_ohem_threshold_is_strict():
    logits = torch.zeros(1, 2, 1, 2)  # p(true) = 0.5 exactly at both pixels
    logits[0, 0, 0, 1] = math.log(3.0)  # second pixel: p(label 0) = 0.75
    target = torch.zeros(1, 1, 2, dtype=torch.int64)
    at = OhemCrossEntropyLoss(thresh=0.5, min_kept=0)(logits, target)
    assert float(at) == 0.0  # p = 0.5 is not below 0.5: no pixel kept
    above = OhemCrossEntropyLoss(thresh=0.6, min_kept=0)(logits, target)
    assert float(above) == pytest.approx(math.log(2.0))  # only the p = 0.5 pixel
    both = OhemCrossEntropyLoss(thresh=0.8, min_kept=0)(logits, target)
    assert float(both) == pytest.approx((math.log(2.0) - math.log(0.75)) / 2)
    hardest = OhemCrossEntropyLoss(thresh=0.1, min_kept=1)(logits, target)
    assert float(hardest) == pytest.approx(math.log(2.0))
    with pytest.raises(ValueError, match="thresh"):
        OhemCrossEntropyLoss(thresh=0.0)
    OhemCrossEntropyLoss(thresh=1.0)


def test_ohem_never_keeps_ignored_pixels_even_for_min_kept():
    logits, target = inputs()
    target[0, :, :4] = IGNORE  # 4 valid pixels (the last column)
    loss = OhemCrossEntropyLoss(thresh=0.01, min_kept=1000)(logits, target)
    torch.testing.assert_close(loss, F.cross_entropy(logits, target, ignore_index=IGNORE))


def test_boundary_mask_width_and_ignore_band():
    target = torch.zeros(1, 1, 8, dtype=torch.int64)
    target[..., 4:] = 1
    assert boundary_mask(target, 1)[0, 0].tolist() == [False] * 3 + [True, True] + [False] * 3
    assert boundary_mask(target, 2)[0, 0].tolist() == [False] * 2 + [True] * 4 + [False] * 2
    flat = torch.zeros(1, 3, 3, dtype=torch.int64)
    assert not boundary_mask(flat, 1).any()
    band = torch.zeros(1, 1, 5, dtype=torch.int64)
    band[..., 2] = IGNORE
    assert boundary_mask(band, 1)[0, 0].tolist() == [False, True, True, True, False]


def test_boundary_loss_known_answer():
    logits, _ = inputs(k=2, h=1, w=6)
    target = torch.tensor([[[0, 0, 0, 1, 1, 1]]])
    per_pixel = F.cross_entropy(logits, target, reduction="none")[0, 0]
    weights = torch.tensor([1.0, 1.0, 3.0, 3.0, 1.0, 1.0])  # width 1 around the change, weight 3
    expected = (per_pixel * weights).sum() / weights.sum()
    torch.testing.assert_close(BoundaryCrossEntropyLoss(boundary_width=1, boundary_weight=3.0)(logits, target), expected)
    with pytest.raises(ValueError, match="boundary_width"):
        BoundaryCrossEntropyLoss(boundary_width=0)


def test_dice_known_answer_over_present_classes():
    probs = torch.tensor([[0.8, 0.2], [0.4, 0.6]])  # two pixels, classes 0 and 1 (class 2 absent)
    logits = torch.log(torch.cat([probs, torch.full((2, 1), 1e-12)], dim=1)).t().reshape(1, 3, 1, 2)
    target = torch.tensor([[[0, 1]]])
    p = torch.softmax(logits, 1)[0, :, 0]  # (3, 2)
    dice0 = 2 * p[0, 0] / (p[0].sum() + 1)
    dice1 = 2 * p[1, 1] / (p[1].sum() + 1)
    torch.testing.assert_close(DiceLoss()(logits, target), 1 - (dice0 + dice1) / 2)
    smooth = DiceLoss(smooth=1.0)(logits, target)
    expected = 1 - ((2 * p[0, 0] + 1) / (p[0].sum() + 2) + (2 * p[1, 1] + 1) / (p[1].sum() + 2)) / 2
    torch.testing.assert_close(smooth, expected)


def test_lovasz_grad_known_answer_and_loss_of_a_perfect_prediction():
    torch.testing.assert_close(lovasz_grad(torch.tensor([1.0, 0.0, 1.0, 0.0])), torch.tensor([0.5, 1 / 6, 1 / 3, 0.0]))
    target = torch.tensor([[[0, 1, 1, 2]]])
    perfect = 50 * F.one_hot(target, 3).permute(0, 3, 1, 2).float()
    assert float(LovaszSoftmaxLoss()(perfect, target)) == pytest.approx(0.0, abs=1e-6)
    wrong = 50 * F.one_hot((target + 1) % 3, 3).permute(0, 3, 1, 2).float()
    assert float(LovaszSoftmaxLoss()(wrong, target)) == pytest.approx(1.0, abs=1e-6)


def test_all_ignored_gives_zero_for_every_loss():
    logits, target = inputs()
    target.fill_(IGNORE)
    logits.requires_grad_(True)
    for loss in (CrossEntropyLoss(), DiceLoss(), LovaszSoftmaxLoss(), OhemCrossEntropyLoss(),
                 BoundaryCrossEntropyLoss()):  # fmt: skip
        value = loss(logits, target)
        assert float(value.detach()) == 0.0
        (grad,) = torch.autograd.grad(value, logits)
        assert not grad.any()


@pytest.mark.parametrize("form, factor", [("regression", 0.5), ("classification", 1.0)])
def test_uncertainty_weighting_known_answer(form, factor):
    weighting = UncertaintyWeighting(["sem", "inst"], form=form)
    with torch.no_grad():
        weighting.log_vars.copy_(torch.tensor([math.log(2.0), -1.0]))
    total = weighting({"inst": torch.tensor(3.0), "sem": torch.tensor(4.0)})
    expected = factor * (4.0 / 2.0 + 3.0 * math.e) + 0.5 * (math.log(2.0) - 1.0)
    assert float(total.detach()) == pytest.approx(expected)
    torch.testing.assert_close(weighting.weights(), factor * torch.tensor([0.5, math.e]))
    with pytest.raises(KeyError, match="inst"):
        weighting({"sem": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="form"):
        UncertaintyWeighting(["a"], form="other")
    with pytest.raises(ValueError, match="at least one"):
        UncertaintyWeighting([])


def test_deep_supervision_names_weights_and_zero_weights():
    logits, target = inputs()
    aux = logits.flip(-1)
    ce = CrossEntropyLoss()
    out = DeepSupervisionLoss(ce, weights={"logits": 1.0, "aux": 0.4, "unused": 0.0})(
        {"logits": logits, "aux": aux, "unused": logits}, target
    )
    assert set(out) == {"loss_seg", "loss_aux"}
    torch.testing.assert_close(out["loss_seg"], ce(logits, target))
    torch.testing.assert_close(out["loss_aux"], 0.4 * ce(aux, target))
    with pytest.raises(ValueError, match="'logits'"):
        DeepSupervisionLoss(ce, weights={"aux": 1.0})
    with pytest.raises(KeyError, match="aux"):
        DeepSupervisionLoss(ce, weights={"logits": 1.0, "aux": 1.0})({"logits": logits}, target)


@pytest.mark.parametrize(
    "name, cls",
    [("ce", CrossEntropyLoss), ("ohem", OhemCrossEntropyLoss), ("boundary", BoundaryCrossEntropyLoss),
     ("dice", DiceLoss), ("lovasz", LovaszSoftmaxLoss)],
)  # fmt: skip
def test_losses_by_name_take_the_ignore_index(name, cls):
    from segzoo.losses import create_loss, resolve_loss

    loss = resolve_loss(name, ignore_index=7)
    assert type(loss) is cls and loss.ignore_index == 7
    assert type(create_loss(name)) is cls
    module = DiceLoss()
    assert resolve_loss(module) is module
    with pytest.raises(TypeError, match="registry name or an nn.Module"):
        resolve_loss(3)
