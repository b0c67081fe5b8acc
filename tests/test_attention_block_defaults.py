"""Attention blocks' default widths and tiny channel counts (DANet, arXiv:1809.02983; Non-local,
arXiv:1711.07971; SE, arXiv:1709.01507)."""

from __future__ import annotations

import pytest
import torch

from segzoo.layers.attention import DualAttention, NonLocal2d, SqueezeExcitation


@pytest.mark.parametrize("in_channels, expected", [(16, 4), (8, 2), (3, 1), (1, 1)])
def test_dual_attention_defaults_to_a_quarter_of_the_channels(in_channels, expected):
    block = DualAttention(in_channels).eval()
    x = torch.randn(2, in_channels, 5, 6)
    parts = block.branches(x)
    assert block.out_channels == expected
    assert parts.fused.shape == parts.position.shape == parts.channel.shape == (2, expected, 5, 6)
    torch.testing.assert_close(block(x), parts.fused)
    assert DualAttention(in_channels, channels=6).eval()(torch.randn(1, in_channels, 4, 4)).shape[1] == 6


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_non_local_runs_down_to_one_channel_and_starts_as_identity(channels):
    block = NonLocal2d(channels).eval()
    assert block.theta.out_channels == max(channels // 2, 1)
    x = torch.randn(2, channels, 5, 3)
    torch.testing.assert_close(block(x), x)
    sub = NonLocal2d(channels, sub_sample=True, norm=None)
    torch.testing.assert_close(sub(x), x)


def test_squeeze_excitation_known_answer_with_constant_gates():
    se = SqueezeExcitation(4, reduction=2, min_channels=1)
    for m in se.modules():
        if isinstance(m, torch.nn.Conv2d) or isinstance(m, torch.nn.Linear):
            torch.nn.init.zeros_(m.weight)
            torch.nn.init.zeros_(m.bias)
    x = torch.randn(1, 4, 3, 3)
    torch.testing.assert_close(se(x), 0.5 * x)  # gate sigmoid(0) = 0.5 on every channel
