"""Panoptic fusers exactly at their thresholds, on 4x4 scenes.

Classes: 0 sky (stuff), 1 person (thing), 2 road (stuff). Semantic argmax: sky in columns 0-1,
road in columns 2-3. The heuristic (Kirillov et al., arXiv:1801.00868) keeps ``score >=
score_threshold``, ``mask >= mask_threshold``, an instance whose taken part is ``<=
overlap_threshold`` of its area, and stuff with ``area >= stuff_area_limit``; UPSNet
(arXiv:1901.03784) applies the same score and stuff-area rules.
"""

from __future__ import annotations

import pytest
import torch

from segzoo.fusers.panoptic import create_panoptic_fuser, heuristic_fusion, paste_instances, upsnet_fusion

THINGS, STUFF = [1], [0, 2]


def sem_logits():
    label = torch.tensor([[0, 0, 2, 2]] * 4)
    return 4.0 * torch.nn.functional.one_hot(label, 3).permute(2, 0, 1).float()


def block(r0, r1, c0, c1, value=1.0):
    m = torch.zeros(4, 4)
    m[r0:r1, c0:c1] = value
    return m


def fuse(masks, scores, labels=None, **options):
    options = {"stuff_area_limit": 0, **options}
    labels = torch.ones(len(scores), dtype=torch.int64) if labels is None else labels
    return heuristic_fusion(sem_logits(), masks, torch.tensor(scores), labels, thing_ids=THINGS, stuff_ids=STUFF,
                            **options)  # fmt: skip


def things(segments):
    return [(s["instance_id"], s["area"]) for s in segments if s["isthing"]]


def test_score_exactly_at_the_threshold_is_kept():
    masks = block(0, 2, 0, 2)[None]
    assert things(fuse(masks, [0.5], score_threshold=0.5)[1]) == [(0, 4)]
    assert things(fuse(masks, [0.5], score_threshold=0.5 + 1e-6)[1]) == []


def test_mask_probability_exactly_at_the_threshold_is_inside():
    masks = block(0, 2, 0, 2, 0.5)[None] + block(2, 3, 0, 1, 0.25)[None]
    pan, segs = fuse(masks, [0.9], mask_threshold=0.5)
    assert things(segs) == [(0, 4)]
    assert things(fuse(masks, [0.9], mask_threshold=0.25)[1]) == [(0, 5)]
    assert things(fuse(masks, [0.9], mask_threshold=0.75)[1]) == []  # an empty mask is dropped
    assert bool((pan[0:2, 0:2] == 1).all()) and int((pan == 1).sum()) == 4


def test_bool_masks_are_used_as_they_are():
    masks = block(0, 2, 0, 2).bool()[None]
    assert things(fuse(masks, [0.9], mask_threshold=2.0)[1]) == [(0, 4)]


def test_overlap_exactly_at_the_threshold_is_kept():
    # B (second) covers 4 px, 2 of them taken by A: overlap 0.5 of its area.
    masks = torch.stack([block(0, 2, 0, 2), block(1, 2, 0, 4)])
    assert things(fuse(masks, [0.9, 0.8], overlap_threshold=0.5)[1]) == [(0, 4), (1, 2)]
    assert things(fuse(masks, [0.9, 0.8], overlap_threshold=0.49)[1]) == [(0, 4)]


def test_paste_order_and_ownership():
    masks = torch.stack([block(0, 2, 0, 2), block(1, 3, 1, 3)]).bool()
    owner = paste_instances(masks, torch.tensor([1, 0]), overlap_threshold=1.0)
    expected = torch.full((4, 4), -1)
    expected[1:3, 1:3] = 1
    expected[0, 0:2] = 0
    expected[1, 0] = 0
    assert torch.equal(owner, expected)
    # an order that leaves an instance out does not paste it
    owner = paste_instances(masks, torch.tensor([0]))
    assert int((owner == 0).sum()) == 4 and int((owner == 1).sum()) == 0
    assert torch.equal(paste_instances(masks, torch.zeros(0, dtype=torch.int64)), torch.full((4, 4), -1))


def test_higher_score_pastes_first_and_rank_scores_reorder():
    masks = torch.stack([block(0, 2, 0, 2), block(0, 2, 0, 2)])
    assert things(fuse(masks, [0.6, 0.9])[1]) == [(1, 4)]  # the later, higher-scored one wins
    _, segs = fuse(masks, [0.6, 0.9], rank_scores=torch.tensor([0.8, 0.1]))
    assert things(segs) == [(0, 4)]
    _, segs = fuse(masks, [0.6, 0.9], rank_scores=torch.tensor([0.5, 0.5]))  # tie: detection score decides
    assert things(segs) == [(1, 4)]


def test_stuff_area_exactly_at_the_limit_is_kept():
    masks = block(0, 4, 0, 1)[None]  # the person takes column 0: sky keeps 4 px, road 8 px
    _, segs = fuse(masks, [0.9], stuff_area_limit=4)
    assert [(s["category_id"], s["area"]) for s in segs if not s["isthing"]] == [(0, 4), (2, 8)]
    _, segs = fuse(masks, [0.9], stuff_area_limit=5)
    assert [(s["category_id"], s["area"]) for s in segs if not s["isthing"]] == [(2, 8)]


def test_free_pixels_with_a_thing_argmax_stay_void():
    logits = sem_logits()
    logits[1, 3, 3] = 9.0  # person argmax, no instance there
    pan, segs = heuristic_fusion(logits, torch.zeros(0, 4, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64),
                                 thing_ids=THINGS, stuff_ids=STUFF, stuff_area_limit=0)  # fmt: skip
    assert int(pan[3, 3]) == 0 and [s["area"] for s in segs] == [8, 7]


def test_labels_outside_thing_ids_are_named():
    masks = torch.stack([block(0, 2, 0, 2), block(2, 4, 0, 2)])
    with pytest.raises(ValueError, match=r"labels \[2\] are not in thing_ids"):
        fuse(masks, [0.9, 0.9], labels=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"labels \[2\] are not in thing_ids \[\]"):
        heuristic_fusion(sem_logits(), masks[:1], torch.tensor([0.9]), torch.tensor([2]), thing_ids=[],
                         stuff_ids=[1, 2], stuff_area_limit=0)  # fmt: skip


def upsnet(scores, **options):
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0]] * len(scores))
    mask_logits = torch.full((len(scores), 4, 4), 6.0)
    return upsnet_fusion(sem_logits(), boxes, torch.tensor(scores), torch.ones(len(scores), dtype=torch.int64),
                         mask_logits, thing_ids=THINGS, stuff_ids=STUFF, **options)  # fmt: skip


def test_upsnet_score_and_area_limits_are_inclusive():
    assert things(upsnet([0.5], score_threshold=0.5)[1]) == [(0, 4)]
    assert things(upsnet([0.5], score_threshold=0.5 + 1e-6)[1]) == []
    _, segs = upsnet([0.9], stuff_area_limit=4)
    assert [(s["category_id"], s["area"]) for s in segs if not s["isthing"]] == [(0, 4), (2, 8)]
    _, segs = upsnet([0.9], stuff_area_limit=5)
    assert [(s["category_id"], s["area"]) for s in segs if not s["isthing"]] == [(2, 8)]


def test_fuser_modules_pass_their_thresholds():
    instances = {"boxes": torch.tensor([[0.0, 0.0, 2.0, 2.0]]), "scores": torch.tensor([0.5]),
                 "labels": torch.tensor([1]), "masks": block(0, 2, 0, 2, 0.999)[None]}  # fmt: skip
    for name in ("heuristic", "upsnet"):
        kept = create_panoptic_fuser(name, score_threshold=0.5, stuff_area_limit=0)
        dropped = create_panoptic_fuser(name, score_threshold=0.6, stuff_area_limit=0)
        assert things(kept(sem_logits(), instances, thing_ids=THINGS, stuff_ids=STUFF)[1]) == [(0, 4)], name
        assert things(dropped(sem_logits(), instances, thing_ids=THINGS, stuff_ids=STUFF)[1]) == [], name
    strict = create_panoptic_fuser("heuristic", mask_threshold=0.9995, stuff_area_limit=0)
    assert things(strict(sem_logits(), instances, thing_ids=THINGS, stuff_ids=STUFF)[1]) == []
