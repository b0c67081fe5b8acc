"""Blocks of the foundation: FPN neck, PPM, ASPP, heads."""

from __future__ import annotations

import pytest
import torch

from segzoo.backbones import FeatureInfo, create_backbone
from segzoo.heads import DeepLabV3PlusHead, FCNHead
from segzoo.layers import ASPP, PyramidPooling, aspp_rates, make_norm
from segzoo.necks import FPN


@pytest.mark.parametrize("p6", [False, True])
def test_fpn_on_backbone_feature_info(p6):
    backbone = create_backbone("tiny")
    fpn = FPN(backbone.feature_info, out_channels=32, p6=p6)
    x = torch.randn(2, 3, 64, 96)
    outs = fpn(backbone(x))
    assert len(outs) == len(fpn.feature_info) == 4 + p6
    for out, info in zip(outs, fpn.feature_info):
        assert out.shape == (2, 32, -(-64 // info.stride), -(-96 // info.stride))  # ceil: strided convs pad
    assert [f.name for f in fpn.feature_info] == ["p2", "p3", "p4", "p5"] + (["p6"] if p6 else [])


def test_fpn_top_down_path_carries_coarse_information():
    """Changing only the coarsest input changes the finest output (the top-down pathway)."""
    info = [FeatureInfo(8, 4), FeatureInfo(16, 8)]
    fpn = FPN(info, out_channels=8).eval()
    fine, coarse = torch.randn(1, 8, 16, 16), torch.randn(1, 16, 8, 8)
    a = fpn([fine, coarse])[0]
    b = fpn([fine, coarse + 1])[0]
    assert not torch.allclose(a, b)


def test_ppm_channels_and_constant_input():
    ppm = PyramidPooling(16, channels=4, bins=(1, 2, 3, 6)).eval()
    x = torch.randn(2, 16, 13, 17)
    out = ppm(x)
    assert out.shape == (2, 16 + 4 * 4, 13, 17)
    torch.testing.assert_close(out[:, :16], x)  # the input is passed through unchanged
    # On a spatially constant input every pooled branch is constant too.
    const = torch.randn(1, 16, 1, 1).expand(1, 16, 12, 12).contiguous()
    pooled = ppm(const)[:, 16:]
    torch.testing.assert_close(pooled, pooled[..., :1, :1].expand_as(pooled))


def test_aspp_shapes_batch_one_train_and_rates():
    aspp = ASPP(8, channels=6, rates=(1, 2, 3)).train()
    assert aspp(torch.randn(1, 8, 9, 11)).shape == (1, 6, 9, 11)
    assert aspp_rates(8) == (12, 24, 36) and aspp_rates(16) == (6, 12, 18)
    with pytest.raises(ValueError, match="rates"):
        aspp_rates(4)


def test_heads_output_strides():
    feats = [torch.randn(2, 8, 16, 16), torch.randn(2, 16, 4, 4)]
    fcn = FCNHead(16, num_classes=3)
    assert fcn(feats).shape == (2, 3, 4, 4)
    v3p = DeepLabV3PlusHead(16, low_level_channels=8, num_classes=3, channels=8, rates=(1, 2, 3))
    assert v3p(feats).shape == (2, 3, 16, 16)


def test_make_norm():
    assert isinstance(make_norm("gn", 12), torch.nn.GroupNorm) and make_norm("gn", 12).num_groups == 12
    assert make_norm("gn", 64).num_groups == 32
    with pytest.raises(ValueError, match="Unknown norm"):
        make_norm("ln", 4)


@pytest.mark.parametrize("size", [(13, 17), (4, 5), (6, 6), (1, 9), (64, 48)])
@pytest.mark.parametrize("bins", [1, 2, 3, 6])
def test_exportable_adaptive_pool_equals_torch(size, bins):
    from segzoo.layers.pooling import adaptive_avg_pool2d

    x = torch.randn(2, 3, *size, dtype=torch.float64)
    torch.testing.assert_close(adaptive_avg_pool2d(x, bins), torch.nn.functional.adaptive_avg_pool2d(x, bins))


def test_exportable_adaptive_pool_on_channels_last_input():
    """A channels-last map (segzoo.optimize's layout) gives the same numbers."""
    from segzoo.layers.pooling import adaptive_avg_pool2d

    x = torch.randn(2, 64, 13, 17, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(adaptive_avg_pool2d(x, 3), torch.nn.functional.adaptive_avg_pool2d(x, 3))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("size", [(13, 17), (64, 48), (5, 3)])
def test_pyramid_pool_equals_torch_for_every_bin(size, channels_last):
    """All of PSPNet's bins from one product, in either layout, equal F.adaptive_avg_pool2d bin by bin."""
    from segzoo.layers.pooling import pyramid_avg_pool2d

    x = torch.randn(2, 24, *size, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    pooled = pyramid_avg_pool2d(x, (1, 2, 3, 6))
    assert [tuple(p.shape) for p in pooled] == [(2, 24, b, b) for b in (1, 2, 3, 6)]
    for b, p in zip((1, 2, 3, 6), pooled):
        torch.testing.assert_close(p, torch.nn.functional.adaptive_avg_pool2d(x, b))


def test_pyramid_pool_reads_a_channels_last_map_without_copying_it():
    """optimize's channels-last bf16 maps are pooled without a contiguous copy of the map (it cost
    33 ms per bin at 2048x64x64); the result is the float32 pooling up to bf16 rounding."""
    from torch.profiler import ProfilerActivity, profile

    from segzoo.layers.pooling import pyramid_avg_pool2d

    x = torch.randn(1, 64, 32, 32).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        pooled = pyramid_avg_pool2d(x, (1, 2, 3, 6))
    def numel(shape):
        return int(torch.tensor(shape).prod()) if shape else 1

    copies = [e for e in prof.events() if e.name == "aten::copy_" and e.input_shapes and numel(e.input_shapes[0]) >= x.numel()]
    assert copies == []  # any copy as large as the map, in any shape
    for b, p in zip((1, 2, 3, 6), pooled):
        assert p.dtype == torch.bfloat16
        torch.testing.assert_close(p.float(), torch.nn.functional.adaptive_avg_pool2d(x.float(), b), atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("bins", [(), (0, 2), (-1,)])
def test_pyramid_pool_rejects_bad_bins(bins):
    from segzoo.layers.pooling import pyramid_avg_pool2d

    with pytest.raises(ValueError, match="bins must be positive"):
        pyramid_avg_pool2d(torch.randn(1, 2, 8, 8), bins)
