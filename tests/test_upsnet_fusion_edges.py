"""UPSNet fusion (Xiong et al., arXiv:1901.03784) at its edges: class-set checks, no stuff classes."""

from __future__ import annotations

import pytest
import torch

from segzoo.fusers.panoptic import upsnet_fusion


def scene(k=3, size=4):
    label = torch.zeros(size, size, dtype=torch.int64)
    label[:, size // 2 :] = 2
    sem = 4.0 * torch.nn.functional.one_hot(label, k).permute(2, 0, 1).float()
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    return sem, boxes, torch.tensor([0.9]), torch.full((1, size, size), 6.0)


def test_class_ids_are_checked_against_the_semantic_channels():
    sem, boxes, scores, masks = scene()  # K = 3 channels on a 4 x 4 image
    with pytest.raises(ValueError):
        upsnet_fusion(sem, boxes, scores, torch.tensor([3]), masks, thing_ids=[1, 3], stuff_ids=[0, 2])
    with pytest.raises(ValueError, match=r"labels \[2\] are not in thing_ids"):
        upsnet_fusion(sem, boxes, scores, torch.tensor([2]), masks, thing_ids=[1], stuff_ids=[0, 2])


def test_without_stuff_classes_everything_but_the_instances_is_void():
    sem, boxes, scores, masks = scene()
    pan, segs = upsnet_fusion(sem, boxes, scores, torch.tensor([1]), masks, thing_ids=[1], stuff_ids=[])
    assert [(s["category_id"], s["isthing"], s["area"]) for s in segs] == [(1, True, 4)]
    expected = torch.zeros(4, 4, dtype=torch.int32)
    expected[0:2, 0:2] = 1
    assert torch.equal(pan, expected)
