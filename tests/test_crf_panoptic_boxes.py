"""refine_panoptic's recomputed segment boxes (COCO [x, y, w, h]) on a map it leaves unchanged."""

from __future__ import annotations

import torch

from segzoo.crf import refine_panoptic


def test_boxes_of_segments_at_the_image_border():
    pan = torch.full((4, 5), 2, dtype=torch.int32)
    pan[:, 0] = 1  # a one-pixel-wide column at x = 0
    pan[0, 1:] = 3  # a one-pixel-high row at y = 0
    segments = [
        {"id": 1, "category_id": 0, "isthing": True, "area": 4, "bbox": [9, 9, 9, 9]},
        {"id": 2, "category_id": 1, "isthing": False, "area": 12, "bbox": [9, 9, 9, 9]},
        {"id": 3, "category_id": 2, "isthing": False, "area": 4, "bbox": [9, 9, 9, 9]},
    ]
    image = torch.full((3, 4, 5), 100, dtype=torch.uint8)
    out, info = refine_panoptic(pan, segments, image, iterations=0)
    assert torch.equal(out.to(pan.dtype), pan)
    assert [s["bbox"] for s in info] == [[0, 0, 1, 4], [1, 1, 4, 3], [1, 0, 4, 1]]
    assert [s["area"] for s in info] == [4, 12, 4]
