"""Panoptic recipes (tiny variants): a training step, predict, robustness, the real COCO samples."""

from __future__ import annotations

import importlib
import warnings

import pytest
import torch
from conftest import build_tiny

import segzoo
from segzoo.data import SyntheticPanoptic
from segzoo.fusers.panoptic import check_panoptic
from segzoo.losses import UncertaintyWeighting
from segzoo.models.panoptic import PanopticPrediction

PANOPTIC = segzoo.list_models(task="panoptic")
TINY = dict(backbone="tiny", fpn_channels=32, box_channels=64, mask_channels=32, rpn_top_n=(60, 30), detections_per_img=10)
SYNTH = SyntheticPanoptic(4, size=(64, 80), seed=0)
# build_tiny overrides: TINY, and the classes of the synthetic data
SYNTH_TINY = dict(TINY, num_classes=8, thing_ids=SYNTH.thing_ids, stuff_ids=SYNTH.stuff_ids)


def _losses(model, images, targets):
    """One training-mode pass through the model contract: ``losses(forward(images, targets), targets)``."""
    return model.losses(model(images, targets), targets)


def _batch(indices=(0, 1)):
    images, targets = [], []
    for i in indices:
        image, target = SYNTH[i]
        images.append((image.float() / 255 - 0.45) / 0.225)
        targets.append(target)
    return images, targets


def test_expected_recipes_are_registered():
    assert {"panoptic_se_r50", "panoptic_fpn_r50", "panoptic_fpn_r101", "upsnet_r50", "panoptic_cascade_x101_dcn"} <= set(PANOPTIC)


@pytest.mark.parametrize("name", PANOPTIC)
def test_training_step_gives_finite_losses_and_gradients(name):
    model = build_tiny(name, **SYNTH_TINY).train()
    images, targets = _batch()
    losses = _losses(model, images, targets)
    assert {"loss_objectness", "loss_rpn_box_reg", "loss_mask", "loss_semantic"} <= set(losses)
    assert all(torch.isfinite(v) and v.ndim == 0 for v in losses.values()), losses
    sum(losses.values()).backward()
    grads = [p.grad for p in model.semantic_head.parameters()] + [p.grad for p in model.roi_heads.parameters()]
    assert all(g is not None for g in grads)
    assert model.roi_heads.mask_predictor.mask_fcn_logits.weight.grad.abs().sum() > 0


def test_seed000_losses_and_parts():
    model = build_tiny("panoptic_se_r50", **SYNTH_TINY).train()
    losses = _losses(model, *_batch())
    assert {"loss_proto_mask", "loss_ranking", "loss_uncertainty_reg"} <= set(losses)
    assert model.prototypes is not None and model.ranking is not None and model.info_sharing
    sum(losses.values()).backward()
    assert model.uncertainty.log_vars.grad is not None and model.uncertainty.log_vars.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.ranking.parameters())
    assert model.roi_heads.mask_roi_pool.project.weight.grad.abs().sum() > 0  # the semantic information flow


def test_seed000_ranking_module_sees_binary_masks_and_trains_through_the_public_loss(monkeypatch):
    """OANet/PAPERS.md: the ranking module's input is the instances' *binary* masks in their category
    channels, in training and at inference; the loss is spatial_ranking_loss against
    spatial_ranking_targets (the exported functions), not a private copy."""
    import segzoo.models.panoptic.model as panoptic_model
    from segzoo.fusers.panoptic import spatial_ranking_loss

    torch.manual_seed(0)
    model = build_tiny("panoptic_se_r50", **SYNTH_TINY).train()
    inputs, calls = [], []
    model.ranking.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().clone()))

    def spy(logits, targets, **kwargs):
        calls.append((logits.detach(), targets))
        return spatial_ranking_loss(logits, targets, **kwargs)

    monkeypatch.setattr(panoptic_model, "spatial_ranking_loss", spy)
    images, targets = _batch()
    losses = _losses(model, images, targets)
    assert len(calls) == 1 and len(inputs) == 1
    assert set(inputs[0].unique().tolist()) <= {0.0, 1.0} and inputs[0].sum() > 0  # binary masks, some placed
    logits, target = calls[0]
    torch.testing.assert_close(losses["loss_ranking"], spatial_ranking_loss(logits, target))
    # inference: the full-resolution masks are thresholded before the resize to stride 4
    placed = []
    ranking_module = importlib.import_module("segzoo.fusers.panoptic.spatial_ranking")  # where inference places them
    original = ranking_module.masks_to_category_channels

    def record(masks, labels, **kwargs):
        placed.append(masks)
        return original(masks, labels, **kwargs)

    monkeypatch.setattr(ranking_module, "masks_to_category_channels", record)
    model.eval()
    model.roi_heads.score_thresh = 0.0
    with torch.no_grad():
        model.predict(SYNTH[0][0])
    assert placed and all(m.dtype == torch.bool for m in placed)


def test_cascade_has_three_stages_and_mask_stage():
    model = build_tiny("panoptic_cascade_x101_dcn", **SYNTH_TINY).train()
    assert len(model.roi_heads.stages) == 3 and model.roi_heads.mask_stage == 1
    assert [s.proposal_matcher.high_threshold for s in model.roi_heads.stages] == [0.5, 0.6, 0.7]
    losses = _losses(model, *_batch())
    assert {f"loss_classifier_s{i}" for i in range(3)} <= set(losses)


def test_seed_002_takes_its_test_detections_from_the_middle_stage():
    """'We choose the middle stage as the instance segmentation flow': the detections are the middle
    stage's boxes with the mean score of stages 1-2, exactly what a two-stage cascade of the same
    modules gives; the third stage doesn't run at test time. detection_stage=None is Cascade R-CNN's
    last stage."""
    from segzoo.models.panoptic import CascadeRoIHeads

    torch.manual_seed(0)
    model = build_tiny("panoptic_cascade_x101_dcn", **SYNTH_TINY).eval()
    heads = model.roi_heads
    assert (heads.mask_stage, heads.detection_stage) == (1, 1)
    for stage in heads.stages:
        stage.score_thresh = 0.0  # random weights: keep every box
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        image_list, fpn, roi_features, _, _ = model._features(images)
        proposals, _ = model.rpn(image_list, fpn)
        sizes = image_list.image_sizes
        middle, _ = heads(roi_features, proposals, sizes)
        two = CascadeRoIHeads(stages=list(heads.stages[:2]), mask_roi_pool=heads.mask_roi_pool, mask_head=heads.mask_head,
                              mask_predictor=heads.mask_predictor, stage_loss_weights=(1.0, 0.5), mask_stage=1).eval()  # fmt: skip
        expected, _ = two(roi_features, proposals, sizes)
        heads.detection_stage = 2
        last, _ = heads(roi_features, proposals, sizes)
    assert len(middle[0]["boxes"]) > 0
    for key in ("boxes", "scores", "labels", "masks"):
        torch.testing.assert_close(middle[0][key], expected[0][key])
    assert not torch.equal(middle[0]["boxes"], last[0]["boxes"][: len(middle[0]["boxes"])]) or len(last[0]["boxes"]) != len(
        middle[0]["boxes"])
    assert build_tiny("panoptic_fpn_r50", **SYNTH_TINY).roi_heads.__class__.__name__ == "RoIHeads"
    with pytest.raises(ValueError, match="detection_stage must index"):
        CascadeRoIHeads(stages=list(heads.stages), mask_roi_pool=heads.mask_roi_pool, mask_head=heads.mask_head,
                        mask_predictor=heads.mask_predictor, detection_stage=3)  # fmt: skip


@pytest.mark.parametrize("name", ["panoptic_fpn_r50", "panoptic_cascade_x101_dcn"])
def test_improved_mask_rcnn_layout_builds_and_trains(name):
    """Li et al. (arXiv:2111.11429), torchvision's maskrcnn_resnet50_fpn_v2: BatchNorm in the FPN and the
    heads' convs (no conv bias), two convs in the RPN head, a 4conv1fc box head."""
    from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead

    model = build_tiny(name, **SYNTH_TINY, fpn_norm="bn", rpn_convs=2, box_head="4conv1fc", head_norm="bn").train()
    assert len(model.rpn.head.conv) == 2
    assert isinstance(model.neck.fpn.inner_blocks[0][1], torch.nn.BatchNorm2d)
    heads = model.roi_heads
    box_heads = [s.box_head for s in heads.stages] if hasattr(heads, "stages") else [heads.box_head]
    for box_head in box_heads:  # 4 x (conv, BN, ReLU) of the FPN width, flatten, FC of box_channels, ReLU
        assert isinstance(box_head, FastRCNNConvFCHead) and len(box_head) == 7 and box_head[0][0].bias is None
        assert isinstance(box_head[3][1], torch.nn.BatchNorm2d)
        assert box_head[5].out_features == SYNTH_TINY["box_channels"]
    assert isinstance(heads.mask_head[3][1], torch.nn.BatchNorm2d) and heads.mask_head[3][0].bias is None
    losses = _losses(model, *_batch())
    assert all(torch.isfinite(v) for v in losses.values()), losses
    sum(losses.values()).backward()
    assert box_heads[0][0][0].weight.grad.abs().sum() > 0 and model.rpn.head.conv[1][0].weight.grad is not None
    with pytest.raises(ValueError, match="Unknown box head '3fc'.*'2fc', '4conv1fc'"):
        build_tiny(name, box_head="3fc")
    with pytest.raises(ValueError, match="Unknown head norm 'ln'"):
        build_tiny(name, head_norm="ln")


@pytest.mark.parametrize("name", PANOPTIC)
def test_predict_gives_consistent_panoptic_maps(name):
    model = build_tiny(name, **SYNTH_TINY)
    images = [SYNTH[0][0], SYNTH[1][0][:, :50, :61]]  # uint8, two sizes
    results = model.predict(images)
    assert model.training, "predict restores the mode"
    for result, image in zip(results, images):
        assert isinstance(result, PanopticPrediction)
        assert result.panoptic_seg.shape == image.shape[-2:] and result.panoptic_seg.dtype == torch.int32
        check_panoptic(result.panoptic_seg, result.segments_info)
        for seg in result.segments_info:
            assert seg["isthing"] == (seg["category_id"] in SYNTH.thing_ids)


def test_fusers_swap_by_name_on_the_same_model():
    model = build_tiny("panoptic_se_r50", **SYNTH_TINY).eval()
    image = SYNTH[2][0]
    for fuser in ("heuristic", "spatial_ranking", "upsnet"):
        result = model.predict(image, fuser=fuser)
        check_panoptic(result.panoptic_seg, result.segments_info)
    assert type(model.fuser).__name__ != "UPSNetFuser"  # the override does not stick


def test_robust_targets():
    model = build_tiny("panoptic_fpn_r50", **SYNTH_TINY).train()
    images, targets = _batch((0, 1))
    empty = dict(targets[0])
    empty.update(boxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long),
                 masks=torch.zeros(0, 64, 80, dtype=torch.bool), iscrowd=torch.zeros(0, dtype=torch.bool))  # fmt: skip
    odd = dict(targets[1])
    boxes = odd["boxes"].clone()
    boxes[0] = torch.tensor([10.0, 10.0, 10.0, 20.0])  # zero width
    boxes[1] = torch.tensor([0.0, 0.0, 1.0, 1.0])  # 1x1 box at the border
    odd["boxes"] = boxes
    with pytest.warns(UserWarning, match="zero-area"):
        losses = _losses(model, images, [empty, odd])
    assert all(torch.isfinite(v) for v in losses.values())
    crowd = dict(targets[0])
    crowd["iscrowd"] = torch.ones_like(crowd["iscrowd"])
    losses = _losses(model, images, [crowd, crowd])
    assert all(torch.isfinite(v) for v in losses.values())
    bad = dict(targets[0])
    bad["labels"] = torch.full_like(bad["labels"], 5)  # a stuff id
    with pytest.raises(ValueError, match="not thing train ids"):
        model(images, [bad, targets[1]])
    model.eval()
    with pytest.raises(ValueError, match="needs targets"):
        model.train()(images)


def test_uncertainty_weighting_known_values_and_gradients():
    weighting = UncertaintyWeighting(("semantic", "instance"))
    with torch.no_grad():
        weighting.log_vars.copy_(torch.tensor([0.5, -1.0]))
    l1, l2 = torch.tensor(2.0), torch.tensor(3.0)
    expected = 0.5 * torch.exp(torch.tensor(-0.5)) * 2 + 0.5 * torch.exp(torch.tensor(1.0)) * 3 + 0.5 * (0.5 - 1.0)
    total = weighting({"semantic": l1, "instance": l2})
    torch.testing.assert_close(total, expected)
    total.backward()
    # d/ds (0.5 e^-s L + 0.5 s) = -0.5 e^-s L + 0.5
    expected_grad = torch.tensor([-0.5 * torch.exp(torch.tensor(-0.5)) * 2 + 0.5, -0.5 * torch.exp(torch.tensor(1.0)) * 3 + 0.5])
    torch.testing.assert_close(weighting.log_vars.grad, expected_grad)


def test_overfitting_a_batch_lowers_the_loss():
    torch.manual_seed(0)
    model = build_tiny("panoptic_se_r50", **SYNTH_TINY).train()
    images, targets = _batch((0, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = last = None
    for _ in range(12):
        losses = _losses(model, images, targets)
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        first = first if first is not None else float(total.detach())
        last = float(total.detach())
    assert last < 0.8 * first, (first, last)


def test_real_coco_samples_as_targets(shared_data):
    from segzoo.data import COCOPanoptic

    root = shared_data / "coco_panoptic_sample"
    dataset = COCOPanoptic(root, images=root / "images", panoptic=root / "panoptic", annotations=root / "panoptic_val_sample.json")
    samples = [dataset[i] for i in range(len(dataset))]
    model = segzoo.build("panoptic_fpn_r50", **TINY).train()
    images = [(s[0].float() / 255 - 0.45) / 0.225 for s in samples]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        losses = _losses(model, images, [s[1] for s in samples])
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    result = model.eval().predict(samples[0][0])
    check_panoptic(result.panoptic_seg, result.segments_info)
    assert result.panoptic_seg.shape == samples[0][0].shape[-2:]


def test_no_detections_and_mixed_sizes():
    model = build_tiny("upsnet_r50", **SYNTH_TINY)
    images, targets = _batch((0, 1))
    small_image, small_target = SyntheticPanoptic(1, size=(48, 56), seed=3)[0]
    images[1] = (small_image.float() / 255 - 0.45) / 0.225
    targets[1] = small_target
    losses = _losses(model.train(), images, targets)  # a batch mixing 64x80 and 48x56
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    model.roi_heads.score_thresh = 1.1  # every detection suppressed
    for fuser in ("heuristic", "upsnet"):
        result = model.predict(SYNTH[0][0], fuser=fuser)
        check_panoptic(result.panoptic_seg, result.segments_info)
        assert len(result.instances["boxes"]) == 0
        assert all(not seg["isthing"] for seg in result.segments_info)
