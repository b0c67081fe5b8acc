"""Any attention/context block goes into a head with one argument (``FCNHead(context=...)``), and
every block returns a tensor (DANet's branches through ``DualAttention.branches``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segzoo.heads import FCNHead
from segzoo.layers import DualAttention, create_attention


@pytest.mark.parametrize("name", ["se", "danet", "nonlocal", "ppm", "aspp"])
def test_fcn_head_takes_a_context_block_by_name(name):
    head = FCNHead(32, num_classes=5, context=name).eval()
    block = head.context
    assert type(block) is type(create_attention(name, 8))  # built for the conv width (32 // 4 = 8)
    assert head.classifier.in_channels == getattr(block, "out_channels", 8)
    out = head([torch.randn(2, 32, 9, 11)])
    assert out.shape == (2, 5, 9, 11)


def test_fcn_head_context_changes_the_output_and_takes_a_module():
    torch.manual_seed(0)
    plain = FCNHead(16, num_classes=3).eval()
    marker = nn.Conv2d(4, 4, 1)
    nn.init.zeros_(marker.weight)
    nn.init.zeros_(marker.bias)
    with_block = FCNHead(16, num_classes=3, context=marker).eval()
    with_block.load_state_dict(plain.state_dict(), strict=False)
    x = [torch.randn(1, 16, 6, 6)]
    with torch.no_grad():
        assert with_block.context is marker
        # the zero block wipes the features: only the classifier's bias is left at every pixel
        expected = with_block.classifier.bias.view(1, 3, 1, 1).expand(1, 3, 6, 6)
        assert torch.allclose(with_block(x), expected)
        assert not torch.allclose(plain(x), expected)


def test_fcn_head_context_errors():
    with pytest.raises(KeyError, match="nonlocal"):
        FCNHead(16, num_classes=3, context="nonlocl")
    with pytest.raises(ValueError, match="OCRHead"):
        FCNHead(16, num_classes=3, context="ocr")


def test_dual_attention_returns_the_sum_of_its_branches():
    block = DualAttention(16, channels=8).eval()
    x = torch.randn(2, 16, 5, 7)
    with torch.no_grad():
        out, parts = block(x), block.branches(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 8, 5, 7)
    assert torch.equal(out, parts.fused) and torch.allclose(parts.fused, parts.position + parts.channel)
