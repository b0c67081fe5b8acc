"""NVIDIA semantic-segmentation's HMSA (``ocrnet.HRNet_Mscale``, arXiv:2005.10821) converts into
``hmsa_ocrnet_hrnet_w48`` with its conventions and gives the same fused multi-scale output at scales
(0.5, 1.0, 2.0).

The golden files under ``tests/fixtures/nvidia_hmsa`` were made by ``scripts/golden/nvidia_hmsa.py``
running the repository's own code (HRNet reduced to one block per stage, random weights): its
checkpoint (``state_dict`` with ``module.`` keys) and its fused and per-scale predictions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import segzoo
from segzoo.convert import convert_state, detect_converter, read_upstream
from segzoo.published import PUBLISHED

GOLDEN = Path(__file__).parent / "fixtures" / "nvidia_hmsa"
CHECKPOINT = GOLDEN / "hrnet_mscale_tiny.pth"


@pytest.fixture(scope="module")
def golden():
    return json.loads((GOLDEN / "outputs.json").read_text()), load_file(str(GOLDEN / "outputs.safetensors"))


@pytest.fixture
def model_for(golden, golden_hrnet):
    """``hmsa_ocrnet_hrnet_w48`` with the golden widths on timm's HRNet with bilinear fuse layers."""
    meta, _ = golden

    def make(*, fuse_at_input: bool = True, weights=CHECKPOINT):
        return segzoo.build(
            "hmsa_ocrnet_hrnet_w48", backbone=golden_hrnet(meta["stages"], fuse_align_corners=False),
            num_classes=meta["num_classes"], channels=meta["ocr_mid_channels"], key_channels=meta["ocr_key_channels"],
            attention_channels=meta["attention_channels"], fuse_at_input=fuse_at_input, scales=tuple(meta["scales"]),
            weights=None if weights is None else str(weights),
        ).eval()  # fmt: skip

    return make


def test_fused_multiscale_output_equals_nvidias(golden, model_for):
    meta, tensors = golden
    model = model_for()
    assert model.scales == (0.5, 1.0, 2.0)
    for i in range(2):
        x = tensors[f"input{i}"]
        with torch.no_grad():
            fused = model(x).logits
            streams = model.run_streams(x, model.scales)
        expected = tensors[f"pred{i}"]
        assert float((fused - expected).abs().max() / expected.abs().max()) < 1e-5
        assert torch.equal(fused.argmax(1), expected.argmax(1))
        for stream in streams:  # each scale's own prediction at its input size (kept for scales <= 1)
            if f"pred{i}_{stream.scale:g}" in tensors:
                own = F.interpolate(stream.logits, size=stream.input_size, mode="bilinear", align_corners=False)
                reference = tensors[f"pred{i}_{stream.scale:g}"]
                assert float((own - reference).abs().max() / reference.abs().max()) < 1e-5


def test_fusing_at_one_quarter_is_not_nvidias_order(golden, model_for):
    meta, tensors = golden
    with torch.no_grad():
        fused = model_for(fuse_at_input=False)(tensors["input0"]).logits
    expected = tensors["pred0"]
    assert float((fused - expected).abs().max() / expected.abs().max()) > 1e-3


def test_the_converter_maps_every_key(golden, model_for):
    target = model_for(weights=None).state_dict()
    state = read_upstream(CHECKPOINT)
    assert detect_converter(state) == "nvidia_hmsa"  # not HRNet-OCR's: the scale attention tells them apart
    converted = convert_state(state, "nvidia_hmsa", target)
    assert converted.unused == [] and converted.initialised == [] and set(converted.state) == set(target)
    assert "set the attention's last conv bias to 0 (the upstream conv has none)" in converted.notes


def test_the_tag_records_nvidias_file():
    spec = PUBLISHED["hmsa_ocrnet_hrnet_w48"]["nvidia_cityscapes"]
    assert spec.converter == "nvidia_hmsa" and spec.metrics == {"mIoU": 86.92} and "0.5, 1.0, 2.0" in spec.metrics_protocol
    assert spec.overrides == {"backbone": "hrnet_w48_bilinear", "fuse_at_input": True, "num_classes": 19}
    assert "outstanding-turtle" in spec.description and "BSD-3-Clause" in spec.license
