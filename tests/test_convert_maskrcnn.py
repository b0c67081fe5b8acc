"""torchvision's Mask R-CNN converts into the instance branch of the panoptic recipes: the same
detections (boxes, scores, labels, masks) when the class rows are kept, row selection for the
COCO panoptic layout, and a warning naming the parts the checkpoint does not have."""

from __future__ import annotations

import pytest
import torch
import torchvision

import segzoo
from segzoo.coco_categories import COCO_PANOPTIC_CATEGORIES
from segzoo.convert.core import randomise_norm_statistics
from segzoo.convert.torchvision_maskrcnn import COCO_THING_CATEGORY_IDS


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    torch.manual_seed(0)
    model = torchvision.models.detection.maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=91, min_size=64, max_size=96  # no resize of 64x96 inputs
    ).eval()
    randomise_norm_statistics(model)  # the trunk's FrozenBatchNorm2d
    path = tmp_path_factory.mktemp("maskrcnn") / "maskrcnn_resnet50_fpn_coco-test.pth"
    torch.save(model.state_dict(), path)  # torchvision's file format
    return model, path


def test_kept_class_rows_give_torchvision_detections(upstream, assert_torchvision_detections):
    tv, path = upstream
    with pytest.warns(UserWarning, match="has no semantic_head"):
        model = segzoo.build("panoptic_fpn_r50", num_classes=91, thing_ids=tuple(range(90)), stuff_ids=(90,),
                             weights=str(path)).eval()  # fmt: skip
    assert_torchvision_detections(tv, model)


def test_coco_panoptic_layout_selects_the_thing_rows(upstream):
    tv, path = upstream
    assert COCO_THING_CATEGORY_IDS == tuple(cid for cid, _, isthing in COCO_PANOPTIC_CATEGORIES if isthing)
    with pytest.warns(UserWarning, match="semantic_head"):
        model = segzoo.build("panoptic_fpn_r50", weights=str(path))  # 133 classes: 80 things -> 81 rows
    rows = [0, *COCO_THING_CATEGORY_IDS]
    head, upstream_head = model.roi_heads.box_predictor, tv.roi_heads.box_predictor
    assert torch.equal(head.cls_score.weight, upstream_head.cls_score.weight[rows])
    box_rows = [4 * c + k for c in rows for k in range(4)]
    assert torch.equal(head.bbox_pred.bias, upstream_head.bbox_pred.bias[box_rows])
    mask_rows = model.roi_heads.mask_predictor.mask_fcn_logits.weight
    assert torch.equal(mask_rows, tv.roi_heads.mask_predictor.mask_fcn_logits.weight[rows])
    assert torch.equal(model.neck.fpn.layer_blocks[0][0].weight, tv.backbone.fpn.layer_blocks[0][0].weight)
    with pytest.raises(segzoo.WeightsError, match=r"maskrcnn_resnet50_fpn_coco-test\.pth: .*only 91 .* -> 81"):
        segzoo.build("panoptic_fpn_r50", num_classes=8, thing_ids=(0, 1, 2), stuff_ids=(3, 4, 5, 6, 7), weights=str(path))


def test_key_names_of_torchvision_before_0_13_are_renamed(upstream, tmp_path):
    """The published v1 file predates torchvision 0.13's Conv2dNormActivation blocks: rpn.head.conv.weight,
    backbone.fpn.inner_blocks.0.weight, roi_heads.mask_head.mask_fcn1.weight (torchvision renames them on load)."""
    tv, _ = upstream
    old = {"rpn.head.conv.0.0.": "rpn.head.conv.", **{f"roi_heads.mask_head.{i}.0.": f"roi_heads.mask_head.mask_fcn{i + 1}."
                                                      for i in range(4)}}  # fmt: skip
    old.update({f"backbone.fpn.{b}_blocks.{i}.0.": f"backbone.fpn.{b}_blocks.{i}." for b in ("inner", "layer") for i in range(4)})
    state = {}
    for key, value in tv.state_dict().items():
        prefix = next((p for p in old if key.startswith(p)), None)
        state[key if prefix is None else old[prefix] + key[len(prefix) :]] = value
    assert "roi_heads.mask_head.mask_fcn4.bias" in state and "backbone.fpn.layer_blocks.3.weight" in state
    torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).load_state_dict(state)
    torch.save(state, tmp_path / "maskrcnn_resnet50_fpn_coco-old.pth")
    with pytest.warns(UserWarning, match="semantic_head"):
        model = segzoo.build("panoptic_fpn_r50", weights=str(tmp_path / "maskrcnn_resnet50_fpn_coco-old.pth"))
    assert torch.equal(model.rpn.head.conv[0][0].bias, tv.rpn.head.conv[0][0].bias)
    assert torch.equal(model.neck.fpn.inner_blocks[2][0].weight, tv.backbone.fpn.inner_blocks[2][0].weight)
    assert torch.equal(model.roi_heads.mask_head[3][0].weight, tv.roi_heads.mask_head[3][0].weight)


def test_the_tag_records_what_the_file_holds():
    assert "panoptic_fpn_r50.tv_maskrcnn_coco" in segzoo.list_models(pretrained=True)
    spec = segzoo.model_info("panoptic_fpn_r50")["weights"]["tv_maskrcnn_coco"]
    assert spec["hash_prefix"] == "bf2d0c1e" and spec["converter"] == "torchvision_maskrcnn"
    assert spec["metrics"] == {"box_AP": 37.9, "mask_AP": 34.6} and "untrained" in spec["description"]
