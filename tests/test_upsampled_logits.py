"""UpsampledLogits: the semantic argmax and class probabilities of bilinearly resized logits,
computed from the few channels that can matter per cell, against the dense resize."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segzoo.fusers.panoptic import (
    UpsampledLogits,
    heuristic_fusion,
    masks_to_category_channels,
    paste_instances,
    rank_scores_from_map,
)
from segzoo.fusers.panoptic.upsampled_logits import class_probability


def _dense(logits, size, crop):
    return F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)[0, :, : crop[0], : crop[1]]


def _confident(k, h, w, seed, spread=10.0, region=4):
    """Logits of a confident network at stride 4: blocks of ``region`` x ``region`` cells of one
    class, which leads the others by ``spread``, plus unit noise."""
    g = torch.Generator().manual_seed(seed)
    regions = torch.randint(0, k, (-(-h // region), -(-w // region)), generator=g)
    labels = regions.repeat_interleave(region, 0).repeat_interleave(region, 1)[:h, :w]
    return F.one_hot(labels, k).permute(2, 0, 1).float() * spread + torch.randn(k, h, w, generator=g)


def _no_dense(monkeypatch):
    def refuse(self):
        raise AssertionError("the dense resize ran")

    monkeypatch.setattr(UpsampledLogits, "dense", refuse)


@pytest.mark.parametrize("shape,size,crop", [((24, 32), (96, 128), (96, 128)), ((24, 32), (96, 128), (90, 117)),
                                             ((23, 31), (96, 128), (96, 128))])  # fmt: skip
def test_argmax_equals_the_dense_resize_without_resizing_every_channel(monkeypatch, shape, size, crop):
    logits = _confident(133, *shape, seed=0)
    reference = _dense(logits, size, crop)
    expected = reference.argmax(0)
    _no_dense(monkeypatch)
    got = UpsampledLogits(logits, size, crop).argmax()
    assert got.shape == crop and got.dtype == torch.int64
    top2 = reference.topk(2, dim=0).values
    near_tie = (top2[0] - top2[1]) < 1e-4  # the only pixels where float rounding may pick the other channel
    assert bool((got == expected)[~near_tie].all())
    assert (got != expected).sum() <= near_tie.sum()
    assert len(expected.unique()) > 10  # a real map, not one class


def test_argmax_on_near_ties_everywhere_falls_back_to_the_dense_resize():
    logits = torch.randn(40, 12, 16, generator=torch.Generator().manual_seed(1)) * 0.01  # random weights' logits
    reference = _dense(logits, (48, 64), (48, 64))
    assert torch.equal(UpsampledLogits(logits, (48, 64)).argmax(), reference.argmax(0))


def test_a_tie_goes_to_the_first_channel_as_argmax(monkeypatch):
    logits = torch.full((50, 6, 6), -10.0)
    logits[7] = 5.0
    logits[3] = 5.0  # channels 3 and 7 tie everywhere
    logits[20, :3] = 9.0  # channel 20 wins the top half
    _no_dense(monkeypatch)
    got = UpsampledLogits(logits, (24, 24)).argmax()
    expected = _dense(logits, (24, 24), (24, 24)).argmax(0)
    assert torch.equal(got, expected) and set(got.unique().tolist()) == {3, 20}


@pytest.mark.parametrize("scale,share,size,dense_runs", [(40.0, 0.5, (64, 80), 0), (0.01, 0.05, (64, 80), 0),
                                                        (0.01, 0.6, (64, 80), 0), (0.01, 0.6, (62, 78), 1)])  # fmt: skip
def test_class_probability_is_the_softmax_of_the_dense_resize(monkeypatch, scale, share, size, dense_runs):
    """Very confident logits (the channels within 30 of the best, per cell), flat logits at a few
    pixels (every channel at those pixels) and flat logits at many pixels (by cells when the resize
    factor is an integer, else the dense resize)."""
    g = torch.Generator().manual_seed(2)
    # wide regions: only the cells across a boundary need every channel
    logits = _confident(60, 16, 20, seed=2, spread=scale, region=8) if scale > 1 else torch.randn(60, 16, 20, generator=g) * scale
    crop = (60, 77)
    dense = _dense(logits, size, crop)
    classes = torch.where(torch.rand(crop, generator=g) < share, dense.argmax(0), -1)
    expected = torch.exp(dense.gather(0, classes.clamp(min=0)[None])[0] - torch.logsumexp(dense, 0)) * (classes >= 0)
    runs = []
    dense_of = UpsampledLogits.dense
    monkeypatch.setattr(UpsampledLogits, "dense", lambda self: runs.append(1) or dense_of(self))
    got = UpsampledLogits(logits, size, crop).class_probability(classes)
    assert len(runs) == dense_runs
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert bool((got[classes < 0] == 0).all()) and float(got.max()) > 0
    assert torch.allclose(class_probability(dense, classes), expected, rtol=1e-6, atol=0)


def test_heuristic_fusion_on_upsampled_logits_equals_fusion_on_the_dense_resize(monkeypatch):
    k, size = 133, (64, 96)
    thing_ids, stuff_ids = list(range(80)), list(range(80, 133))
    logits = _confident(k, 16, 24, seed=3, spread=40.0)  # few channels within 30 of the best: no dense resize
    g = torch.Generator().manual_seed(3)
    masks = torch.zeros(6, *size)
    for i in range(6):
        y, x = int(torch.randint(0, 40, (1,), generator=g)), int(torch.randint(0, 70, (1,), generator=g))
        masks[i, y : y + 20, x : x + 24] = torch.rand(20, 24, generator=g)
    scores, labels = torch.rand(6, generator=g) * 0.5 + 0.5, torch.randint(0, 80, (6,), generator=g)
    args = dict(thing_ids=thing_ids, stuff_ids=stuff_ids, stuff_area_limit=64)
    expected_seg, expected_info = heuristic_fusion(_dense(logits, size, size), masks, scores, labels, **args)
    _no_dense(monkeypatch)
    seg, info = heuristic_fusion(UpsampledLogits(logits, size), masks, scores, labels, **args)
    assert torch.equal(seg, expected_seg)
    assert [{k: v for k, v in s.items() if k != "score"} for s in info] == [
        {k: v for k, v in s.items() if k != "score"} for s in expected_info
    ]
    assert [s["score"] for s in info] == pytest.approx([s["score"] for s in expected_info], rel=1e-5)
    assert any(not s["isthing"] for s in info) and any(s["isthing"] for s in info)


def test_pasting_inside_the_paste_windows_equals_pasting_the_whole_masks():
    g = torch.Generator().manual_seed(4)
    n, size = 30, (48, 64)
    windows = []
    masks = torch.zeros(n, *size)
    for i in range(n):
        y0, x0 = int(torch.randint(0, 40, (1,), generator=g)), int(torch.randint(0, 56, (1,), generator=g))
        y1, x1 = min(y0 + int(torch.randint(1, 30, (1,), generator=g)), 48), min(x0 + int(torch.randint(1, 30, (1,), generator=g)), 64)
        masks[i, y0:y1, x0:x1] = torch.rand(y1 - y0, x1 - x0, generator=g)
        windows.append((y0, y1, x0, x1))
    windows = torch.tensor(windows)
    order = torch.randperm(n, generator=g)[:25]
    expected = paste_instances(masks >= 0.5, order, overlap_threshold=0.3)
    assert torch.equal(paste_instances(masks, order, overlap_threshold=0.3, mask_threshold=0.5, windows=windows), expected)
    assert len(expected.unique()) > 10


def test_category_channels_of_the_present_classes_equal_all_channels():
    g = torch.Generator().manual_seed(5)
    masks = torch.rand(12, 40, 48, generator=g) > 0.7
    labels = torch.tensor([2, 2, 5, 9, 9, 9, 11, 2, 5, 13, 17, 19])
    thing_ids = list(range(1, 21))
    channel = torch.tensor([thing_ids.index(int(v)) for v in labels])
    full = torch.zeros(len(thing_ids), 40, 48).scatter_reduce(
        0, channel[:, None, None].expand(-1, 40, 48), masks.float(), reduce="amax"
    )
    small = F.interpolate(full[None], size=(10, 12), mode="bilinear", align_corners=False, antialias=True)[0]
    assert torch.equal(masks_to_category_channels(masks, labels, thing_ids=thing_ids), full)
    assert torch.equal(masks_to_category_channels(masks, labels, thing_ids=thing_ids, size=(10, 12)), small)
    assert torch.equal(masks_to_category_channels(masks.float(), labels, thing_ids=thing_ids, size=(10, 12)), small)


def test_rank_scores_read_only_the_paste_windows_and_keep_the_order():
    g = torch.Generator().manual_seed(6)
    n, size, thing_ids = 40, (64, 80), [1, 2, 3, 4]
    masks = torch.zeros(n, *size, dtype=torch.bool)
    windows = []
    for i in range(n):
        y0, x0 = int(torch.randint(0, 50, (1,), generator=g)), int(torch.randint(0, 60, (1,), generator=g))
        y1, x1 = y0 + int(torch.randint(1, 14, (1,), generator=g)), x0 + int(torch.randint(1, 20, (1,), generator=g))
        masks[i, y0:y1, x0:x1] = torch.rand(y1 - y0, x1 - x0, generator=g) > 0.3
        windows.append((y0, y1, x0, x1))
    masks[5] = False  # an empty mask scores 0
    labels = torch.randint(1, 5, (n,), generator=g)
    ranking = torch.randn(4, *size, generator=g)
    expected = rank_scores_from_map(ranking, masks, labels, thing_ids=thing_ids)
    got = rank_scores_from_map(ranking, masks, labels, thing_ids=thing_ids, windows=torch.tensor(windows))
    assert torch.allclose(got, expected, rtol=1e-6, atol=1e-7) and float(got[5]) == 0.0
    assert torch.equal(torch.argsort(got, descending=True, stable=True), torch.argsort(expected, descending=True, stable=True))


def test_logits_too_large_for_the_bounds_take_the_dense_resize():
    logits = torch.zeros(5, 4, 4)
    logits[2, :2] = 3e37  # four of these overflow float32 when summed
    logits[4, 2:] = 1e38
    expected = _dense(logits, (16, 16), (16, 16)).argmax(0)
    assert torch.equal(UpsampledLogits(logits, (16, 16)).argmax(), expected)
