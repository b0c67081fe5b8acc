"""refine_panoptic: the dense CRF (Krahenbuhl & Koltun, arXiv:1210.5644) over panoptic segments."""

from __future__ import annotations

import pytest
import torch
from conftest import build_tiny

from segzoo.crf import refine_panoptic

H, W, EDGE = 40, 48, 20  # true colour edge at x = 20


def _scene():
    """Two colour regions split at x = 20; the prediction puts the edge at x = 25, has a 2x2
    segment inside the left region that the image does not support, and a void strip."""
    g = torch.Generator().manual_seed(0)
    image = torch.zeros(3, H, W)
    image[:, :, :EDGE] = torch.tensor([200.0, 60.0, 40.0])[:, None, None]
    image[:, :, EDGE:] = torch.tensor([30.0, 90.0, 210.0])[:, None, None]
    image = (image + 6 * torch.randn(3, H, W, generator=g)).clamp(0, 255).to(torch.uint8)
    seg = torch.full((H, W), 7, dtype=torch.int32)  # stuff, left
    seg[:, 25:] = 3  # thing, right
    seg[10:12, 10:12] = 9  # spurious small thing
    seg[36:, 30:] = 0  # void
    info = [
        {"id": 3, "category_id": 1, "isthing": True, "score": 0.9, "area": 0, "bbox": [0, 0, 0, 0]},
        {"id": 7, "category_id": 80, "isthing": False, "area": 0, "bbox": [0, 0, 0, 0]},
        {"id": 9, "category_id": 2, "isthing": True, "score": 0.3, "area": 4, "bbox": [10, 10, 2, 2]},
    ]
    return seg, info, image


def _check_consistent(seg: torch.Tensor, info: list[dict]):
    assert seg.dtype == torch.int32 and seg.shape == (H, W)
    ids = [s["id"] for s in info]
    assert set(torch.unique(seg).tolist()) - {0} == set(ids)
    for s in info:
        mask = seg == s["id"]
        assert s["area"] == int(mask.sum()) > 0
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert s["bbox"] == [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def test_edges_move_to_the_image_edge_and_segments_stay_consistent():
    seg, info, image = _scene()
    new_seg, new_info = refine_panoptic(seg, info, image)
    _check_consistent(new_seg, new_info)
    assert [s["id"] for s in new_info] == [3, 7]  # the unsupported 2x2 segment vanished; order and ids kept
    assert new_info[0]["category_id"] == 1 and new_info[0]["score"] == 0.9 and new_info[1]["isthing"] is False
    rows = slice(0, 36)
    wrong_before = int((seg[rows, EDGE:25] == 7).sum())
    wrong_after = int((new_seg[rows, EDGE:] == 7).sum() + (new_seg[rows, :EDGE] == 3).sum())
    assert wrong_before == 36 * 5 and wrong_after <= wrong_before // 10
    assert info[0]["area"] == 0  # the input dicts are not modified


def test_fill_void_gives_void_pixels_to_neighbouring_segments():
    seg, info, image = _scene()
    new_seg, new_info = refine_panoptic(seg, info, image, fill_void=True)
    _check_consistent(new_seg, new_info)
    assert not bool((new_seg == 0).any())
    assert bool((new_seg[36:, 30:] == 3).all())  # same colour as the thing next to it


def test_given_unary_decides_and_removed_segments_disappear():
    seg, info, image = _scene()
    unary = torch.zeros(4, H, W)  # labels: ids 3, 7, 9 in segments_info order, then void
    unary[0] = 10.0  # logits: everything is segment 3
    new_seg, new_info = refine_panoptic(seg, info, image, unary=unary, input="logits", method="local", blur=2)
    _check_consistent(new_seg, new_info)
    assert [s["id"] for s in new_info] == [3] and new_info[0]["area"] == H * W


def test_invalid_panoptic_inputs_raise():
    seg, info, image = _scene()
    with pytest.raises(ValueError, match="does not list"):
        refine_panoptic(seg, info[:2], image)
    with pytest.raises(ValueError, match=r"plus void last"):
        refine_panoptic(seg, info, image, unary=torch.zeros(3, H, W))
    with pytest.raises(ValueError, match="unique positive"):
        refine_panoptic(seg, info + [dict(info[0])], image)
    with pytest.raises(ValueError, match="resize the unary"):
        refine_panoptic(seg, info, image[:, :-1])


def _photo_like(h: int = 48, w: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    image = torch.zeros(3, h, w)
    image[:, :, : w // 2] = torch.tensor([190.0, 70.0, 40.0])[:, None, None]
    image[:, :, w // 2 :] = torch.tensor([40.0, 100.0, 200.0])[:, None, None]
    return (image + 10 * torch.randn(3, h, w, generator=g)).clamp(0, 255).to(torch.uint8)


def test_seed002_recipe_refines_with_the_crf_fed_the_models_own_probabilities(monkeypatch):
    """panoptic_cascade_x101_dcn runs the dense CRF after its fuser, its unary the network's own panoptic
    logits for the fused segments (not the labels at a fixed confidence); crf=False skips it;
    unary_source="labels" gives the labels-at-confidence CRF; other recipes don't refine."""
    import segzoo
    from segzoo.fusers.panoptic import crf_unary as panoptic_unary
    from segzoo.fusers.panoptic.crf_unary import segment_logits

    assert segzoo.model_info("panoptic_cascade_x101_dcn")["defaults"]["crf"] is True
    assert segzoo.model_info("panoptic_fpn_r50")["defaults"]["crf"] is False
    model = build_tiny("panoptic_cascade_x101_dcn").eval()
    assert model.crf == {}
    image = _photo_like()
    plain = model.predict(image, crf=False)
    seen = {}
    original = panoptic_unary.refine_panoptic_with_model

    def spy(*args, **kwargs):
        seen["args"], seen["kwargs"] = args, kwargs
        return original(*args, **kwargs)

    monkeypatch.setattr("segzoo.models.panoptic.model.refine_panoptic_with_model", spy)
    refined = model.predict(image)
    assert model.crf == {}  # the per-call override is not kept
    _, _, _, sem, instances = seen["args"]
    assert torch.equal(seen["args"][0], plain.panoptic_seg) and sem.shape[-2:] == image.shape[-2:]
    unary = segment_logits(sem, instances, plain.segments_info, plain.panoptic_seg, thing_ids=model.thing_ids,
                           stuff_ids=model.stuff_ids)  # fmt: skip
    expected_seg, expected_info = refine_panoptic(plain.panoptic_seg, plain.segments_info, image, unary=unary, input="logits")
    assert torch.equal(refined.panoptic_seg, expected_seg) and refined.segments_info == expected_info
    monkeypatch.undo()
    labels = model.predict(image, crf={"unary_source": "labels", "iterations": 1, "confidence": 0.6})
    seg1, info1 = refine_panoptic(plain.panoptic_seg, plain.segments_info, image, iterations=1, confidence=0.6)
    assert torch.equal(labels.panoptic_seg, seg1) and labels.segments_info == info1
    with pytest.raises(ValueError, match="unary_source must be"):
        model.predict(image, crf={"unary_source": "guess"})
    off = build_tiny("panoptic_cascade_x101_dcn", crf=False).eval()
    assert off.crf is None


def test_segment_logits_are_upsnets_channels_in_segment_order():
    """Known answer: a thing segment's channel is its mask logit + its class's semantic logit inside its
    box (-1e4 outside), a stuff segment's its class logit, void's UPSNet's unknown channel."""
    from segzoo.fusers.panoptic.crf_unary import segment_logits
    from segzoo.fusers.panoptic.upsnet import OUTSIDE_BOX_LOGIT

    g = torch.Generator().manual_seed(0)
    sem = torch.randn(4, 6, 8, generator=g)  # classes 0, 1 things; 2, 3 stuff
    masks = torch.randn(2, 6, 8, generator=g)
    instances = {"boxes": torch.tensor([[0.0, 0.0, 4.0, 6.0], [4.0, 2.0, 8.0, 6.0]]), "labels": torch.tensor([1, 0]),
                 "mask_logits": masks, "scores": torch.tensor([0.9, 0.8])}  # fmt: skip
    seg = torch.zeros(6, 8, dtype=torch.int32)
    seg[:, :4], seg[:3, 4:] = 1, 2  # instance 1 lost; stuff class 3; void bottom-right
    info = [{"id": 1, "category_id": 1, "isthing": True, "instance_id": 0}, {"id": 2, "category_id": 3, "isthing": False}]
    got = segment_logits(sem, instances, info, seg, thing_ids=[0, 1], stuff_ids=[2, 3])
    inside = torch.zeros(6, 8, dtype=torch.bool)
    inside[:, :4] = True
    thing = torch.where(inside, masks[0] + sem[1], torch.tensor(OUTSIDE_BOX_LOGIT))
    unknown = sem[:2].amax(0) - thing.clamp(min=0)
    torch.testing.assert_close(got, torch.stack([thing, sem[3], unknown]))
    assert segment_logits(sem, instances, info, seg, thing_ids=[0, 1], stuff_ids=[2, 3], fill_void=True).shape[0] == 2
    with pytest.raises(ValueError, match="instance_id"):
        segment_logits(sem, instances, [{"id": 1, "isthing": True}], seg, thing_ids=[0, 1], stuff_ids=[2, 3])


def test_crf_option_errors_say_how_to_fix():
    model = build_tiny("panoptic_fpn_r50").eval()
    assert model.crf is None
    with pytest.raises(TypeError, match="unknown crf option.*bogus.*iterations"):
        model.predict(_photo_like(32, 32), crf={"bogus": 1})
    with pytest.raises(TypeError, match="crf must be True, False or a dict"):
        model.predict(_photo_like(32, 32), crf="yes")
    with pytest.raises(ValueError, match="in_chans=3"):
        build_tiny("panoptic_fpn_r50", in_chans=4, crf=True).eval()
