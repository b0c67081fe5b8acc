"""torchvision's improved Mask R-CNN (``maskrcnn_resnet50_fpn_v2``; Li et al., arXiv:2111.11429) converts
into the instance branch of a panoptic recipe built with its layout: the same detections (boxes, scores,
labels, masks) with the class rows kept, the tag's local copy selecting the COCO panoptic rows, and an
error naming the options when the model was built with another layout."""

from __future__ import annotations

import pytest
import torch
import torchvision

import segzoo
from segzoo.convert import convert_state, detect_converter
from segzoo.convert.core import randomise_norm_statistics
from segzoo.convert.torchvision_maskrcnn import COCO_THING_CATEGORY_IDS, LAYOUTS

V2 = LAYOUTS["maskrcnn_resnet50_fpn_v2"]  # fpn_norm="bn", rpn_convs=2, box_head="4conv1fc", head_norm="bn"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    torch.manual_seed(0)
    model = torchvision.models.detection.maskrcnn_resnet50_fpn_v2(
        weights=None, weights_backbone=None, num_classes=91, min_size=64, max_size=96  # no resize of 64x96 inputs
    ).eval()
    randomise_norm_statistics(model)  # every BatchNorm (trunk, FPN, box and mask heads) with statistics to fold
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.num_batches_tracked.fill_(1000)
    path = tmp_path_factory.mktemp("maskrcnn_v2") / "maskrcnn_resnet50_fpn_v2_coco-test.pth"
    torch.save(model.state_dict(), path)  # torchvision's file format
    return model, path


def test_kept_class_rows_give_torchvision_detections(upstream, assert_torchvision_detections):
    tv, path = upstream
    with pytest.warns(UserWarning, match="has no semantic_head"):
        model = segzoo.build("panoptic_fpn_r50", num_classes=91, thing_ids=tuple(range(90)), stuff_ids=(90,),
                             weights=str(path), **V2).eval()  # fmt: skip
    assert model.segzoo_config["converted_from"]["converter"] == "torchvision_maskrcnn_v2"  # detected from the keys
    assert_torchvision_detections(tv, model)


def test_the_tags_local_copy_selects_the_thing_rows_and_keeps_the_statistics(upstream):
    tv, path = upstream
    with pytest.warns(UserWarning, match="semantic_head"):
        model = segzoo.build("panoptic_fpn_r50.tv_maskrcnn_v2_coco", weights=str(path))  # the tag's layout and classes
    assert {k: model.segzoo_config["overrides"][k] for k in V2} == V2 and model.num_classes == 133
    rows = [0, *COCO_THING_CATEGORY_IDS]
    head, upstream_head = model.roi_heads.box_predictor, tv.roi_heads.box_predictor
    assert torch.equal(head.cls_score.weight, upstream_head.cls_score.weight[rows])
    box_rows = [4 * c + k for c in rows for k in range(4)]
    assert torch.equal(head.bbox_pred.bias, upstream_head.bbox_pred.bias[box_rows])
    mask_rows = model.roi_heads.mask_predictor.mask_fcn_logits.weight
    assert torch.equal(mask_rows, tv.roi_heads.mask_predictor.mask_fcn_logits.weight[rows])
    pairs = [  # BatchNorm of the trunk, the FPN, the RPN's second conv, the box and the mask heads
        (model.backbone.model.layer1[0].bn1, tv.backbone.body.layer1[0].bn1),
        (model.neck.fpn.layer_blocks[3][1], tv.backbone.fpn.layer_blocks[3][1]),
        (model.roi_heads.box_head[3][1], tv.roi_heads.box_head[3][1]),
        (model.roi_heads.mask_head[3][1], tv.roi_heads.mask_head[3][1]),
    ]
    for ours, theirs in pairs:
        assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))
    assert torch.equal(model.rpn.head.conv[1][0].weight, tv.rpn.head.conv[1][0].weight)
    assert torch.equal(model.roi_heads.box_head[5].weight, tv.roi_heads.box_head[5].weight)  # the FC after 4 convs


def test_the_layouts_are_told_apart_and_a_wrong_build_names_the_options(upstream):
    tv, path = upstream
    v1 = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    assert detect_converter(tv.state_dict()) == "torchvision_maskrcnn_v2"
    assert detect_converter(v1.state_dict()) == "torchvision_maskrcnn"
    options = r"fpn_norm='bn', rpn_convs=2, box_head='4conv1fc', head_norm='bn'"
    built = r"fpn_norm=None, rpn_convs=1, box_head='2fc', head_norm=None"
    message = rf"fpn_v2_coco-test\.pth: .*_v2 detector layout \({options}\) .*built with {built}\. Build"
    with pytest.raises(segzoo.WeightsError, match=message):
        segzoo.build("panoptic_fpn_r50", weights=str(path))  # v1 layout
    target = segzoo.build("panoptic_fpn_r50", backbone="tiny", fpn_channels=16, box_channels=32, mask_channels=16,
                          **V2).state_dict()  # fmt: skip
    with pytest.raises(ValueError, match=r"maskrcnn_resnet50_fpn detector layout \(fpn_norm=None, rpn_convs=1"):
        convert_state(v1.state_dict(), "torchvision_maskrcnn", target)


def test_the_tag_records_what_the_file_holds():
    assert "panoptic_fpn_r50.tv_maskrcnn_v2_coco" in segzoo.list_models(pretrained=True)
    spec = segzoo.model_info("panoptic_fpn_r50")["weights"]["tv_maskrcnn_v2_coco"]
    assert spec["url"] == "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"
    assert spec["hash_prefix"] == "73cbd019" and spec["converter"] == "torchvision_maskrcnn_v2"
    assert spec["overrides"] == V2 and spec["num_classes"] == 133
    assert spec["metrics"] == {"box_AP": 47.4, "mask_AP": 41.8}
    assert "reported by torchvision" in spec["metrics_protocol"] and "800" in spec["preprocessing"]["resize"]
    assert "untrained" in spec["description"] and "BSD-3-Clause" in spec["license"]
