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


def test_seed002_recipe_refines_with_the_crf_in_predict():
    """panoptic_cascade_x101_dcn runs refine_panoptic after its fuser; crf=False skips it; other recipes don't."""
    import segzoo

    assert segzoo.model_info("panoptic_cascade_x101_dcn")["defaults"]["crf"] is True
    assert segzoo.model_info("panoptic_fpn_r50")["defaults"]["crf"] is False
    model = build_tiny("panoptic_cascade_x101_dcn").eval()
    assert model.crf == {}
    image = _photo_like()
    plain = model.predict(image, crf=False)
    refined = model.predict(image)
    assert model.crf == {}  # the per-call override is not kept
    expected_seg, expected_info = refine_panoptic(plain.panoptic_seg, plain.segments_info, image)
    assert torch.equal(refined.panoptic_seg, expected_seg) and refined.segments_info == expected_info
    one = model.predict(image, crf={"iterations": 1, "confidence": 0.6})
    seg1, info1 = refine_panoptic(plain.panoptic_seg, plain.segments_info, image, iterations=1, confidence=0.6)
    assert torch.equal(one.panoptic_seg, seg1) and one.segments_info == info1
    off = build_tiny("panoptic_cascade_x101_dcn", crf=False).eval()
    assert off.crf is None


def test_crf_option_errors_say_how_to_fix():
    model = build_tiny("panoptic_fpn_r50").eval()
    assert model.crf is None
    with pytest.raises(TypeError, match="unknown crf option.*bogus.*iterations"):
        model.predict(_photo_like(32, 32), crf={"bogus": 1})
    with pytest.raises(TypeError, match="crf must be True, False or a dict"):
        model.predict(_photo_like(32, 32), crf="yes")
    with pytest.raises(ValueError, match="in_chans=3"):
        build_tiny("panoptic_fpn_r50", in_chans=4, crf=True).eval()
