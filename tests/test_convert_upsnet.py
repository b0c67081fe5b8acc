"""UPSNet's checkpoints convert into ``upsnet_r50`` (its ``upsnet_coco`` tag) and compute what UPSNet computes.

The golden files under ``tests/fixtures/upsnet`` were made by ``scripts/golden/upsnet_coco.py``
running UPSNet's own source (``resnet_50_upsnet``, COCO configuration, ``fpn_feature_dim=64``,
3 thing + 4 stuff classes, random weights), with its two CUDA operators (deformable conv,
RoIAlign) re-expressed from its kernels. UPSNet hard-codes ResNet-50's widths, so the checkpoint
(30M parameters) is not committed: the manifest lists its keys and shapes and
``seeded_state`` regenerates the same tensors (checked against recorded checksums). The tests
save them in UPSNet's layout (a plain ``.pth`` state dict), load them through the tag and compare
the FPN levels, the RPN outputs, the semantic logits, and the box and mask heads on fixed RoIs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from seeded_state import checksums, seeded_state

import segzoo
from segzoo.convert import convert_state, detect_converter
from segzoo.errors import WeightsLicenseWarning
from segzoo.models.panoptic.detector import pyramid_dict
from segzoo.published import PUBLISHED

GOLDEN = Path(__file__).parent / "fixtures" / "upsnet"
THINGS, STUFF = 3, 4
TINY = dict(fpn_channels=64, num_classes=THINGS + STUFF, thing_ids=tuple(range(THINGS)), stuff_ids=tuple(range(THINGS, THINGS + STUFF)))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.fixture(scope="module")
def golden():
    return json.loads((GOLDEN / "manifest.json").read_text()), load_file(str(GOLDEN / "outputs.safetensors"))


@pytest.fixture(scope="module")
def upstream_state(golden):
    record, _ = golden
    state = seeded_state(record["manifest"], record["seed"], offset_gain=record["offset_gain"])
    assert checksums(state) == pytest.approx(record["checksums"], rel=1e-9)  # the tensors UPSNet ran with
    return state


@pytest.fixture(scope="module")
def checkpoint(upstream_state, tmp_path_factory):
    path = tmp_path_factory.mktemp("upsnet") / "upsnet_tiny.pth"
    torch.save(upstream_state, path)  # UPSNet's layout: a plain state dict of its model
    return path


@pytest.fixture(scope="module")
def converted(checkpoint):
    with pytest.warns(WeightsLicenseWarning, match="Uber Non-Commercial License"):
        model = segzoo.build("upsnet_r50.upsnet_coco", weights=str(checkpoint), **TINY)
    return model.eval()


@pytest.fixture(scope="module")
def pyramid(golden, converted):
    _, out = golden
    with torch.no_grad():  # UPSNet's input is BGR with its mean subtracted; segzoo's stem reads RGB
        return converted.neck(converted.backbone(out["image_bgr"].flip(1)))


def test_fpn_and_rpn_outputs_equal_upsnets(golden, converted, pyramid):
    _, out = golden
    with torch.no_grad():
        objectness, deltas = converted.rpn.head(pyramid)
    for i in range(5):  # P2-P6 (P6: max-pool of P5, as UPSNet's fpn_p6)
        assert _rel(pyramid[i], out[f"fpn.{i}"]) < 1e-5, i
        assert _rel(objectness[i], out[f"rpn_objectness.{i}"]) < 1e-5, i
        assert _rel(deltas[i], out[f"rpn_deltas.{i}"]) < 1e-5, i


def test_semantic_logits_equal_upsnets_with_things_first(golden, converted, pyramid):
    _, out = golden
    upsnet_row = torch.tensor([STUFF + i for i in range(THINGS)] + list(range(STUFF)))  # segzoo row -> UPSNet row
    with torch.no_grad():
        logits, _ = converted.semantic_head(pyramid[:4])
    assert _rel(logits, out["fcn_score"][:, upsnet_row]) < 1e-5
    full = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)  # UPSNet's fcn_output
    assert _rel(full, out["fcn_output"][:, upsnet_row]) < 1e-5
    assert torch.equal(logits.argmax(1), out["fcn_score"][:, upsnet_row].argmax(1))


def test_the_deformable_offsets_matter_for_the_semantic_logits(golden, converted, pyramid):
    """Parity is not reached by ignoring the offsets: zeroing them moves the logits by far more than the tolerance."""
    _, out = golden
    assert json.loads((GOLDEN / "manifest.json").read_text())["semantic_offsets_abs_mean"] > 0.5  # about a pixel
    head = converted.semantic_head
    saved = {k: v.clone() for k, v in head.state_dict().items()}
    try:
        with torch.no_grad():
            for block in head.subnets[0]:
                block[0].offset.weight.zero_()
                block[0].offset.bias.zero_()
            plain, _ = head(pyramid[:4])
    finally:
        head.load_state_dict(saved)
    upsnet_row = torch.tensor([STUFF + i for i in range(THINGS)] + list(range(STUFF)))
    assert _rel(plain, out["fcn_score"][:, upsnet_row]) > 1e-2


def test_box_and_mask_heads_equal_upsnets_on_the_same_rois(golden, converted, pyramid):
    _, out = golden
    heads = converted.roi_heads
    features, boxes = pyramid_dict(pyramid), [out["rois"][:, 1:]]
    sizes = [tuple(out["image_bgr"].shape[-2:])]
    with torch.no_grad():
        cls_score, bbox_pred = heads.box_predictor(heads.box_head(heads.box_roi_pool(features, boxes, sizes)))
        mask_score = heads.mask_predictor(heads.mask_head(heads.mask_roi_pool(features, boxes, sizes)))
    assert _rel(cls_score, out["cls_score"]) < 1e-5  # background first in both
    assert _rel(bbox_pred, out["bbox_pred"]) < 1e-5
    assert _rel(mask_score, out["mask_score"]) < 1e-5


def test_predict_reads_rgb_in_0_1_with_the_tags_normalisation(golden, converted):
    """Through ``predict`` (RGB in 0-1, the tag's mean and std 1/255), the semantic argmax is UPSNet's."""
    _, out = golden
    mean_rgb = torch.tensor([122.7717, 115.9465, 102.9801]).view(1, 3, 1, 1)
    image = (out["image_bgr"].flip(1) + mean_rgb) / 255.0
    with torch.no_grad():
        result = converted.predict(image)[0]
    upsnet_row = torch.tensor([STUFF + i for i in range(THINGS)] + list(range(STUFF)))
    segzoo_id = torch.argsort(upsnet_row)  # UPSNet row -> segzoo train id
    assert torch.equal(result.sem_seg, segzoo_id[out["fcn_output"][0].argmax(0)])
    assert result.panoptic_seg.shape == image.shape[-2:]
    assert {s["id"] for s in result.segments_info} <= set(result.panoptic_seg.unique().tolist())


def test_the_converter_maps_every_key_and_reports_what_it_changed(upstream_state, converted):
    assert detect_converter(upstream_state) == "upsnet"
    result = convert_state(upstream_state, "upsnet", converted.state_dict())
    assert result.unused == [] and result.initialised == []
    assert set(result.state) == set(converted.state_dict())
    notes = " | ".join(result.notes)
    assert "BGR" in notes and "3 thing rows before its 4 stuff rows" in notes
    wrapped = {f"module.{k}": v for k, v in upstream_state.items()}  # saved from DataParallel
    assert detect_converter(wrapped) == "upsnet"
    assert set(convert_state(wrapped, "upsnet", converted.state_dict()).state) == set(result.state)


def test_a_checkpoint_with_fpn_gap_needs_fpn_context(checkpoint):
    with pytest.raises(Exception, match="fpn_context=True"):
        segzoo.build("upsnet_r50", backbone="resnet50_msra", weights=str(checkpoint), **TINY)


def test_the_tag_records_upsnets_file_licence_and_metrics():
    spec = PUBLISHED["upsnet_r50"]["upsnet_coco"]
    assert spec.url.endswith("/upsnet_resnet_50_coco_90000.pth") and spec.converter == "upsnet"
    assert "Non-Commercial" in spec.license and "non-commercial purposes only" in spec.notice
    assert spec.metrics == {"PQ": 42.5, "SQ": 78.0, "RQ": 52.4, "PQ_th": 48.5, "PQ_st": 33.4}
    assert "COCO val2017" in spec.metrics_protocol and "single scale" in spec.metrics_protocol
    assert spec.overrides["backbone"] == "resnet50_msra" and spec.overrides["fpn_context"] is True
    assert spec.overrides["mean"] == pytest.approx((122.7717 / 255, 115.9465 / 255, 102.9801 / 255))
    assert spec.preprocessing.color == "BGR" and spec.preprocessing.std == (1.0, 1.0, 1.0)
    assert len(spec.class_names) == 133 and spec.class_names[0] == "person" and spec.category_ids[80] == 92
