"""The seeded synthetic semantic / panoptic benchmarks: determinism, format, difficulty, speed."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from segzoo.data import SYNTHETIC_CATEGORIES, SyntheticPanoptic, SyntheticSemantic


def test_metadata_and_train_ids():
    ds = SyntheticPanoptic(2)
    assert ds.classes == ["disc", "square", "triangle", "ring", "sky", "grass", "sand", "water"]
    assert ds.thing_ids == [0, 1, 2, 3] and ds.stuff_ids == [4, 5, 6, 7] and ds.ignore_index == 255
    assert [c["id"] for c in ds.categories] == [1, 2, 3, 4, 101, 102, 103, 104]
    assert all({"id", "name", "isthing", "color"} <= set(c) for c in SYNTHETIC_CATEGORIES)
    assert SyntheticSemantic(1).classes == ds.classes


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (SyntheticPanoptic(3, size=(48, 64), seed=s) for s in (5, 5, 6))
    for i in (2, 0):  # any order
        (ia, ta), (ib, tb) = a[i], b[i]
        assert torch.equal(ia, ib) and torch.equal(ta["panoptic"], tb["panoptic"])
        assert ta["segments_info"] == tb["segments_info"]
    assert not torch.equal(a[0][0], c[0][0])
    assert not torch.equal(a[0][0], a[1][0])


def test_semantic_and_panoptic_share_scenes():
    pan, sem = SyntheticPanoptic(2, size=(40, 40), seed=1), SyntheticSemantic(2, size=(40, 40), seed=1)
    for i in range(2):
        (ip, tp), (is_, ts) = pan[i], sem[i]
        assert torch.equal(ip, is_) and torch.equal(tp["sem_seg"], ts["sem_seg"])
        assert set(ts) == {"sem_seg", "image_id"} and ts["sem_seg"].dtype == torch.int64


def test_panoptic_target_is_consistent():
    ds = SyntheticPanoptic(6, size=(64, 80), seed=0, min_objects=4, max_objects=10)
    occluded = 0
    for i in range(len(ds)):
        image, t = ds[i]
        assert image.shape == (3, 64, 80) and image.dtype == torch.uint8
        assert t["sem_seg"].max() < 8 and t["sem_seg"].min() >= 0  # no void: every pixel is labelled
        ids = [s["id"] for s in t["segments_info"]]
        assert ids == list(range(1, len(ids) + 1))  # renumbered, hidden instances dropped
        assert sorted(torch.unique(t["panoptic"]).tolist()) == ids
        for s in t["segments_info"]:
            assert s["area"] == int((t["panoptic"] == s["id"]).sum()) > 0
        assert t["masks"].sum(0).max() <= 1  # visible parts only: disjoint
        things = [s for s in t["segments_info"] if s["isthing"]]
        assert len(things) == len(t["labels"]) and set(t["labels"].tolist()) <= {0, 1, 2, 3}
        assert not t["iscrowd"].any()
        for mask, s, box in zip(t["masks"], things, t["boxes"]):
            assert torch.equal(mask, t["panoptic"] == s["id"])
            x, y, w, h = s["bbox"]
            assert box.tolist() == [x, y, x + w, y + h]
        occluded += sum(1 for s in things if s["area"] < 0.5 * s["bbox"][2] * s["bbox"][3])
    assert occluded > 0  # rings and occlusion leave boxes partly empty


def test_scenes_have_small_objects_and_all_classes():
    ds = SyntheticPanoptic(12, size=(128, 128), seed=0)
    areas, seen = [], set()
    for i in range(len(ds)):
        target = ds[i][1]
        areas += [s["area"] for s in target["segments_info"] if s["isthing"]]
        seen |= set(torch.unique(target["sem_seg"]).tolist())
    assert seen == set(range(8))
    assert min(areas) < 32 <= max(areas) and max(areas) > 1000  # COCO "small" objects and large ones


def test_colour_alone_is_not_enough():
    """A nearest-class-mean colour classifier is far from perfect: texture and shape matter."""
    ds = SyntheticSemantic(8, size=(64, 64), seed=2)
    pixels = torch.cat([ds[i][0].reshape(3, -1).T.float() for i in range(8)])
    labels = torch.cat([ds[i][1]["sem_seg"].reshape(-1) for i in range(8)])
    means = torch.stack([pixels[labels == k].mean(0) for k in range(8)])
    accuracy = float((torch.cdist(pixels, means).argmin(1) == labels).float().mean())
    assert 0.3 < accuracy < 0.9


def test_argument_errors():
    with pytest.raises(ValueError, match="min_objects"):
        SyntheticPanoptic(2, min_objects=5, max_objects=2)
    with pytest.raises(ValueError, match="size"):
        SyntheticSemantic(2, size=(4, 64))
    with pytest.raises(IndexError, match="out of range"):
        SyntheticSemantic(2)[2]
    assert np.array_equal(SyntheticSemantic(2)[-1][0].numpy(), SyntheticSemantic(2)[1][0].numpy())
