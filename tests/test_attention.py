"""Attention and context blocks: parity with plain references, identity init, shapes, gradients."""

from __future__ import annotations

import pytest
import torch

import segzoo.layers.attention.functional as functional
from segzoo.layers import (
    ChannelAttention,
    DualAttention,
    NonLocal2d,
    ObjectContext,
    PositionAttention,
    SqueezeExcitation,
    create_attention,
    list_attention,
    resolve_attention,
)
from segzoo.layers.attention import attend, attend_reference


@pytest.mark.parametrize("d, e", [(8, 8), (4, 16), (3, 7)])
def test_attend_matches_reference(d, e, monkeypatch):
    monkeypatch.setattr(functional, "_CHUNK_BYTES", 4 * 50 * 10)  # force several chunks on the fallback path
    q, k, v = torch.randn(2, 37, d), torch.randn(2, 50, d), torch.randn(2, 50, e)
    for scale in (1.0, d**-0.5):
        torch.testing.assert_close(attend(q, k, v, scale=scale), attend_reference(q, k, v, scale=scale), atol=1e-5, rtol=1e-5)


def _position_reference(module: PositionAttention, x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    q = module.query(x).flatten(2)  # (B, C', N)
    k = module.key(x).flatten(2)
    v = module.value(x).flatten(2)  # (B, C, N)
    affinity = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, N, N)
    return module.gamma * (v @ affinity.transpose(1, 2)).view(b, c, h, w) + x


def test_position_attention_matches_naive_reference():
    module = PositionAttention(16)
    with torch.no_grad():
        module.gamma.fill_(0.7)
    x = torch.randn(2, 16, 9, 13)
    assert (module(x) - _position_reference(module, x)).abs().max() < 1e-4


def test_channel_attention_matches_formula():
    module = ChannelAttention(6)
    with torch.no_grad():
        module.beta.fill_(0.5)
    x = torch.randn(2, 6, 5, 7)
    flat = x.flatten(2)
    energy = flat @ flat.transpose(1, 2)
    attention = torch.softmax(energy.max(-1, keepdim=True).values - energy, dim=-1)
    expected = 0.5 * (attention @ flat).view_as(x) + x
    assert (module(x) - expected).abs().max() < 1e-4


@pytest.mark.parametrize("sub_sample", [False, True])
def test_nonlocal_matches_naive_reference(sub_sample):
    module = NonLocal2d(8, sub_sample=sub_sample).eval()
    with torch.no_grad():
        module.norm.weight.fill_(1.0)
        module.norm.running_mean.uniform_(-0.1, 0.1)
    x = torch.randn(2, 8, 9, 11)
    theta = module.theta(x).flatten(2).transpose(1, 2)
    phi, g = module.phi(x), module.g(x)
    if sub_sample:
        phi, g = torch.nn.functional.max_pool2d(phi, 2, ceil_mode=True), torch.nn.functional.max_pool2d(g, 2, ceil_mode=True)
    y = torch.softmax(theta @ phi.flatten(2), dim=-1) @ g.flatten(2).transpose(1, 2)  # (B, N, C/2)
    expected = module.norm(module.out(y.transpose(1, 2).reshape(2, 4, 9, 11))) + x
    assert (module(x) - expected).abs().max() < 1e-4


def test_identity_at_initialisation():
    x = torch.randn(2, 16, 6, 7)
    assert torch.equal(PositionAttention(16)(x), x)
    assert torch.equal(ChannelAttention(16)(x), x)
    assert torch.equal(NonLocal2d(16).train()(x), x)
    assert torch.equal(NonLocal2d(16, norm=None)(x), x)


def test_se_gate_known_answer():
    se = SqueezeExcitation(32, reduction=16)
    assert se.fc1.out_channels == 8  # max(32 // 16, 8)
    assert SqueezeExcitation(512).fc1.out_channels == 32
    with torch.no_grad():
        for p in se.parameters():
            p.zero_()
    x = torch.randn(2, 32, 4, 4)
    torch.testing.assert_close(se(x), 0.5 * x)  # sigmoid(0) = 0.5


def test_ocr_soft_regions_and_gradients():
    ocr = ObjectContext(16, channels=12, key_channels=8).train()
    features = torch.randn(2, 16, 10, 12, requires_grad=True)
    coarse = torch.randn(2, 5, 5, 6, requires_grad=True)  # coarser logits are resized to the features
    out = ocr(features, coarse)
    assert out.shape == (2, 12, 10, 12)
    out.square().mean().backward()
    assert features.grad.abs().sum() > 0 and coarse.grad.abs().sum() > 0


def test_ocr_matches_step_by_step_reference():
    ocr = ObjectContext(6, channels=4, key_channels=3).eval()
    x, coarse = torch.randn(1, 6, 4, 5), torch.randn(1, 3, 4, 5)
    m = torch.softmax(coarse.flatten(2), dim=2)  # (1, K, N) soft regions
    f = m @ x.flatten(2).transpose(1, 2)  # (1, K, C) region representations
    objects = f.transpose(1, 2).unsqueeze(-1)
    q = ocr.pixel_proj(x).flatten(2).transpose(1, 2)
    k = ocr.object_proj(objects).flatten(2).transpose(1, 2)
    v = ocr.object_down(objects).flatten(2).transpose(1, 2)
    w = torch.softmax(q @ k.transpose(1, 2) / 3**0.5, dim=-1)  # (1, N, K) pixel-region relation
    y = ocr.context_up((w @ v).transpose(1, 2).reshape(1, 3, 4, 5))
    expected = ocr.fuse(torch.cat([y, x], dim=1))
    assert (ocr(x, coarse) - expected).abs().max() < 1e-5


@pytest.mark.parametrize("name", ["se", "danet", "nonlocal", "ppm", "aspp"])
def test_blocks_batch_one_train_channels_last_and_gradients(name):
    block = create_attention(name, 16).train()
    x = torch.randn(1, 16, 11, 13).to(memory_format=torch.channels_last).requires_grad_()
    out = block(x)
    fused = out  # every block returns a tensor (DANet's branches: DualAttention.branches)
    assert fused.shape[0] == 1 and fused.shape[-2:] == (11, 13)
    fused.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    contiguous = create_attention(name, 16).eval()
    contiguous.load_state_dict(block.state_dict())
    block.eval()
    a, b = block(x.detach()), contiguous(x.detach().contiguous())
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_dual_attention_returns_branches():
    out = DualAttention(16, channels=8).branches(torch.randn(2, 16, 5, 5))
    torch.testing.assert_close(out.fused, out.position + out.channel)


def test_registry_errors_and_injection():
    assert set(list_attention()) >= {"se", "danet", "nonlocal", "ocr", "ppm", "aspp"}
    with pytest.raises(KeyError, match="Did you mean 'nonlocal'"):
        create_attention("non_local", 8)
    with pytest.raises(TypeError, match="reduction"):
        create_attention("se", 8, reductoin=4)
    module = SqueezeExcitation(8)
    assert resolve_attention(module, 8) is module
    assert isinstance(resolve_attention(None, 8), torch.nn.Identity)
    assert isinstance(resolve_attention("se", 8, reduction=2), SqueezeExcitation)
