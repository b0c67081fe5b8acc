"""Dilated convolutions as a 1x1 GEMM over their taps plus shifted additions (``segzoo.bench.dilated``),
the CPU bf16 path of ``optimize`` for DeepLabV3's large ASPP rates."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import build_tiny
from torch import nn

import segzoo
from segzoo.bench.dilated import TapSumConv2d, rewrite_dilated_convs


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("dilation,size", [(8, 20), (12, 13), (36, 30), (9, (7, 40))])
def test_tap_sum_equals_the_convolution_in_float64(dilation, size, layout, monkeypatch):
    """The arithmetic of the tap path, checked in float64 (where both are exact to 1e-10), including
    dilations larger than the map (taps entirely in the zero padding), in both memory formats."""
    torch.manual_seed(0)
    h, w = (size, size) if isinstance(size, int) else size
    conv = nn.Conv2d(6, 5, 3, padding=dilation, dilation=dilation).double()
    x = torch.randn(2, 6, h, w, dtype=torch.float64).contiguous(memory_format=layout)
    tap = TapSumConv2d(conv)
    monkeypatch.setattr(TapSumConv2d, "_taps_path", lambda self, x: True)
    with torch.no_grad():
        out = tap(x)
        torch.testing.assert_close(out, conv(x), rtol=1e-10, atol=1e-10)
    assert out.dtype == torch.float64 and out.is_contiguous(memory_format=layout)


def test_outside_cpu_bf16_autocast_it_is_the_convolution_itself():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 3, 3, padding=12, dilation=12)
    x = torch.randn(1, 4, 30, 30)
    with torch.no_grad():
        assert torch.equal(TapSumConv2d(conv)(x), conv(x))


def test_under_bf16_autocast_it_stays_within_bf16_rounding_and_keeps_the_layout():
    torch.manual_seed(0)
    conv = nn.Conv2d(32, 16, 3, padding=12, dilation=12).to(memory_format=torch.channels_last)
    x = torch.randn(1, 32, 40, 40).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        reference = conv(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = TapSumConv2d(conv)(x)
    assert out.dtype == torch.bfloat16 and out.is_contiguous(memory_format=torch.channels_last)
    assert (out.float() - reference).abs().max() / reference.abs().max() < 2e-2


def test_only_stride_1_one_group_same_padded_large_dilations_are_rewritten():
    model = nn.Sequential(
        nn.Conv2d(4, 4, 3, padding=12, dilation=12),  # yes
        nn.Conv2d(4, 4, 3, padding=2, dilation=2),  # small dilation: oneDNN's kernel is fine
        nn.Conv2d(4, 4, 3, padding=12, dilation=12, groups=2),  # grouped
        nn.Conv2d(4, 4, 3, padding=12, dilation=12, stride=2),  # strided
        nn.Sequential(nn.Conv2d(4, 4, 3, padding=24, dilation=24)),  # nested: yes
    )
    assert rewrite_dilated_convs(model) == 2
    assert isinstance(model[0], TapSumConv2d) and isinstance(model[4][0], TapSumConv2d) and type(model[1]) is nn.Conv2d
    with pytest.raises(ValueError, match="stride-1, one-group"):
        TapSumConv2d(nn.Conv2d(4, 4, 3, padding=1))


def test_optimize_rewrites_the_aspp_only_for_cpu_bf16(monkeypatch):
    import importlib

    optimize_module = importlib.import_module("segzoo.bench.optimize")
    monkeypatch.setattr(optimize_module, "cpu_supports_bf16", lambda: True)
    model = build_tiny("deeplabv3_r50", seed=0)
    sample = torch.randn(1, 3, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an explicit bf16 may warn about its agreement on random weights
        fast = segzoo.optimize(model, dtype="bf16", sample=sample)
    aspp_rates = [m.dilation[0] for m in model.modules() if isinstance(m, nn.Conv2d) and m.dilation[0] >= 8]
    assert fast.segzoo_optimize.rewritten_convs == len(aspp_rates) > 0
    assert segzoo.optimize(model, dtype="fp32", sample=sample).segzoo_optimize.rewritten_convs == 0


@pytest.mark.slow  # inductor compiles the model (~30 s): pytest -m slow
def test_the_rewritten_model_compiles_with_frozen_weights(monkeypatch):
    """optimize(compile=True) on a model with the tap path: it compiles (inductor, frozen weights; a
    sliced weight buffer once failed with "Cannot set version_counter for inference tensor") and gives
    the eager bf16 result, the tap path running eagerly inside the compiled model."""
    import importlib

    optimize_module = importlib.import_module("segzoo.bench.optimize")
    monkeypatch.setattr(optimize_module, "cpu_supports_bf16", lambda: True)
    model = build_tiny("deeplabv3_r50", seed=0).eval()
    sample = torch.randn(1, 3, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = segzoo.optimize(model, dtype="bf16", sample=sample)
        compiled = segzoo.optimize(model, dtype="bf16", sample=sample, compile=True)
    assert compiled.segzoo_optimize.compiled and compiled.segzoo_optimize.rewritten_convs > 0
    with torch.no_grad():
        torch.testing.assert_close(compiled(sample).logits, eager(sample).logits, atol=0.05, rtol=0.05)
