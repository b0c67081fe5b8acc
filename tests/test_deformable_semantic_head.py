"""UPSNet's semantic head (Xiong et al., arXiv:1901.03784, Sec. 3.1: one deformable subnet shared by
P2-P5, upsampled to stride 4 and concatenated) and the FPN's global-context term (UPSNet's ``fpn_with_gap``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import segzoo
from segzoo.backbones import FeatureInfo
from segzoo.heads import DeformableSemanticHead
from segzoo.necks import FPN


def _features(channels=8, size=(64, 96)):
    return [torch.randn(1, channels, size[0] // s, size[1] // s) for s in (4, 8, 16, 32)]


def _plain_subnet(subnet, x):
    """The subnet with every deformable conv as an ordinary 3x3 conv of the same weights."""
    for block in subnet:
        conv = block[0].conv
        x = F.relu(F.conv2d(x, conv.weight, conv.bias, padding=1))
    return x


def test_with_zero_offsets_the_head_is_the_shared_plain_conv_subnet_on_each_level():
    torch.manual_seed(0)
    head = DeformableSemanticHead(8, num_classes=5, channels=6).eval()  # offsets start at zero
    features = _features()
    with torch.no_grad():
        logits, merged = head(features)
        levels = [_plain_subnet(head.subnets[0], f) for f in features]
        up = [levels[0]] + [F.interpolate(x, scale_factor=2**i, mode="bilinear", align_corners=False) for i, x in enumerate(levels) if i]
        expected = torch.cat(up, dim=1)
    assert len(head.subnets) == 1 and head.out_channels == 24 and merged.shape == (1, 24, 16, 24)
    torch.testing.assert_close(merged, expected)
    torch.testing.assert_close(logits, head.classifier(expected))


def test_the_subnet_layout_is_upsnets_in_in_then_in_channels_then_channels():
    head = DeformableSemanticHead(16, num_classes=3, channels=4, num_convs=4)
    widths = [(b[0].conv.in_channels, b[0].conv.out_channels) for b in head.subnets[0]]
    assert widths == [(16, 16), (16, 16), (16, 4), (4, 4)]


def test_offsets_change_the_output():
    torch.manual_seed(0)
    head = DeformableSemanticHead(8, num_classes=5, channels=6).eval()
    features = _features()
    with torch.no_grad():
        before, _ = head(features)
        head.subnets[0][0][0].offset.bias.fill_(0.7)  # every sample moved by 0.7 px
        after, _ = head(features)
    assert (after - before).abs().max() > 1e-3


def test_unshared_levels_have_their_own_subnets():
    torch.manual_seed(0)
    head = DeformableSemanticHead(8, num_classes=5, channels=6, shared=False).eval()
    features = _features()
    with torch.no_grad():
        _, merged = head(features)
        p3 = F.interpolate(_plain_subnet(head.subnets[1], features[1]), scale_factor=2, mode="bilinear", align_corners=False)
    assert len(head.subnets) == 4
    torch.testing.assert_close(merged[:, 6:12], p3)


def test_bad_layouts_say_what_is_expected():
    with pytest.raises(ValueError, match="first level must have stride 4"):
        DeformableSemanticHead(8, num_classes=3, strides=(8, 16))
    with pytest.raises(ValueError, match="num_convs must be at least 2"):
        DeformableSemanticHead(8, num_classes=3, num_convs=1)


def test_fpn_global_context_adds_a_linear_map_of_c5s_average_to_the_top_lateral():
    torch.manual_seed(0)
    info = [FeatureInfo(c, s, f"c{i}") for i, (c, s) in enumerate([(8, 4), (16, 8), (32, 16), (64, 32)])]
    plain = FPN(info, out_channels=8).eval()
    context = FPN(info, out_channels=8, global_context=True).eval()
    context.load_state_dict(
        {k.replace("inner_blocks.3.0.", "inner_blocks.3.lateral.0."): v for k, v in plain.state_dict().items()}, strict=False
    )
    feats = [torch.randn(2, c, 64 // s, 64 // s) for c, s in [(8, 4), (16, 8), (32, 16), (64, 32)]]
    linear = context.fpn.inner_blocks[3].context
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
        torch.testing.assert_close(context(feats), plain(feats))  # a zero context term is the plain FPN
        linear.bias.fill_(1.0)
        shifted = context(feats)
        top = plain.fpn.layer_blocks[3](plain.fpn.inner_blocks[3](feats[3]) + 1.0)
    torch.testing.assert_close(shifted[3], top)


def test_upsnet_r50_defaults_to_the_papers_semantic_head_and_keeps_fpns_as_an_option():
    tiny = dict(backbone="tiny", fpn_channels=16, box_channels=16, mask_channels=8, semantic_channels=8, num_classes=5,
                thing_ids=(0, 1), stuff_ids=(2, 3, 4))  # fmt: skip
    assert isinstance(segzoo.build("upsnet_r50", **tiny).semantic_head, DeformableSemanticHead)
    assert type(segzoo.build("upsnet_r50", semantic_head="fpn", **tiny).semantic_head).__name__ == "SemanticFPNHead"
    with pytest.raises(ValueError, match="semantic_head must be"):
        segzoo.build("upsnet_r50", semantic_head="nope", **tiny)


def test_deformable_conv_runs_under_bf16_autocast_in_float32():
    """torchvision's deformable kernel has no bf16 version: the block computes it in fp32 and casts back."""
    from segzoo.necks.dcn import DeformableConv2d

    torch.manual_seed(0)
    block = DeformableConv2d(4, 6).eval()
    with torch.no_grad():
        block.offset.bias.fill_(0.3)
        x = torch.randn(1, 4, 10, 12)
        reference = block(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            reduced = block(x.bfloat16())
    assert reduced.dtype == torch.bfloat16
    torch.testing.assert_close(reduced.float(), reference, atol=0.1, rtol=0.05)


def test_deformable_fpn_levels_start_as_plain_convs_and_their_offsets_move_only_those_levels():
    """Seed 002's FPN: P3-P5's output convs are deformable. With zero offsets the pyramid equals the same
    FPN with ordinary 3x3 output convs of the same weights; offsets change P3-P5 (and P6, pooled from P5)
    but not P2."""
    from segzoo.necks.dcn import DeformableConv2d

    torch.manual_seed(0)
    info = [FeatureInfo(c, s, f"c{i}") for i, (c, s) in enumerate(zip((8, 16, 24, 32), (4, 8, 16, 32)))]
    deform = FPN(info, out_channels=16, p6=True, deformable_levels=(1, 2, 3)).eval()
    plain = FPN(info, out_channels=16, p6=True).eval()
    blocks = deform.fpn.layer_blocks
    assert [isinstance(b, DeformableConv2d) for b in blocks] == [False, True, True, True]
    state = {k: v for k, v in deform.state_dict().items() if ".offset." not in k}
    plain.load_state_dict({k.replace(".conv.weight", ".0.weight").replace(".conv.bias", ".0.bias")
                           if k.startswith("fpn.layer_blocks.") and k[17] != "0" else k: v for k, v in state.items()})  # fmt: skip
    features = [torch.randn(1, c, 64 // s, 96 // s) for c, s in zip((8, 16, 24, 32), (4, 8, 16, 32))]
    with torch.no_grad():
        for got, expected in zip(deform(features), plain(features)):
            torch.testing.assert_close(got, expected)
        for b in blocks[1:]:
            b.offset.bias.fill_(0.6)
        moved = deform(features)
        reference = plain(features)
    assert torch.equal(moved[0], reference[0])
    assert all((m - r).abs().max() > 1e-3 for m, r in zip(moved[1:], reference[1:]))
