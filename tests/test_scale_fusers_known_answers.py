"""Scale fusers with their attention heads set to constants: fused logits and weight maps known.

With the last conv of an attention branch zeroed except its bias, the branch outputs that bias
everywhere, so each fuser's formula can be checked with exact numbers (seed 004's location
attention + recalibration, Attention to Scale's softmax, HMSA's sigmoid, avg/max pooling).
"""

from __future__ import annotations

import pytest
import torch

from segzoo.fusers import AttentionToScaleFuser, HierarchicalScaleFuser, RefineMultiScaleFuser, ScaleStream
from segzoo.fusers.pooling import AverageFuser, MaxFuser


def constant_branch(branch, bias):
    last = branch[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.as_tensor(bias, dtype=last.bias.dtype))


def streams(scales=(0.5, 1.0), k=3, size=(4, 5), channels=(2, 3)):
    g = torch.Generator().manual_seed(0)
    out = []
    for s in scales:
        h, w = round(size[0] * s), round(size[1] * s)
        feats = [torch.randn(1, c, h, w, generator=g) for c in channels]
        out.append(ScaleStream(s, torch.randn(1, k, *size, generator=g), feats))
    return out


def test_refine_multiscale_location_softmax_and_sigmoid_recalibration():
    fuser = RefineMultiScaleFuser([2, 3], num_classes=3, dilations=(2, 3), channels=4).eval()
    loc_bias, rec_bias = torch.tensor([0.7, -0.4]), torch.tensor([0.3, -1.2, 2.0])
    constant_branch(fuser.location, loc_bias)
    constant_branch(fuser.recalibration, rec_bias)
    ss = streams()
    out = fuser(ss, (4, 5))
    loc = torch.softmax(loc_bias, 0)  # over scales
    rec = torch.sigmoid(rec_bias)  # per class, in (0, 1)
    expected = (loc[0] * ss[0].logits + loc[1] * ss[1].logits) * rec.view(1, 3, 1, 1)
    torch.testing.assert_close(out.logits, expected)
    torch.testing.assert_close(out.attention["scale_weights"][0, :, 2, 3], loc)
    torch.testing.assert_close(out.attention["recalibration"][0, :, 1, 1], rec)


def test_refine_multiscale_hypercolumn_uses_the_chosen_levels():
    fuser = RefineMultiScaleFuser([2, 3], num_classes=3, dilations=(2, 3), channels=4, feature_indices=[1])
    ss = streams()
    hyper = fuser.hypercolumn(ss[0], (4, 5))
    assert hyper.shape == (1, 3, 4, 5)
    full = RefineMultiScaleFuser([2, 3], num_classes=3, dilations=(2, 3), channels=4)
    assert full.hypercolumn(ss[1], (4, 5)).shape == (1, 5, 4, 5)
    torch.testing.assert_close(full.hypercolumn(ss[1], (4, 5))[:, 2:], ss[1].features[1])
    assert [c[0].dilation for c in full.scale_convs] == [(2, 2), (3, 3)]


def test_attention_to_scale_softmax_weights():
    fuser = AttentionToScaleFuser(3, num_scales=2, channels=4).eval()
    bias = torch.tensor([1.5, -0.5])
    constant_branch(fuser.attention, bias)
    ss = streams()
    out = fuser(ss, (4, 5))
    w = torch.softmax(bias, 0)
    torch.testing.assert_close(out.logits, w[0] * ss[0].logits + w[1] * ss[1].logits)
    torch.testing.assert_close(out.attention["scale_weights"][0, :, 0, 0], w)


def test_hmsa_weights_follow_the_scale_order_not_the_input_order():
    fuser = HierarchicalScaleFuser(3, channels=4).eval()
    constant_branch(fuser.attention, torch.tensor([-1.0]))
    a = torch.sigmoid(torch.tensor(-1.0))
    low, high = streams((0.5, 2.0))
    out = fuser([high, low], (4, 5))  # given highest first: still sorted by scale
    torch.testing.assert_close(out.logits, a * low.logits + (1 - a) * high.logits)
    torch.testing.assert_close(out.attention["scale_weights"][0, :, 3, 4], torch.stack([a, 1 - a]))


def test_pooling_fusers_weights_and_winner():
    ss = streams((0.5, 1.0, 2.0))
    avg = AverageFuser()(ss, (4, 5))
    torch.testing.assert_close(avg.logits, sum(s.logits for s in ss) / 3)
    torch.testing.assert_close(avg.attention["scale_weights"], torch.full((1, 3, 4, 5), 1 / 3))
    mx = MaxFuser()(ss, (4, 5))
    stacked = torch.stack([s.logits for s in ss], 1)
    torch.testing.assert_close(mx.logits, stacked.amax(1))
    assert torch.equal(mx.attention["winner"], stacked.argmax(1).float())


def test_one_stream_passes_through_and_wrong_counts_raise():
    (only,) = streams((1.0,), size=(3, 7))
    out = AttentionToScaleFuser(3, num_scales=2, channels=4)([only], (6, 6))
    assert out.logits is only.logits and torch.equal(out.attention["scale_weights"], torch.ones(1, 1, 3, 7))
    with pytest.raises(ValueError, match="at least one stream"):
        AverageFuser()([], (4, 5))
    with pytest.raises(ValueError, match="built for 2 scales"):
        AttentionToScaleFuser(3, num_scales=2, channels=4)(streams((0.5, 1.0, 2.0)), (4, 5))


def test_hmsa_with_maps_of_different_sizes_matches_a_hand_computed_fusion():
    """Seed 003 / Tao et al.: F = up(a_L * P_L) + (1 - up(a_L)) * F_H, applied from the lowest scale upward,
    each stream at its own resolution (0.5x: 5x6, 1x: 10x12, 2x: 20x24 logits; attention maps at their
    features' resolution). The weighting happens at the lower scale's resolution *before* the resize, so a
    resize-order error (up(a) * up(P) instead of up(a * P)) changes the answer; the attention head is replaced
    by the identity on a one-channel feature map so a = sigmoid(feature), varying per pixel."""
    import torch.nn.functional as F

    def up(x, size):
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    torch.manual_seed(0)
    fuser = HierarchicalScaleFuser(1, channels=4).eval()
    fuser.attention = torch.nn.Identity()
    sizes = {0.5: (5, 6), 1.0: (10, 12), 2.0: (20, 24)}
    logits = {s: torch.randn(1, 3, *hw) for s, hw in sizes.items()}
    feats = {s: torch.randn(1, 1, hw[0] // 2 + 1, hw[1] // 2) for s, hw in sizes.items()}  # coarser than the logits
    out = (10, 12)
    got = fuser([ScaleStream(s, logits[s], [feats[s]]) for s in (1.0, 2.0, 0.5)], out)
    a = {s: up(torch.sigmoid(feats[s]), sizes[s]) for s in (0.5, 1.0)}  # attention at the stream's logits size
    high = up(logits[2.0], out)
    mid = up(a[1.0] * logits[1.0], out) + (1 - up(a[1.0], out)) * high
    expected = up(a[0.5] * logits[0.5], out) + (1 - up(a[0.5], out)) * mid
    torch.testing.assert_close(got.logits, expected)
    wrong_order = up(a[0.5], out) * up(logits[0.5], out) + (1 - up(a[0.5], out)) * mid
    assert (wrong_order - expected).abs().max() > 1e-3  # the test can tell the two orders apart
    w = got.attention["scale_weights"]
    a_lo, a_mid = up(a[0.5], out), up(a[1.0], out)
    torch.testing.assert_close(w, torch.cat([a_lo, (1 - a_lo) * a_mid, (1 - a_lo) * (1 - a_mid)], 1))
