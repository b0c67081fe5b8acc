"""The window-by-window and cell-by-cell panoptic post-processing gives what the whole-image
versions give: UPSNet's argmax without building its panoptic logits, the semantic argmax of
integer-factor resizes cell by cell, class probabilities at a few pixels, category channels and
binary masks from the paste windows, and pasted masks in memory zeroed on demand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segzoo.fusers.panoptic import (
    UpsampledLogits,
    masks_to_category_channels,
    spatial_ranking_scores,
    upsnet_fusion,
    upsnet_panoptic_logits,
)
from segzoo.fusers.panoptic._common import assemble_panoptic, box_masks
from segzoo.fusers.panoptic.upsampled_blocks import block_axis
from segzoo.fusers.panoptic.upsampled_logits import _source_index, class_probability
from segzoo.heads import SpatialRankingModule
from segzoo.models.panoptic.mask_paste import (
    binarize_in_windows,
    paste_logits_and_probs,
    paste_windows,
    zeros_on_demand,
)


def _scene(seed, n=25, size=(64, 80), k=12):
    g = torch.Generator().manual_seed(seed)
    h, w = size
    corner = torch.rand(n, 2, generator=g) * torch.tensor([w, h]) - 6
    boxes = torch.cat([corner, corner + torch.rand(n, 2, generator=g) * 40 + 1], 1)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    sem = torch.randn(k, h, w, generator=g) * 3
    logits, _ = paste_logits_and_probs(torch.randn(n, 28, 28, generator=g) * 4, boxes, size)
    return sem, boxes, torch.rand(n, generator=g), torch.randint(0, 6, (n,), generator=g), logits


def _reference_upsnet(sem, boxes, scores, labels, mask_logits, *, thing_ids, stuff_ids, with_unknown=True):
    """The previous upsnet_fusion: the argmax over the whole panoptic logits Z."""
    kept = torch.nonzero(scores >= 0.5).squeeze(1)
    s, n = len(stuff_ids), kept.shape[0]
    z = upsnet_panoptic_logits(sem, boxes[kept], labels[kept], mask_logits[kept], thing_ids=thing_ids,
                               stuff_ids=stuff_ids, with_unknown=with_unknown)  # fmt: skip
    winner = z.argmax(0)
    inst = (winner - s).clamp(0, max(n - 1, 0))
    is_inst = (winner >= s) & (winner < s + n)
    if n:
        is_inst &= box_masks(boxes[kept], sem.shape[-2:]).gather(0, inst[None])[0]
    stuff_t = torch.tensor(stuff_ids + [0], dtype=torch.int64)
    stuff_map = torch.where(winner < s, stuff_t[winner.clamp(max=max(s - 1, 0))], -1)
    order = torch.argsort(scores[kept], descending=True, stable=True)
    return assemble_panoptic(torch.where(is_inst, inst, -1), stuff_map, sem, scores=scores[kept], labels=labels[kept],
                             order=order, source_index=kept)  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("stuff_ids", [[6, 7, 8, 9, 10, 11], [11, 7, 9], []])
@pytest.mark.parametrize("with_unknown", [True, False])
def test_upsnet_fusion_equals_the_argmax_over_its_panoptic_logits(seed, stuff_ids, with_unknown):
    sem, boxes, scores, labels, mask_logits = _scene(seed)
    args = dict(thing_ids=[0, 1, 2, 3, 4, 5], stuff_ids=stuff_ids, with_unknown=with_unknown)
    pan, segs = upsnet_fusion(sem, boxes, scores, labels, mask_logits, **args)
    ref_pan, ref_segs = _reference_upsnet(sem, boxes, scores, labels, mask_logits, **args)
    assert torch.equal(pan, ref_pan) and segs == ref_segs
    assert sum(s["isthing"] for s in segs) >= 3  # instances won pixels


def test_upsnet_fusion_with_values_below_the_outside_logit_or_ties_equals_the_dense_argmax():
    sem, boxes, scores, labels, mask_logits = _scene(3)
    args = dict(thing_ids=[0, 1, 2, 3, 4, 5], stuff_ids=[6, 7, 8, 9, 10, 11])
    mask_logits[:, 10:30, 10:40] = -3e4  # below OUTSIDE_BOX_LOGIT inside boxes: the dense argmax decides
    assert upsnet_fusion(sem, boxes, scores, labels, mask_logits, **args)[0].equal(
        _reference_upsnet(sem, boxes, scores, labels, mask_logits, **args)[0]
    )
    sem, boxes, scores, labels, mask_logits = _scene(4)
    sem = sem.round()  # many exact ties between channels and groups: the earlier channel wins, as argmax
    mask_logits = mask_logits.round()
    pan, segs = upsnet_fusion(sem, boxes, scores, labels, mask_logits, **args)
    ref_pan, ref_segs = _reference_upsnet(sem, boxes, scores, labels, mask_logits, **args)
    assert torch.equal(pan, ref_pan) and segs == ref_segs


def test_upsnet_fusion_with_mixed_dtypes_or_gradients_equals_the_dense_argmax():
    sem, boxes, scores, labels, mask_logits = _scene(5)
    args = dict(thing_ids=[0, 1, 2, 3, 4, 5], stuff_ids=[6, 7, 8, 9, 10, 11])
    half = sem.to(torch.bfloat16)  # float32 mask logits would promote it: Z rounds them to bf16
    assert upsnet_fusion(half, boxes, scores, labels, mask_logits, **args)[0].equal(
        _reference_upsnet(half, boxes, scores, labels, mask_logits, **args)[0]
    )
    trained = sem.clone().requires_grad_(True)  # outside no_grad, as a training loop's evaluation may call it
    pan, segs = upsnet_fusion(trained, boxes, scores, labels, mask_logits, **args)
    ref_pan, ref_segs = _reference_upsnet(sem, boxes, scores, labels, mask_logits, **args)
    assert torch.equal(pan, ref_pan) and segs == ref_segs


def test_block_layout_follows_interpolate_only_for_integer_factors():
    for coarse, fine, keep in ((24, 96, 96), (24, 96, 90), (16, 64, 64), (32, 64, 61)):
        axis = block_axis(*_source_index(coarse, fine, keep, torch.device("cpu")), coarse, fine)
        assert axis is not None and axis.scale == fine // coarse and axis.start == axis.scale - axis.scale // 2
    assert block_axis(*_source_index(23, 96, 96, torch.device("cpu")), 23, 96) is None
    assert block_axis(*_source_index(24, 24, 24, torch.device("cpu")), 24, 24) is None


@pytest.mark.parametrize("scale", [0.05, 1.0, 10.0])
@pytest.mark.parametrize("size,crop", [((96, 128), (96, 128)), ((96, 128), (81, 127)), ((96, 128), (30, 41)),
                                       ((64, 64), (64, 64))])  # fmt: skip
def test_cell_by_cell_argmax_equals_the_pixel_path_and_the_dense_resize(scale, size, crop):
    g = torch.Generator().manual_seed(5)
    coarse = (24, 32) if size == (96, 128) else (32, 32)  # factors 4 and 2
    logits = torch.randn(40, *coarse, generator=g) * scale
    logits[:, 3:9, 4:12] += 3 * scale  # a region where few channels compete
    blocks = UpsampledLogits(logits, size, crop)
    pixels = UpsampledLogits(logits, size, crop)
    pixels._blocks = None  # the general, per-pixel path
    got = blocks.argmax()
    assert blocks._block_grid() is not None
    assert torch.equal(got, pixels.argmax())
    dense = F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)[0, :, : crop[0], : crop[1]]
    top2 = dense.topk(2, dim=0).values
    settled = (top2[0] - top2[1]) > 1e-5
    assert bool((got == dense.argmax(0))[settled].all()) and got.shape == crop


def test_class_probability_at_a_few_pixels_equals_the_whole_map():
    g = torch.Generator().manual_seed(6)
    logits = torch.randn(30, 40, 50, generator=g) * 4
    few = torch.where(torch.rand(40, 50, generator=g) < 0.1, torch.randint(0, 30, (40, 50), generator=g), -1)
    expected = torch.exp(logits.gather(0, few.clamp(min=0)[None])[0] - torch.logsumexp(logits, 0)) * (few >= 0)
    assert torch.allclose(class_probability(logits, few), expected, rtol=1e-6, atol=0)
    assert bool((class_probability(logits, few)[few < 0] == 0).all())


def test_windowed_category_channels_and_binary_masks_equal_the_whole_image_ones():
    _, boxes, _, labels, logits = _scene(7)
    probs = torch.sigmoid(logits) * (logits != 0)
    windows = paste_windows(boxes, 28, (64, 80))
    binary = binarize_in_windows(probs, windows)
    assert binary.dtype == torch.bool and torch.equal(binary, probs > 0.5)
    for dtype in (torch.float64, torch.bfloat16):  # NumPy views for float64, torch for bf16: the same comparison
        assert torch.equal(binarize_in_windows(probs.to(dtype), windows, 0.7), probs.to(dtype) > 0.7)
    things = [0, 1, 2, 3, 4, 5]
    for size in (None, (16, 20)):
        got = masks_to_category_channels(binary, labels, thing_ids=things, size=size, windows=windows)
        expected = masks_to_category_channels(binary, labels, thing_ids=things, size=size)
        assert got.shape == expected.shape and torch.allclose(got, expected, rtol=0, atol=1e-6)
        if size is not None:  # an integer factor: the blocks go through F.interpolate itself, to the same values
            assert torch.equal(got, expected)
        assert float(expected.max()) > 0.5 and float(expected.min()) == 0.0
        with torch.autocast("cpu", dtype=torch.bfloat16):  # evaluate(amp="bf16") runs predict under autocast
            autocast = masks_to_category_channels(binary, labels, thing_ids=things, size=size, windows=windows)
        assert torch.equal(autocast, got)


@pytest.mark.parametrize("size", [(96, 128), (90, 122)], ids=["whole-factor", "other-size"])
def test_rank_scores_from_the_windows_equal_the_whole_image_resize(size):
    _, boxes, _, labels, logits = _scene(9, n=40, size=size)
    probs = torch.sigmoid(logits) * (logits != 0)
    windows = paste_windows(boxes, 28, size)
    binary = binarize_in_windows(probs, windows)
    binary[4] = False  # an empty mask scores 0
    torch.manual_seed(0)
    ranking = SpatialRankingModule(6)
    with torch.no_grad():
        got = spatial_ranking_scores(ranking, binary, labels, thing_ids=[0, 1, 2, 3, 4, 5], windows=windows)
        expected = spatial_ranking_scores(ranking, binary, labels, thing_ids=[0, 1, 2, 3, 4, 5])
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6) and float(got[4]) == 0.0
    assert len(set(got.tolist())) > 30  # distinct scores, so the paste order is the same
    assert torch.equal(torch.argsort(got, descending=True), torch.argsort(expected, descending=True))


def test_window_values_equal_the_values_at_those_pixels():
    g = torch.Generator().manual_seed(10)
    upsampled = UpsampledLogits(torch.randn(5, 23, 31, generator=g), (96, 128), (90, 120))  # not a factor of 4
    got = upsampled.window_values(3, slice(10, 40), slice(100, 120))
    rows, cols = torch.meshgrid(torch.arange(10, 40), torch.arange(100, 120), indexing="ij")
    expected = upsampled.values_at(torch.full((rows.numel(),), 3), rows.reshape(-1), cols.reshape(-1))
    assert torch.equal(got, expected.view(30, 20))


def test_zeros_on_demand_are_zeros_of_the_right_kind():
    for dtype in (torch.float32, torch.bfloat16, torch.bool):
        like = torch.empty(0, dtype=dtype)
        big = zeros_on_demand((5, 300, 400), like)
        assert big.shape == (5, 300, 400) and big.dtype == dtype and big.is_contiguous()
        assert not big.any()
        big[2, 10:20, 30:40] = 1
        assert int(big.count_nonzero()) == 100 and bool(big[2, 15, 35])
    small = zeros_on_demand((2, 3), torch.empty(0))
    assert torch.equal(small, torch.zeros(2, 3))


def test_log_sum_exp_by_cells_equals_the_dense_softmax_and_leaves_what_it_cannot_do():
    g = torch.Generator().manual_seed(8)
    logits = torch.randn(60, 24, 32, generator=g) * 0.5  # flat: every channel counts at every pixel
    logits[5, 22, 30] += 200.0  # one spike: its cells' channels spread far above their bound
    size = (96, 128)
    dense = F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)[0]
    classes = torch.full(size, -1, dtype=torch.int64)
    classes[8:40, 10:70] = 3  # blobs, as stuff segments are
    classes[60:96, 100:128] = 7
    expected = torch.exp(dense.gather(0, classes.clamp(min=0)[None])[0] - torch.logsumexp(dense, 0)) * (classes >= 0)
    upsampled = UpsampledLogits(logits, size)
    rows, cols = torch.nonzero(classes >= 0, as_tuple=True)
    lse, done = upsampled._block_grid().log_sum_exp(rows, cols)
    near_spike = ((rows - 89.5).abs() < 6) & ((cols - 121.5).abs() < 6)  # coarse (22, 30) is at (89.5, 121.5)
    assert bool(done[~near_spike].all()) and not bool(done.all())
    assert torch.allclose(lse[done], torch.logsumexp(dense[:, rows, cols], 0)[done], rtol=1e-6, atol=1e-5)
    assert torch.allclose(upsampled.class_probability(classes), expected, rtol=1e-5, atol=1e-7)
    scattered = torch.rand(size, generator=g) < 0.05
    rows, cols = torch.nonzero(scattered, as_tuple=True)
    assert not bool(upsampled._block_grid().log_sum_exp(rows, cols)[1].any())  # pixel by pixel is cheaper there
