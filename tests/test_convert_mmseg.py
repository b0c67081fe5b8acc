"""MMSegmentation's PSPNet, FCN and DeepLabV3 R50-D8 convert into ``pspnet_r50``, ``fcn_r50`` and
``deeplabv3_r50`` on the ResNetV1c trunk with MMSegmentation's head layouts, and compute what
MMSegmentation computes.

The golden files under ``tests/fixtures/mmseg_<method>`` were made by ``scripts/golden/mmseg_models.py``
running MMSegmentation's own code (``<method>_r50-d8_4xb4-80k_ade20k-512x512`` with narrow widths and
random weights): its checkpoint in MMSegmentation's layout (``meta`` + ``state_dict``) and the decode
and auxiliary heads' logits on two inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import segzoo
from segzoo.backbones import TimmBackbone
from segzoo.convert import convert_state, read_upstream
from segzoo.published import PUBLISHED

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "mmseg_pspnet"
CHECKPOINT = GOLDEN / "pspnet_r50-d8_tiny.pth"
RECIPES = {"pspnet": "pspnet_r50", "fcn": "fcn_r50", "deeplabv3": "deeplabv3_r50", "danet": "danet_r50",
           "nonlocal": "nonlocal_r50", "deeplabv3plus": "deeplabv3p_r50"}  # fmt: skip
METHODS = {  # method -> (recipe, the tag's head options without the trunk, classes and width)
    method: (recipe, {k: v for k, v in PUBLISHED[recipe]["mmseg_ade20k"].overrides.items()
                      if k not in ("backbone", "num_classes", "channels")})
    for method, recipe in RECIPES.items()
}  # fmt: skip


def _golden(method: str):
    folder = FIXTURES / f"mmseg_{method}"
    return json.loads((folder / "outputs.json").read_text()), load_file(str(folder / "outputs.safetensors"))


@pytest.fixture(scope="module")
def golden():
    return _golden("pspnet")


def _model(meta: dict, weights: Path | None = CHECKPOINT, method: str = "pspnet"):
    """The method's recipe with the golden widths: timm's resnet50c (ResNetV1c) at output stride 8."""
    widths = tuple(meta["base_channels"] * 2**i for i in range(4))
    trunk = TimmBackbone(model_name="resnet50c", output_stride=8,
                         timm_args={"channels": widths, "stem_width": meta["stem_channels"] // 2})  # fmt: skip
    recipe, options = METHODS[method]
    if method not in ("fcn", "danet"):  # FCN's and DANet's head width is C/4 of their input, like MMSegmentation's
        options = {**options, "channels": meta["head_channels"]}
    return segzoo.build(recipe, backbone=trunk, num_classes=meta["num_classes"], **options,
                        weights=None if weights is None else str(weights)).eval()  # fmt: skip


@pytest.mark.parametrize("method", sorted(METHODS))
def test_converted_model_computes_what_mmsegmentation_computes(method):
    meta, tensors = _golden(method)
    model = _model(meta, FIXTURES / f"mmseg_{method}" / f"{method}_r50-d8_tiny.pth", method)
    for i in range(2):
        x = tensors[f"input{i}"]
        with torch.no_grad():
            logits = model(x).logits
            aux = model.aux_head(model.extract_features(x))
        expected = tensors[f"logits{i}"]
        assert logits.shape == expected.shape
        assert float((logits - expected).abs().max() / expected.abs().max()) < 1e-5
        assert torch.equal(logits.argmax(1), expected.argmax(1))
        torch.testing.assert_close(aux, tensors[f"aux{i}"], rtol=1e-5, atol=1e-6)


def test_the_converter_folds_the_bin1_batchnorm_and_uses_every_key(golden):
    meta, _ = golden
    target = _model(meta, weights=None).state_dict()
    state = read_upstream(CHECKPOINT)  # {"meta", "state_dict"} unwrapped
    converted = convert_state(state, "mmseg", target)
    assert converted.unused == [] and converted.initialised == []
    assert converted.notes == ["folded the BatchNorm of pooling branch(es) [0] into their conv (segzoo's bin-1 branch has none)"]
    assert set(converted.state) == set(target)


def test_the_tags_record_mmsegmentations_files():
    ade, cityscapes = PUBLISHED["pspnet_r50"]["mmseg_ade20k"], PUBLISHED["pspnet_r50"]["mmseg_cityscapes"]
    assert ade.url.endswith("pspnet_r50-d8_512x512_80k_ade20k/pspnet_r50-d8_512x512_80k_ade20k_20200615_014128-15a8b914.pth")
    assert (ade.hash_prefix, ade.hash_algorithm, ade.converter) == ("15a8b914", "sha256", "mmseg")
    assert ade.overrides == {"backbone": "resnet50_v1c", "num_classes": 150} and ade.class_names[:2] == ("wall", "building")
    assert ade.category_ids[0] == 1 and ade.metrics == {"mIoU": 41.13, "mIoU_ms_flip": 41.94}
    assert cityscapes.num_classes == 19 and cityscapes.category_ids[:3] == (7, 8, 11) and cityscapes.metrics["mIoU"] == 78.55
    assert "reported by MMSegmentation" in ade.metrics_protocol and "Apache-2.0" in ade.license


def test_bad_mmseg_files_name_the_file_and_the_key(golden, tmp_path):
    meta, _ = golden
    checkpoint = torch.load(CHECKPOINT, weights_only=True)
    checkpoint["state_dict"]["decode_head.conv_seg.weight"] = torch.zeros(3, 3, 1, 1)
    shaped = tmp_path / "shaped.pth"
    torch.save(checkpoint, shaped)
    with pytest.raises(segzoo.WeightsError, match=r"shaped\.pth .*mis-shaped keys: decode_head\.classifier\.weight"):
        _model(meta, weights=shaped)
    checkpoint = torch.load(CHECKPOINT, weights_only=True)
    checkpoint["state_dict"]["decode_head.extra.weight"] = torch.zeros(1)
    extra = tmp_path / "extra.pth"
    torch.save(checkpoint, extra)
    with pytest.raises(segzoo.WeightsError, match=r"extra\.pth: converter 'mmseg' .*decode_head\.extra\.weight"):
        _model(meta, weights=extra)


def test_deeplabv3_folds_the_image_pooling_batchnorm():
    meta, _ = _golden("deeplabv3")
    target = _model(meta, weights=None, method="deeplabv3").state_dict()
    converted = convert_state(read_upstream(FIXTURES / "mmseg_deeplabv3" / "deeplabv3_r50-d8_tiny.pth"), "mmseg", target)
    assert converted.unused == [] and set(converted.state) == set(target)
    assert converted.notes == ["folded the BatchNorm of the ASPP image-pooling branch into its conv (segzoo's has none)"]
    fcn = PUBLISHED["fcn_r50"]["mmseg_cityscapes"]
    assert fcn.overrides == {"backbone": "resnet50_v1c", "num_classes": 19, "head_convs": 2, "concat_input": True}
    assert fcn.hash_prefix == "03aa804d" and fcn.metrics == {"mIoU": 73.61, "mIoU_ms_flip": 74.24}
    assert PUBLISHED["deeplabv3_r50"]["mmseg_ade20k"].overrides["head_layout"] == "mmseg"
    nonlocal_ade = PUBLISHED["nonlocal_r50"]["mmseg_ade20k"]
    assert nonlocal_ade.overrides["scaled_affinity"] is True and "/nonlocal_net/" in nonlocal_ade.url


def test_ocrnet_on_hrnet_computes_what_mmsegmentation_computes(golden_hrnet):
    """OCRNet: MMSegmentation's HRNet (bilinear fuse, no align_corners) with the FCN + OCR head cascade."""
    meta, tensors = _golden("ocrnet")
    widths = tuple(meta["hrnet_widths"])
    stages = {"STAGE1": (1, [1], [8]), **{f"STAGE{i}": (1, [1] * i, list(widths[:i])) for i in (2, 3, 4)}}
    model = segzoo.build("ocrnet_hrnet_w18", backbone=golden_hrnet(stages, fuse_align_corners=False),
                         num_classes=meta["num_classes"], channels=meta["ocr_channels"], key_channels=meta["ocr_key_channels"],
                         weights=str(FIXTURES / "mmseg_ocrnet" / "ocrnet_hr18_tiny.pth")).eval()  # fmt: skip
    for i in range(2):
        x = tensors[f"input{i}"]
        with torch.no_grad():
            logits = model(x).logits
            coarse = model.decode_head(model.extract_features(x))["coarse"]
        expected = tensors[f"logits{i}"]
        assert float((logits - expected).abs().max() / expected.abs().max()) < 1e-5
        assert torch.equal(logits.argmax(1), expected.argmax(1))
        torch.testing.assert_close(coarse, tensors[f"aux{i}"], rtol=1e-5, atol=1e-6)
    spec = PUBLISHED["ocrnet_hrnet_w48"]["mmseg_cityscapes"]
    assert spec.overrides["backbone"] == "hrnet_w48_bilinear" and spec.metrics == {"mIoU": 80.7, "mIoU_ms_flip": 81.87}
