"""HRNet-Semantic-Segmentation's HRNet + OCR converts into ``ocrnet_hrnet_w48`` on the ``*_seg`` trunk (bilinear
fuse upsampling) with ``align_corners=True``, and computes what its own code computes.

The golden files under ``tests/fixtures/hrnet_ocr`` were made by ``scripts/golden/hrnet_ocr.py`` running the
repository's ``seg_hrnet_ocr`` (its Cityscapes W48 + OCR configuration with one block per stage, branch
widths 4/8/16/32, random weights): the checkpoint as its trainer writes it (``model.*`` + ``loss.*``)
and its auxiliary, final and upsampled logits on two inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import segzoo
from segzoo.convert import convert_state, read_upstream
from segzoo.published import PUBLISHED

GOLDEN = Path(__file__).parent / "fixtures" / "hrnet_ocr"
CHECKPOINT = GOLDEN / "hrnet_ocr_tiny.pth"


@pytest.fixture(scope="module")
def golden():
    return json.loads((GOLDEN / "outputs.json").read_text()), load_file(str(GOLDEN / "outputs.safetensors"))


@pytest.fixture
def tiny_trunk(golden, golden_hrnet):
    """The golden configuration's HRNet: ``make(bilinear=True)`` with the segmentation repository's fuse."""
    meta, _ = golden
    return lambda *, bilinear=True: golden_hrnet(meta["stages"], fuse_align_corners=True if bilinear else None)


def _model(meta, trunk, *, align_corners: bool = True, weights=CHECKPOINT):
    return segzoo.build("ocrnet_hrnet_w48", backbone=trunk, num_classes=meta["num_classes"], channels=meta["ocr_mid_channels"],
                        key_channels=meta["ocr_key_channels"], align_corners=align_corners,
                        weights=None if weights is None else str(weights)).eval()  # fmt: skip


def test_converted_hrnet_ocr_computes_what_its_repository_computes(golden, tiny_trunk):
    meta, tensors = golden
    model = _model(meta, tiny_trunk())
    for i in range(2):
        x = tensors[f"input{i}"]
        with torch.no_grad():
            logits = model(x).logits
            heads = model.decode_head(model.extract_features(x))
        expected = tensors[f"logits{i}"]
        assert float((logits - expected).abs().max() / expected.abs().max()) < 1e-5
        assert torch.equal(logits.argmax(1), expected.argmax(1))
        torch.testing.assert_close(heads["coarse"], tensors[f"aux{i}"], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(heads["logits"], tensors[f"out{i}"], rtol=1e-5, atol=1e-5)


def test_align_corners_and_the_bilinear_fuse_are_what_the_weights_need(golden, tiny_trunk):
    meta, tensors = golden
    x, expected = tensors["input0"], tensors["logits0"]
    for model in (_model(meta, tiny_trunk(), align_corners=False), _model(meta, tiny_trunk(bilinear=False))):
        with torch.no_grad():
            assert float((model(x).logits - expected).abs().max() / expected.abs().max()) > 1e-2


def test_the_converter_drops_the_loss_and_folds_the_conv_biases(golden, tiny_trunk):
    meta, _ = golden
    target = _model(meta, tiny_trunk(), weights=None).state_dict()
    converted = convert_state(read_upstream(CHECKPOINT), "hrnet_ocr", target)
    assert converted.unused == [] and converted.initialised == [] and set(converted.state) == set(target)
    assert converted.notes == [
        "dropped the loss's loss.criterion.weight (a training setting, not part of the network)",
        "folded the conv biases of decode_head.bottleneck, decode_head.aux_conv into their BatchNorm's running mean",
    ]


def test_the_tags_record_the_repositorys_files():
    cityscapes = PUBLISHED["ocrnet_hrnet_w48"]["hrnet_cityscapes"]
    assert cityscapes.url.endswith("HRNet-OCR/hrnet_ocr_cs_8162_torch11.pth") and cityscapes.converter == "hrnet_ocr"
    assert cityscapes.overrides == {"backbone": "hrnet_w48_seg", "align_corners": True, "num_classes": 19}
    assert cityscapes.metrics == {"mIoU": 81.6} and "single scale, no flip" in cityscapes.metrics_protocol
    assert cityscapes.hash_prefix is None and "MIT" in cityscapes.license
    assert PUBLISHED["ocrnet_hrnet_w48"]["hrnet_ade20k"].num_classes == 150
