"""DeepLabV3+ (arXiv:1802.02611, Sec. 3.2) uses atrous depthwise separable convolutions in the ASPP
branches and the decoder by default; the full-conv variant stays available."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import segzoo
from segzoo.heads import DeepLabV3PlusHead
from segzoo.layers import ASPP, SeparableConvNormAct


def test_separable_conv_is_a_dilated_depthwise_conv_then_a_pointwise_conv():
    torch.manual_seed(0)
    block = SeparableConvNormAct(4, 6, 3, dilation=2, norm=None)
    x = torch.randn(1, 4, 9, 11)
    depthwise, pointwise = block[0][0], block[1][0]
    expected = F.relu(F.conv2d(x, depthwise.weight, depthwise.bias, padding=2, dilation=2, groups=4))
    expected = F.relu(F.conv2d(expected, pointwise.weight, pointwise.bias))
    torch.testing.assert_close(block(x), expected)
    assert depthwise.weight.shape == (4, 1, 3, 3) and pointwise.weight.shape == (6, 4, 1, 1)


def test_aspp_makes_only_its_atrous_branches_separable():
    aspp = ASPP(8, channels=4, rates=(2, 3), separable=True)
    one_by_one, *atrous = aspp.branches
    assert isinstance(one_by_one[0], nn.Conv2d) and one_by_one[0].kernel_size == (1, 1)
    for branch, rate in zip(atrous, (2, 3)):
        assert isinstance(branch, SeparableConvNormAct)
        assert branch[0][0].groups == 8 and branch[0][0].dilation == (rate, rate)
    full = ASPP(8, channels=4, rates=(2, 3), separable=False)
    assert full.branches[1][0].groups == 1 and full.branches[1][0].weight.shape == (4, 8, 3, 3)


def test_deeplabv3p_is_separable_by_default_and_keeps_the_full_variant():
    head = DeepLabV3PlusHead(16, low_level_channels=8, num_classes=3, channels=8, rates=(1, 2, 3))
    assert all(isinstance(block, SeparableConvNormAct) for block in head.decoder)
    default = segzoo.build("deeplabv3p_r50", backbone="tiny", num_classes=3)
    full = segzoo.build("deeplabv3p_r50", backbone="tiny", num_classes=3, separable=False)
    count = lambda m: sum(p.numel() for p in m.decode_head.parameters())  # noqa: E731
    assert count(default) < 0.5 * count(full)  # 3x3 convs of 256 channels: about 1/9 + 1/256 of the weights
    x = torch.randn(2, 3, 64, 64)
    for model in (default.eval(), full.eval()):
        assert model(x).logits.shape == (2, 3, 64, 64)
