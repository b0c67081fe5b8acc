"""Scale fusers, the multi-scale model, TTA, sliding windows and the poly/param-group helpers."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.engine import PolyLR, param_groups
from segzoo.fusers import FUSERS, HierarchicalScaleFuser, ScaleStream
from segzoo.models import MultiScaleModel
from segzoo.models.multiscale_recipes import make_fuser
from segzoo.postprocess import AINNOSEG_SCALES, TTA, sliding_window_inference


def _base(num_classes=4):
    return segzoo.build("fcn_r50", backbone="tiny", num_classes=num_classes, aux=False).eval()


@pytest.mark.parametrize("name", FUSERS.names())
def test_one_scale_gives_the_wrapped_models_logits(name):
    base = _base()
    model = MultiScaleModel(model=base, fuser=make_fuser(name, base, num_scales=1, dilations=(2,)), scales=(1.0,)).eval()
    x = torch.randn(2, 3, 45, 61)
    torch.testing.assert_close(model(x).logits, base(x).logits)


@pytest.mark.parametrize("name", ["avg", "attention_to_scale", "refine_multiscale", "hmsa"])
def test_scale_weights_sum_to_one(name):
    base = _base()
    model = MultiScaleModel(model=base, fuser=make_fuser(name, base, num_scales=2), scales=(0.5, 1.0)).eval()
    fused, streams = model.fuse(torch.randn(2, 3, 50, 70))
    weights = fused.attention["scale_weights"]
    assert weights.shape == (2, 2, 13, 18)  # (B, S, ceil(H/4), ceil(W/4))
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2, 13, 18))
    assert fused.logits.shape == (2, 4, 13, 18)


def test_avg_and_max_known_answers():
    p1, p2 = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    streams = [ScaleStream(0.5, p1, []), ScaleStream(1.0, p2, [])]
    torch.testing.assert_close(FUSERS.get("avg").fn()(streams, (4, 4)).logits, (p1 + p2) / 2)
    torch.testing.assert_close(FUSERS.get("max").fn()(streams, (4, 4)).logits, torch.maximum(p1, p2))


def test_hmsa_known_answer_and_any_scale_set():
    fuser = HierarchicalScaleFuser(2, channels=4).eval()
    last = fuser.attention[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(0.5)  # a = sigmoid(0.5) everywhere
    a = torch.sigmoid(torch.tensor(0.5))
    p_low, p_mid, p_high = (torch.randn(1, 3, 6, 6) for _ in range(3))
    feats = [torch.randn(1, 2, 6, 6)]
    two = fuser([ScaleStream(1.0, p_mid, feats), ScaleStream(0.5, p_low, feats)], (6, 6))
    torch.testing.assert_close(two.logits, a * p_low + (1 - a) * p_mid)
    three = fuser([ScaleStream(s, p, feats) for s, p in [(0.5, p_low), (1.0, p_mid), (2.0, p_high)]], (6, 6))
    expected = a * p_low + (1 - a) * (a * p_mid + (1 - a) * p_high)
    torch.testing.assert_close(three.logits, expected)
    torch.testing.assert_close(three.attention["scale_weights"][0, :, 0, 0], torch.stack([a, (1 - a) * a, (1 - a) ** 2]))


def test_hmsa_model_trains_on_a_pair_and_runs_on_other_sets():
    model = segzoo.build("hmsa_deeplabv3p_mobilenetv2", backbone="tiny", num_classes=3)
    assert model.train_scales == (0.5, 1.0) and model.scales == (0.5, 1.0, 2.0)
    x = torch.randn(1, 3, 67, 71)
    out = model.train()(x)
    assert set(out.aux) == {"scale_0.5", "scale_1"}
    losses = model.losses(out, torch.randint(0, 3, (1, 67, 71)))
    assert set(losses) == {"loss_seg", "loss_scale_0.5", "loss_scale_1"}
    model.eval()
    for scales in [(0.5, 1.0, 2.0), (1.0, 1.5), (0.25, 0.5, 1.0, 2.0)]:
        model.scales = scales
        assert model(x).logits.shape == (1, 3, 67, 71)
        fused, streams = model.fuse(x)
        assert [s.scale for s in streams] == list(scales)


def test_fixed_scale_fusers_refuse_other_scale_counts():
    model = segzoo.build("msrefine_r34d8", backbone="tiny", num_classes=3).eval()
    model.scales = (0.5, 1.0, 2.0)
    with pytest.raises(ValueError, match="built for 2 scales"):
        model(torch.randn(1, 3, 64, 64))


def test_refine_multiscale_gradients_reach_both_branches():
    model = segzoo.build("msrefine_largefov_vgg16", backbone="tiny", num_classes=3).train()
    x, target = torch.randn(2, 3, 64, 64), torch.randint(0, 3, (2, 64, 64))
    losses = model.losses(model(x), target)
    assert set(losses) == {"loss_seg", "loss_scale_0.5", "loss_scale_1"}
    sum(losses.values()).backward()
    fuser = model.fuser
    for branch in (fuser.location, fuser.recalibration, *fuser.scale_convs):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in branch.parameters())
    fused, _ = model.eval().fuse(x)
    r = fused.attention["recalibration"]
    assert r.shape == (2, 3, 16, 16) and (r > 0).all() and (r < 1).all()


def test_tta_identity_flip_and_seven_scales():
    base = _base()
    x = torch.randn(2, 3, 37, 43)
    torch.testing.assert_close(TTA(base, scales=(1.0,), flip=False)(x), torch.softmax(base(x).logits, dim=1))
    flipped = (torch.softmax(base(x).logits, 1) + torch.softmax(base(x.flip(-1)).logits, 1).flip(-1)) / 2
    torch.testing.assert_close(TTA(base, scales=(1.0,), flip=True)(x), flipped)
    probs = TTA(base, scales=AINNOSEG_SCALES, flip=True)(x)
    assert probs.shape == (2, 4, 37, 43)
    torch.testing.assert_close(probs.sum(1), torch.ones(2, 37, 43))
    image = torch.randint(0, 256, (3, 30, 41), dtype=torch.uint8)
    torch.testing.assert_close(TTA(base, scales=(1.0,), flip=False).predict(image), base.predict(image))


@pytest.mark.parametrize("blend", ["uniform", "gaussian"])
def test_sliding_window(blend):
    base = _base()
    x = torch.randn(1, 3, 47, 53)
    torch.testing.assert_close(sliding_window_inference(base, x, window=(64, 64), blend=blend), base(x).logits)
    pointwise = torch.nn.Conv2d(3, 5, 1)  # translation-equivariant per pixel: windows must not matter
    with torch.no_grad():
        out = sliding_window_inference(pointwise, x, window=(20, 24), stride=(13, 11), blend=blend, chunk=3)
        torch.testing.assert_close(out, pointwise(x), atol=1e-5, rtol=1e-5)


def test_param_groups_and_poly_schedule():
    model = segzoo.build("msrefine_r34d8", backbone="tiny", num_classes=3)
    groups = {g["name"]: g for g in param_groups(model, lr=0.01, head_lr_mult=10, weight_decay=5e-4)}
    assert groups["backbone"]["lr"] == 0.01 and groups["head"]["lr"] == pytest.approx(0.1)
    assert groups["backbone_no_decay"]["weight_decay"] == 0.0 and groups["head"]["weight_decay"] == 5e-4
    total = sum(len(g["params"]) for g in groups.values())
    assert total == len([p for p in model.parameters() if p.requires_grad])
    fuser_ids = {id(p) for p in model.fuser.parameters()}
    assert fuser_ids <= {id(p) for g in ("head", "head_no_decay") for p in groups[g]["params"]}
    assert all(p.ndim > 1 for p in groups["backbone"]["params"])
    opt = torch.optim.SGD(list(groups.values()), lr=0.01)
    sched = PolyLR(opt, max_iters=100, power=0.9)
    for _ in range(50):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**0.9)
    assert opt.param_groups[2]["lr"] == pytest.approx(0.1 * 0.5**0.9)
