"""Panoptic FPN's semantic head (Kirillov et al., arXiv:1901.02446; Detectron2's SemSegFPNHead):
each coarser level goes conv -> 2x upsample per stage, not all convs then one upsample."""

from __future__ import annotations

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
