"""Detectron2's Panoptic FPN converts into ``panoptic_fpn_r50`` built with Detectron2's conventions and
computes what Detectron2 computes.

The golden files under ``tests/fixtures/detectron2_panoptic_fpn`` were made by
``scripts/golden/detectron2_panoptic_fpn.py`` running Detectron2's own source (a small
``panoptic_fpn_R_50_3x`` configuration, random weights): its ``.pkl`` checkpoint in Detectron2's
model-zoo layout and its outputs on two images batched together. These tests convert the
checkpoint and compare every stage: detections, mask probabilities, pasted masks, semantic
logits and the panoptic maps with their segments.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import segzoo
from segzoo.backbones import TimmBackbone, stride_in_1x1
from segzoo.convert import convert_state, read_upstream
from segzoo.fusers.panoptic import HeuristicFuser
from segzoo.models.panoptic.anchors import ExactAnchorGenerator
from segzoo.models.panoptic.mask_paste import paste_masks_by_sampling
from segzoo.models.panoptic.poolers import LevelRoIAlign
from segzoo.models.panoptic.targets import batch_images
from segzoo.published import PUBLISHED

GOLDEN = Path(__file__).parent / "fixtures" / "detectron2_panoptic_fpn"
PKL = GOLDEN / "model_final_tiny.pkl"


@pytest.fixture(scope="module")
def golden():
    meta = json.loads((GOLDEN / "outputs.json").read_text())
    return meta, load_file(str(GOLDEN / "outputs.safetensors"))


def _model(cfg: dict, weights: str | Path | None = PKL) -> segzoo.models.PanopticModel:
    """``panoptic_fpn_r50`` with the golden configuration's widths and the ``d2_coco`` tag's conventions."""
    things, stuff = cfg["num_thing_classes"], cfg["num_sem_classes"] - 1
    widths = tuple(cfg["width_per_group"] * 2**i for i in range(4))  # Detectron2's bottleneck widths per stage
    trunk = stride_in_1x1(TimmBackbone(model_name="resnet50", timm_args={"channels": widths}))
    overrides = dict(PUBLISHED["panoptic_fpn_r50"]["d2_coco"].overrides)
    overrides.pop("backbone")
    return segzoo.build(
        "panoptic_fpn_r50", backbone=trunk, num_classes=things + stuff, thing_ids=tuple(range(things)),
        stuff_ids=tuple(range(things, things + stuff)), fpn_channels=cfg["fpn_channels"], box_channels=cfg["box_channels"],
        mask_channels=cfg["mask_channels"], semantic_channels=cfg["sem_channels"],
        fuser=HeuristicFuser(overlap_threshold=cfg["overlap_thresh"], stuff_area_limit=cfg["stuff_area_limit"],
                             score_threshold=cfg["instances_score_thresh"]),
        weights=None if weights is None else str(weights), **overrides,
    ).eval()  # fmt: skip


def _inputs(cfg: dict, tensors: dict) -> list[torch.Tensor]:
    """Detectron2's normalised BGR images, in RGB order: what the converted model reads."""
    mean = torch.tensor(cfg["pixel_mean"])[:, None, None]
    std = torch.tensor(cfg["pixel_std"])[:, None, None]
    return [((tensors[f"image{i}"].float() - mean) / std).flip(0) for i in range(2)]


@pytest.fixture(scope="module")
def converted(golden):
    meta, tensors = golden
    model = _model(meta["config"])
    images = _inputs(meta["config"], tensors)
    with torch.no_grad():
        raw = model(images)  # one batch, padded together as Detectron2 batched them
        predictions = model.postprocess(raw, batch_images(images).tensors)
    return model, raw, predictions


def test_detections_equal_detectron2s(golden, converted):
    meta, tensors = golden
    _, raw, _ = converted
    for i, det in enumerate(raw.detections):
        boxes, scores, classes = tensors[f"boxes{i}"], tensors[f"scores{i}"], tensors[f"classes{i}"]
        assert len(det["boxes"]) == len(boxes) == meta["images"][i]["detections"] > 50
        torch.testing.assert_close(det["boxes"], boxes, atol=1e-4, rtol=0)
        torch.testing.assert_close(det["scores"], scores, atol=1e-5, rtol=0)
        assert torch.equal(det["labels"], classes)  # thing train ids 0..2 are Detectron2's contiguous ids
        torch.testing.assert_close(torch.sigmoid(det["mask_logits"]), tensors[f"mask_probs{i}"], atol=1e-5, rtol=0)
    assert {int(c) for i in range(2) for c in tensors[f"classes{i}"]} == {0, 1, 2}  # every class row is exercised


def test_pasted_masks_and_semantic_logits_equal_detectron2s(golden, converted):
    meta, tensors = golden
    _, _, predictions = converted
    things = meta["config"]["num_thing_classes"]
    for i, pred in enumerate(predictions):
        h, w = tensors[f"image{i}"].shape[-2:]
        packed = tensors[f"masks{i}"].numpy()
        n = len(tensors[f"boxes{i}"])
        masks = torch.from_numpy(np.unpackbits(packed)[: n * h * w].reshape(n, h, w).astype(bool))
        assert torch.equal(pred.instances["masks"] >= 0.5, masks)
        # Detectron2's semantic rows: "things", then stuff; segzoo's: one row per thing class, then stuff.
        sem = tensors[f"sem_seg{i}"]
        assert torch.equal(pred.sem_seg, torch.where(sem.argmax(0) == 0, 0, sem.argmax(0) + things - 1))


def _semantic_logits_close(model, images, tensors, things):
    with torch.no_grad():
        raw = model(images)
    up = torch.nn.functional.interpolate(raw.sem_logits, scale_factor=4, mode="bilinear", align_corners=False)
    for i, im in enumerate(images):
        ours = up[i, :, : im.shape[-2], : im.shape[-1]]
        theirs = tensors[f"sem_seg{i}"]
        ours = ours[things - 1 :]  # a "things" row, then the stuff rows
        assert float((ours - theirs).abs().max() / theirs.abs().max()) < 1e-5  # relative to the logits' scale
        assert torch.equal(ours.argmax(0), theirs.argmax(0))


def test_semantic_logits_equal_detectron2s(golden, converted):
    meta, tensors = golden
    model = converted[0]
    _semantic_logits_close(model, _inputs(meta["config"], tensors), tensors, meta["config"]["num_thing_classes"])


def test_panoptic_maps_and_segments_equal_detectron2s(golden, converted):
    meta, tensors = golden
    _, _, predictions = converted
    things = meta["config"]["num_thing_classes"]
    for i, pred in enumerate(predictions):
        assert torch.equal(pred.panoptic_seg, tensors[f"panoptic{i}"])  # same ids: paste order, then stuff by class
        theirs = meta["images"][i]["segments_info"]
        assert len(pred.segments_info) == len(theirs) > 10
        assert sum(s["isthing"] for s in theirs) < len(theirs)  # stuff segments too
        for ours, d2 in zip(pred.segments_info, theirs):
            category = d2["category_id"] if d2["isthing"] else d2["category_id"] + things - 1
            assert (ours["id"], ours["isthing"], ours["category_id"]) == (d2["id"], d2["isthing"], category)
            if d2["isthing"]:
                assert ours["instance_id"] == d2["instance_id"] and ours["score"] == pytest.approx(d2["score"], abs=1e-5)


def test_the_converter_reports_what_it_changed(golden):
    meta, _ = golden
    model = _model(meta["config"], weights=None)
    converted = convert_state(read_upstream(PKL), "detectron2_panoptic_fpn", model.state_dict())
    assert converted.unused == [] and converted.initialised == []
    notes = " | ".join(converted.notes)
    assert "BGR" in notes and "background row first" in notes and "'things' row for the 3 thing classes (4 -> 6 rows)" in notes


def test_the_tags_record_detectron2s_files():
    r50 = PUBLISHED["panoptic_fpn_r50"]["d2_coco"]
    assert r50.url.endswith("panoptic_fpn_R_50_3x/139514569/model_final_c10459.pkl")
    assert (r50.hash_prefix, r50.hash_algorithm, r50.converter) == ("c10459", "md5", "detectron2_panoptic_fpn")
    assert r50.metrics == {"PQ": 41.5, "box_AP": 40.0, "mask_AP": 36.5} and "reported by Detectron2" in r50.metrics_protocol
    assert r50.overrides["backbone"] == "resnet50_msra" and PUBLISHED["panoptic_fpn_r101"]["d2_coco"].overrides["backbone"] == "resnet101_msra"
    assert r50.preprocessing.color == "BGR" and r50.preprocessing.std == (1.0, 1.0, 1.0)
    assert r50.overrides["mean"] == pytest.approx((123.675 / 255, 116.28 / 255, 103.53 / 255))
    assert len(r50.class_names) == 133 and r50.class_names[0] == "person" and r50.category_ids[80] == 92  # first stuff id
    assert "CC BY-SA 3.0" in r50.license


def test_a_d2_tag_checks_the_md5_prefix_of_its_file(tmp_path, monkeypatch):
    cache = tmp_path / "hub" / "segzoo"
    cache.mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (cache / "model_final_c10459.pkl").write_bytes(PKL.read_bytes())  # a cached file that is not the published one
    with pytest.raises(segzoo.WeightsError, match="md5 does not start with c10459"):
        segzoo.build("panoptic_fpn_r50.d2_coco", pretrained=True)


def _pickle(path: Path, obj) -> Path:
    with open(path, "wb") as f:
        pickle.dump(obj, f)
    return path


class _RunsCode:
    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_bad_detectron2_files_name_the_file_and_what_is_wrong(golden, tmp_path):
    meta, _ = golden
    runs = _RunsCode()
    runs.marker = str(tmp_path / "ran")
    evil = _pickle(tmp_path / "evil.pkl", {"model": {"backbone.bottom_up.stem.conv1.weight": runs}, "__author__": "x"})
    with pytest.raises(segzoo.WeightsError, match=r"evil\.pkl: refused: the pickle references pathlib.*Path"):
        _model(meta["config"], weights=evil)
    assert not (tmp_path / "ran").exists()  # refused before anything was called

    state = pickle.loads(PKL.read_bytes())
    state["model"]["roi_heads.keypoint_head.fcn1.weight"] = np.zeros(3, dtype=np.float32)
    with pytest.raises(segzoo.WeightsError, match=r"extra\.pkl: converter 'detectron2_panoptic_fpn' .*keypoint_head"):
        _model(meta["config"], weights=_pickle(tmp_path / "extra.pkl", state))

    state = pickle.loads(PKL.read_bytes())
    del state["model"]["roi_heads.box_head.fc2.weight"]
    with pytest.raises(segzoo.WeightsError, match=r"missing\.pkl .*missing keys: roi_heads\.box_head\.fc7\.weight"):
        _model(meta["config"], weights=_pickle(tmp_path / "missing.pkl", state))

    with pytest.raises(segzoo.WeightsError, match=r"model_final_tiny\.pkl .*mis-shaped keys: neck\.fpn"):
        _model({**meta["config"], "fpn_channels": 64})

    with pytest.raises(segzoo.WeightsError, match=r"model_final_tiny\.pkl: .*semantic head predicts 3 stuff classes"):
        _model({**meta["config"], "num_sem_classes": 5})

    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(PKL.read_bytes()[:1000])
    with pytest.raises(segzoo.WeightsError, match=r"truncated\.pkl: not a readable pickle of arrays"):
        _model(meta["config"], weights=truncated)


def test_exact_anchors_are_detectron2s_cell_anchors():
    gen = ExactAnchorGenerator(((32,),), ((0.5, 1.0, 2.0),))
    w = (32**2 / 0.5) ** 0.5  # area 32^2, h / w = 0.5
    expected = torch.tensor([[-w / 2, -w / 4, w / 2, w / 4], [-16, -16, 16, 16], [-w / 4, -w / 2, w / 4, w / 2]])
    torch.testing.assert_close(gen.cell_anchors[0], expected, rtol=0, atol=1e-6)
    assert not torch.equal(gen.cell_anchors[0], gen.cell_anchors[0].round())  # torchvision's would be rounded


def test_sampled_paste_is_bilinear_sampling_at_pixel_centres():
    """Known answers: a 2 x 2 mask of ones over a 4 x 2 box; each cell spans 2 x 1 pixels, and
    sampling blends with zeros half a cell beyond the mask's edge cells (Detectron2's paste)."""
    masks = torch.ones(1, 2, 2)
    pasted = paste_masks_by_sampling(masks, torch.tensor([[2.0, 1.0, 6.0, 3.0]]), (5, 8))[0]
    row = torch.tensor([0.0, 0.25, 0.75, 1.0, 1.0, 0.75, 0.25, 0.0])
    assert torch.equal(pasted, torch.stack([torch.zeros(8), row, row, torch.zeros(8), torch.zeros(8)]))
    shifted = paste_masks_by_sampling(masks, torch.tensor([[2.5, 1.0, 6.5, 3.0]]), (5, 8))[0]
    assert torch.equal(shifted[1], torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0]))
    assert paste_masks_by_sampling(masks[:0], torch.zeros(0, 4), (5, 8)).shape == (0, 5, 8)


def test_level_roi_align_v2_is_aligned_roi_align_on_the_level_of_each_box():
    features = {str(i): torch.randn(1, 2, 64 // 2**i, 64 // 2**i, generator=torch.Generator().manual_seed(i)) for i in range(4)}
    boxes = [torch.tensor([[1.0, 2.0, 20.0, 30.0], [0.0, 0.0, 250.0, 250.0]])]
    pool = LevelRoIAlign(featmap_names=list(features), output_size=7, sampling_ratio=0, aligned=True)
    out = pool(features, boxes, [(256, 256)])  # features are at strides 4..32 of a 256 x 256 image
    from torchvision.ops import roi_align

    small = roi_align(features["0"], [boxes[0][:1]], 7, spatial_scale=1 / 4, sampling_ratio=0, aligned=True)
    # sqrt(250 * 250) = 250: level floor(4 + log2(250 / 224)) = 4, i.e. P4 (stride 16); the small box: P2
    large = roi_align(features["2"], [boxes[0][1:]], 7, spatial_scale=1 / 16, sampling_ratio=0, aligned=True)
    torch.testing.assert_close(out, torch.cat([small, large]))


def test_stride_in_1x1_moves_the_downsampling_to_the_first_conv():
    trunk = stride_in_1x1(TimmBackbone(model_name="resnet50", timm_args={"channels": (4, 8, 16, 32)}))
    first = trunk.model.layer2[0]
    assert (first.conv1.stride, first.conv2.stride) == ((2, 2), (1, 1))
    shapes = [f.shape[-2:] for f in trunk(torch.randn(1, 3, 64, 96))]
    assert shapes == [(16, 24), (8, 12), (4, 6), (2, 3)]
    with pytest.raises(TypeError, match="bottleneck ResNet"):
        stride_in_1x1(TimmBackbone(model_name="resnet18"))
    with pytest.raises(ValueError, match="no timm ImageNet weights"):
        segzoo.backbones.create_backbone("resnet50_msra", pretrained=True)


def test_export_refuses_detectron2s_mask_paste_instead_of_changing_the_output():
    from segzoo.export import PanopticExportModule

    model = segzoo.build("panoptic_fpn_r50", backbone="tiny", num_classes=4, thing_ids=(0, 1), stuff_ids=(2, 3),
                         fpn_channels=16, box_channels=16, mask_channels=8, semantic_channels=16, mask_paste="sample")  # fmt: skip
    with pytest.raises(ValueError, match="mask_paste='sample'"):
        PanopticExportModule(model)
