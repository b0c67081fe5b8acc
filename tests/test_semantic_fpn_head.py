"""Panoptic FPN's semantic head (Kirillov et al., arXiv:1901.02446; Detectron2's SemSegFPNHead):
each coarser level goes conv -> 2x upsample per stage, not all convs then one upsample."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segzoo.heads import SemanticFPNHead


def _up2(x):
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def test_each_stage_is_a_conv_then_a_2x_upsample():
    torch.manual_seed(0)
    head = SemanticFPNHead(8, num_classes=3, channels=4, norm=None).eval()
    features = [torch.randn(1, 8, 64 // s, 96 // s) for s in (4, 8, 16, 32)]  # a 64x96 padded batch
    with torch.no_grad():
        logits, merged = head(features)
        p2 = head.levels[0][0](features[0])
        p3 = _up2(head.levels[1][0](features[1]))
        p4 = _up2(head.levels[2][1](_up2(head.levels[2][0](features[2]))))
        x = features[3]
        for conv in head.levels[3]:
            x = _up2(conv(x))
        expected = p2 + p3 + p4 + x
        torch.testing.assert_close(merged, expected)
        torch.testing.assert_close(logits, head.classifier(expected))
        # the old order (all convs at the level's resolution, then one upsample) gives another answer
        old = F.interpolate(head.levels[3](features[3]), size=(16, 24), mode="bilinear", align_corners=False)
        assert (old - x).abs().max() > 1e-3
    assert [len(level) for level in head.levels] == [1, 1, 2, 3]


def test_sizes_that_are_not_multiples_of_32_still_reach_stride_4():
    head = SemanticFPNHead(8, num_classes=3, channels=4).eval()
    features = [torch.randn(1, 8, -(-70 // s), -(-50 // s)) for s in (4, 8, 16, 32)]
    with torch.no_grad():
        logits, _ = head(features)
    assert logits.shape == (1, 3, 18, 13)


def test_fcn_heads_deconvolution_starts_as_bilinear_upsampling_and_is_learned():
    """Seed 000's FCN branch upsamples with FCN's deconvolution, initialised to bilinear: inside the map it
    equals F.interpolate(scale 2, bilinear); it has weights (trained), and the head takes odd sizes."""
    from segzoo.heads import FCNSemanticHead
    from segzoo.heads.panoptic_semantic import bilinear_deconv

    torch.manual_seed(0)
    x = torch.randn(1, 3, 5, 7)
    deconv = bilinear_deconv(3)
    with torch.no_grad():
        got = deconv(x)
        expected = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert got.shape == expected.shape == (1, 3, 10, 14)
    torch.testing.assert_close(got[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1])
    assert deconv.weight.requires_grad and deconv.weight.shape == (3, 1, 4, 4)
    head = FCNSemanticHead(8, num_classes=4, channels=6)
    plain = FCNSemanticHead(8, num_classes=4, channels=6, upsample="bilinear")
    assert len(head.up) == 3 and plain.up is None
    features = [torch.randn(1, 8, 17, 23), torch.randn(1, 8, 9, 12), torch.randn(1, 8, 5, 6), torch.randn(1, 8, 3, 3)]
    logits, merged = head(features)
    assert logits.shape == (1, 4, 17, 23) and merged.shape == (1, 6, 17, 23)
    logits.sum().backward()
    assert all(up.weight.grad is not None and up.weight.grad.abs().sum() > 0 for up in head.up)
    with pytest.raises(ValueError, match="upsample must be"):
        FCNSemanticHead(8, num_classes=4, upsample="nearest")
    import segzoo

    tiny = dict(backbone="tiny", fpn_channels=16, box_channels=32, mask_channels=16, semantic_channels=8)
    assert segzoo.build("panoptic_se_r50", **tiny).semantic_head.upsample == "deconv"
    assert segzoo.build("panoptic_se_r50", semantic_head="fcn_bilinear", **tiny).semantic_head.upsample == "bilinear"
