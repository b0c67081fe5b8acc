"""The faster panoptic post-processing gives exactly what the previous implementation gave, on
generated detections: torchvision's mask paste, the full-image sequential paste of the heuristic
fusion and ``torch.argmax`` are kept here as the reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import build_tiny
from torchvision.models.detection.roi_heads import paste_masks_in_image

from segzoo.fusers.panoptic import channel_argmax, paste_instances
from segzoo.fusers.panoptic._common import assemble_panoptic
from segzoo.models.panoptic.mask_paste import paste_logits_and_probs, paste_windows
from segzoo.models.panoptic.model import PanopticRawOutput


def _detections(n: int, size: tuple[int, int], seed: int, num_things: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    h, w = size
    corner = torch.rand(n, 2, generator=g) * torch.tensor([w, h]) - 8
    extent = torch.rand(n, 2, generator=g) * torch.tensor([w / 2, h / 2]) + 0.5
    boxes = torch.cat([corner, corner + extent], 1)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    return {
        "boxes": boxes, "scores": torch.rand(n, generator=g), "labels": torch.randint(0, num_things, (n,), generator=g),
        "mask_logits": torch.randn(n, 28, 28, generator=g) * 3,
    }  # fmt: skip


def _reference_paste(masks: torch.Tensor, order: torch.Tensor, overlap_threshold: float = 0.5) -> torch.Tensor:
    """The previous paste_instances: every step over the whole image."""
    h, w = masks.shape[-2:]
    ordered = masks[order]
    rank = torch.full((h, w), -1, dtype=torch.int64)
    taken = torch.zeros((h, w), dtype=torch.bool)
    for k in range(ordered.shape[0]):
        mask = ordered[k]
        area = torch.count_nonzero(mask)
        keep = (area > 0) & (torch.count_nonzero(mask & taken) <= overlap_threshold * area)
        paste = mask & ~taken & keep
        rank.masked_fill_(paste, k)
        taken |= paste
    if ordered.shape[0] == 0:
        return rank
    return torch.where(rank >= 0, order[rank.clamp(min=0)], -1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_paste_equals_torchvisions_element_for_element(seed):
    det = _detections(40, (70, 90), seed)
    logits = det["mask_logits"][:, None]
    reference = paste_masks_in_image(logits, det["boxes"], (70, 90))[:, 0]
    inside = paste_masks_in_image(torch.ones_like(logits), det["boxes"], (70, 90))[:, 0] > 0.5
    pasted, probs = paste_logits_and_probs(det["mask_logits"], det["boxes"], (70, 90))
    assert torch.equal(pasted, reference)
    assert torch.equal(probs, torch.sigmoid(reference) * inside)
    empty = paste_logits_and_probs(det["mask_logits"][:0], det["boxes"][:0], (70, 90))
    assert empty[0].shape == (0, 70, 90) and empty[1].shape == (0, 70, 90)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_windowed_paste_equals_the_full_image_paste(seed):
    g = torch.Generator().manual_seed(seed)
    probs = paste_logits_and_probs(*[_detections(30, (64, 80), seed)[k] for k in ("mask_logits", "boxes")], (64, 80))[1]
    masks = probs >= 0.5
    masks[3] = False  # an empty mask is dropped
    order = torch.randperm(30, generator=g)[:25]
    for threshold in (0.0, 0.5, 1.0):
        assert torch.equal(paste_instances(masks, order, overlap_threshold=threshold), _reference_paste(masks, order, threshold))


def test_channel_argmax_is_argmax_including_ties_and_nan():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(9, 20, 30, generator=g)
    logits[2, :5] = logits[6, :5] = 50.0  # a tie: the first channel wins, as torch.argmax
    assert torch.equal(channel_argmax(logits), logits.argmax(0))
    logits[4, 10, 10] = float("nan")
    assert torch.equal(channel_argmax(logits), logits.argmax(0))
    assert torch.equal(channel_argmax(logits.round().int()), logits.round().int().argmax(0))


@pytest.mark.parametrize("seed", [0, 1])
def test_postprocess_equals_the_previous_pipeline_on_generated_detections(seed):
    model = build_tiny("panoptic_fpn_r50").eval()
    things = len(model.thing_ids)
    size = (96, 128)
    det = _detections(60, size, seed, num_things=things)
    g = torch.Generator().manual_seed(seed + 10)
    raw = PanopticRawOutput(sem_logits=torch.randn(1, model.num_classes, 24, 32, generator=g), detections=[det], image_sizes=[size])
    with torch.no_grad():
        (result,) = model.postprocess(raw, torch.zeros(1, 3, *size))
    # The previous pipeline: torchvision's paste, full-image paste loop, torch.argmax.
    sem = F.interpolate(raw.sem_logits, size=size, mode="bilinear", align_corners=False)[0]
    logits = det["mask_logits"][:, None]
    pasted = paste_masks_in_image(logits, det["boxes"], size)[:, 0]
    masks = torch.sigmoid(pasted) * (paste_masks_in_image(torch.ones_like(logits), det["boxes"], size)[:, 0] > 0.5)
    kept = torch.nonzero(det["scores"] >= model.fuser.score_threshold).squeeze(1)
    order = kept[torch.argsort(det["scores"][kept], descending=True, stable=True)]
    owner = _reference_paste(masks >= model.fuser.mask_threshold, order, model.fuser.overlap_threshold)
    label = sem.argmax(0)
    stuff = torch.zeros(model.num_classes, dtype=torch.bool)
    stuff[list(model.stuff_ids)] = True
    candidate = (owner < 0) & stuff[label]
    area = torch.bincount(torch.where(candidate, label + 1, 0).reshape(-1), minlength=model.num_classes + 1)[1:]
    stuff_map = torch.where(candidate & (area >= model.fuser.stuff_area_limit)[label], label, -1)
    panoptic, segments = assemble_panoptic(owner, stuff_map, sem, scores=det["scores"], labels=det["labels"], order=order)
    assert len(order) > 5 and torch.equal(result.panoptic_seg, panoptic) and result.segments_info == segments
    assert torch.equal(result.sem_seg, label)
    assert torch.equal(result.instances["masks"], masks)
    # the heuristic fuser doesn't read the pasted logits, so postprocess leaves them out; asked for, they are torchvision's
    assert "mask_logits" not in result.instances
    assert torch.equal(model.instances(det, size)["mask_logits"], pasted)
    # every mask is 0 outside its paste window
    outside = torch.ones_like(masks, dtype=torch.bool)
    for i, (y0, y1, x0, x1) in enumerate(result.instances["windows"].tolist()):
        outside[i, y0:y1, x0:x1] = False
    assert not masks[outside].any() and (masks > 0).any()


def test_a_ranking_model_with_no_detection_gives_empty_rank_scores():
    model = build_tiny("panoptic_se_r50").eval()
    det = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64),
           "mask_logits": torch.zeros(0, 28, 28)}  # fmt: skip
    g = torch.Generator().manual_seed(0)
    raw = PanopticRawOutput(sem_logits=torch.randn(1, model.num_classes, 16, 16, generator=g), detections=[det], image_sizes=[(64, 64)])
    with torch.no_grad():
        (result,) = model.postprocess(raw, torch.zeros(1, 3, 64, 64))
    assert result.instances["rank_scores"].shape == (0,) and result.instances["masks"].shape == (0, 64, 64)
    assert not any(s["isthing"] for s in result.segments_info)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_paste_of_probabilities_in_windows_equals_the_full_image_paste(dtype):
    """CPU float32 masks take the NumPy loop, bf16 the torch one: both paste what the reference does."""
    det = _detections(40, (64, 80), 3)
    probs = paste_logits_and_probs(det["mask_logits"], det["boxes"], (64, 80), with_logits=False)[1].to(dtype)
    windows = paste_windows(det["boxes"], 28, (64, 80))
    order = torch.randperm(40, generator=torch.Generator().manual_seed(3))[:33]
    for mask_threshold in (0.3, 0.5, 0.9):
        for overlap in (0.0, 0.3, 0.5, 1.0):
            got = paste_instances(probs, order, overlap_threshold=overlap, mask_threshold=mask_threshold, windows=windows)
            expected = _reference_paste(probs >= mask_threshold, order, overlap)
            assert torch.equal(got, expected)
    assert int((got >= 0).sum()) > 0.1 * got.numel()  # at the strictest thresholds, still a tenth of the image


def test_postprocess_results_kept_across_calls_stay_intact():
    """The pasted masks' memory is recycled only once a result is dropped."""
    model = build_tiny("panoptic_fpn_r50").eval()
    size = (96, 128)
    det = _detections(60, size, 0, num_things=len(model.thing_ids))
    raw = PanopticRawOutput(sem_logits=torch.randn(1, model.num_classes, 24, 32), detections=[det], image_sizes=[size])
    with torch.no_grad():
        (first,) = model.postprocess(raw, torch.zeros(1, 3, *size))
        saved = first.instances["masks"].clone()
        other = raw._replace(detections=[_detections(60, size, 1, num_things=len(model.thing_ids))])
        for _ in range(3):
            (second,) = model.postprocess(other, torch.zeros(1, 3, *size))
    assert torch.equal(first.instances["masks"], saved) and saved.any()
    assert not torch.equal(second.instances["masks"], saved)


def test_mask_paste_keeps_the_gradient_of_logits_that_need_one():
    det = _detections(30, (64, 80), 5)  # 30 x 64 x 80 float32 > 1 MiB: the on-demand zeros
    logits = det["mask_logits"].clone().requires_grad_(True)
    pasted, probs = paste_logits_and_probs(logits, det["boxes"], (64, 80))
    (pasted.sum() + probs.sum()).backward()
    assert logits.grad is not None and bool((logits.grad != 0).any())
    with torch.no_grad():
        assert torch.equal(probs, paste_logits_and_probs(det["mask_logits"], det["boxes"], (64, 80))[1])


@pytest.mark.parametrize("default", [torch.float32, torch.float64])
def test_the_overlap_test_runs_in_torchs_default_dtype(default):
    """0.7 x 90 is 63 in float32 and just below 63 in float64: 63 overlapping pixels keep the second mask in
    one and drop it in the other, on the NumPy path as in torch."""
    masks = torch.zeros(2, 10, 20, dtype=torch.bool)
    masks[0, :9, :10] = True  # 90 pixels
    masks[1, :9, 3:13] = True  # 90 pixels, 63 of them under the first mask
    previous = torch.get_default_dtype()
    torch.set_default_dtype(default)
    try:
        got = paste_instances(masks, torch.tensor([0, 1]), overlap_threshold=0.7)
        expected = _reference_paste(masks, torch.tensor([0, 1]), 0.7)
    finally:
        torch.set_default_dtype(previous)
    assert torch.equal(got, expected)
    assert bool((got == 1).any()) == (default == torch.float32)
