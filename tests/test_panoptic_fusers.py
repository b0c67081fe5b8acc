"""Panoptic fusers (heuristic, spatial ranking, UPSNet), COCO conversion and check_panoptic.

Known answers on hand-built 8x8 scenes. Classes: train ids 0..4 with thing_ids [1, 3] and
stuff_ids [0, 2, 4] (interleaved on purpose): 0 sky, 1 person, 2 road, 3 car, 4 grass.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segzoo.data.panoptic_utils import CategoryMap
from segzoo.fusers.panoptic import (
    OUTSIDE_BOX_LOGIT,
    PANOPTIC_FUSERS,
    check_panoptic,
    create_panoptic_fuser,
    from_coco_panoptic,
    heuristic_fusion,
    rank_scores_from_map,
    spatial_ranking_fusion,
    spatial_ranking_loss,
    spatial_ranking_targets,
    to_coco_panoptic,
    upsnet_fusion,
    upsnet_loss,
    upsnet_panoptic_logits,
    upsnet_targets,
)
from segzoo.fusers.panoptic._common import box_masks

THINGS, STUFF = [1, 3], [0, 2, 4]
K = 5
P = math.exp(4) / (math.exp(4) + 4)  # softmax probability of the argmax class of 4 * one_hot


def rect(r0, r1, c0, c1, size=8):
    """Bool (size, size) mask of rows r0..r1 and cols c0..c1 (inclusive)."""
    m = torch.zeros(size, size, dtype=torch.bool)
    m[r0 : r1 + 1, c0 : c1 + 1] = True
    return m


def one_hot_logits(labels):
    return 4.0 * torch.nn.functional.one_hot(labels, K).permute(2, 0, 1).float()


def heuristic_scene():
    """Semantic: sky rows 0-3, road rows 4-7, a thing argmax (car) at r0-1 c3-4 with no
    instance, grass at r6-7 c7 (2 px). Instances, input order C, E, B, F, A, D."""
    sem = torch.zeros(8, 8, dtype=torch.int64)
    sem[4:] = 2
    sem[0:2, 3:5] = 3
    sem[6:8, 7] = 4
    inst = {  # name: (score, label, mask)
        "C": (0.7, 1, rect(2, 4, 1, 3)),  # inside A: dropped (overlap 9/9)
        "E": (0.4, 1, rect(0, 1, 0, 1)),  # below the score threshold
        "B": (0.8, 3, rect(4, 7, 3, 6)),  # overlaps A on 4/16 px: keeps 12
        "F": (0.55, 3, rect(6, 7, 1, 4)),  # overlaps B on exactly 4/8 px: kept (<= 0.5)
        "A": (0.9, 1, rect(2, 5, 1, 4)),
        "D": (0.6, 1, rect(0, 1, 6, 7)),
    }
    names = list(inst)
    masks = torch.stack([inst[n][2] for n in names]).float() * 0.8
    masks[names.index("A"), 6, 0] = 0.49  # below mask_threshold: not part of A
    instances = {
        "boxes": torch.zeros(len(names), 4),  # unused by the heuristic
        "scores": torch.tensor([inst[n][0] for n in names]),
        "labels": torch.tensor([inst[n][1] for n in names]),
        "masks": masks,
    }
    return one_hot_logits(sem), instances, names


HEURISTIC_MAP = [
    [5, 5, 5, 0, 0, 5, 3, 3],
    [5, 5, 5, 0, 0, 5, 3, 3],
    [5, 1, 1, 1, 1, 5, 5, 5],
    [5, 1, 1, 1, 1, 5, 5, 5],
    [6, 1, 1, 1, 1, 2, 2, 6],
    [6, 1, 1, 1, 1, 2, 2, 6],
    [6, 4, 4, 2, 2, 2, 2, 0],
    [6, 4, 4, 2, 2, 2, 2, 0],
]


def brief(segments):
    return [(s["id"], s["category_id"], s["isthing"], s["area"]) for s in segments]


def test_heuristic_known_answer():
    sem_logits, instances, names = heuristic_scene()
    pan, segs = heuristic_fusion(
        sem_logits, instances["masks"], instances["scores"], instances["labels"],
        thing_ids=THINGS, stuff_ids=STUFF, stuff_area_limit=5,
    )
    assert pan.dtype == torch.int32 and pan.device == sem_logits.device
    assert pan.tolist() == HEURISTIC_MAP
    assert brief(segs) == [
        (1, 1, True, 16), (2, 3, True, 12), (3, 1, True, 4), (4, 3, True, 4), (5, 0, False, 16), (6, 2, False, 6)
    ]
    assert [s.get("instance_id") for s in segs[:4]] == [names.index(n) for n in "ABDF"]
    assert [s["score"] for s in segs[:4]] == pytest.approx([0.9, 0.8, 0.6, 0.55])
    assert [s["score"] for s in segs[4:]] == pytest.approx([P, P])  # mean semantic probability
    check_panoptic(pan, segs, thing_ids=THINGS, stuff_ids=STUFF, consecutive=True)


def test_heuristic_thresholds():
    sem_logits, instances, names = heuristic_scene()
    args = (sem_logits, instances["masks"], instances["scores"], instances["labels"])
    # Lower score threshold: E (0.4) now pastes at r0-1 c0-1, taking 4 sky pixels.
    pan, segs = heuristic_fusion(*args, thing_ids=THINGS, stuff_ids=STUFF, stuff_area_limit=5, score_threshold=0.3)
    assert pan[0:2, 0:2].unique().tolist() == [5] and segs[4]["instance_id"] == names.index("E")
    # Overlap threshold below 0.5: F (exactly 50 % covered) is dropped; road takes nothing more (F's
    # free pixels r6-7 c1-2 are road).
    pan, segs = heuristic_fusion(*args, thing_ids=THINGS, stuff_ids=STUFF, stuff_area_limit=5, overlap_threshold=0.4)
    assert [s["instance_id"] for s in segs if s["isthing"]] == [names.index(n) for n in "ABD"]
    assert pan[6:8, 1:3].unique().tolist() == [5]  # road's id is now 5 (4 things -> 3)
    # Default stuff limit (4096 px) voids every stuff segment of an 8x8 image.
    pan, segs = heuristic_fusion(*args, thing_ids=THINGS, stuff_ids=STUFF)
    assert all(s["isthing"] for s in segs) and int((pan == 0).sum()) == 64 - 36
    # Stuff limit 1 keeps the 2-pixel grass.
    pan, segs = heuristic_fusion(*args, thing_ids=THINGS, stuff_ids=STUFF, stuff_area_limit=1)
    assert brief(segs)[-1] == (7, 4, False, 2)
    check_panoptic(pan, segs, consecutive=True)


def test_heuristic_empty_instances_and_empty_mask():
    sem_logits, _, _ = heuristic_scene()
    empty = torch.zeros(0, 8, 8)
    pan, segs = heuristic_fusion(
        sem_logits, empty, torch.zeros(0), torch.zeros(0, dtype=torch.int64), thing_ids=THINGS, stuff_ids=STUFF,
        stuff_area_limit=5,
    )
    # Sky 28 px (32 minus the 4 car-argmax pixels); road 30 px (32 minus grass).
    assert brief(segs) == [(1, 0, False, 28), (2, 2, False, 30)]
    assert pan[0:2, 3:5].eq(0).all()  # thing argmax, no instance: void
    masks = torch.stack([torch.zeros(8, 8), rect(0, 0, 0, 0).float()])  # an empty mask first, then one pixel
    pan, segs = heuristic_fusion(
        sem_logits, masks, torch.tensor([0.9, 0.8]), torch.tensor([1, 3]), thing_ids=THINGS, stuff_ids=STUFF,
        stuff_area_limit=5,
    )
    assert brief(segs)[0] == (1, 3, True, 1) and segs[0]["instance_id"] == 1
    check_panoptic(pan, segs, consecutive=True)


def test_label_outside_thing_ids_is_rejected():
    sem_logits, instances, _ = heuristic_scene()
    with pytest.raises(ValueError, match=r"not in thing_ids \[1, 3\]"):
        heuristic_fusion(sem_logits, instances["masks"], instances["scores"], torch.full((6,), 2),
                         thing_ids=THINGS, stuff_ids=STUFF)
    with pytest.raises(ValueError, match="disjoint"):
        heuristic_fusion(sem_logits, instances["masks"], instances["scores"], instances["labels"],
                         thing_ids=THINGS, stuff_ids=[0, 1])


def test_spatial_ranking_reverses_the_overlap_winner():
    sem_logits, instances, names = heuristic_scene()
    # Ranking: B above A (reversed w.r.t. the detection scores); E ranks first but its detection
    # score (0.4) is still below the threshold.
    rank = {"A": 0.8, "B": 0.9, "C": 0.7, "D": 0.6, "F": 0.5, "E": 0.95}
    rank_scores = torch.tensor([rank[n] for n in names])
    pan, segs = spatial_ranking_fusion(
        sem_logits, instances["masks"], instances["scores"], instances["labels"], rank_scores,
        thing_ids=THINGS, stuff_ids=STUFF, stuff_area_limit=5,
    )
    expected = [row[:] for row in HEURISTIC_MAP]
    for r in range(2, 6):
        for c in range(1, 5):
            expected[r][c] = 2  # A is now id 2 ...
    for r in range(4, 8):
        for c in range(3, 7):
            expected[r][c] = 1  # ... and B (id 1) keeps all 16 pixels
    assert pan.tolist() == expected
    assert [s.get("instance_id") for s in segs[:4]] == [names.index(n) for n in "BADF"]
    assert [s["area"] for s in segs[:2]] == [16, 12]
    assert [s["score"] for s in segs[:2]] == pytest.approx([0.8, 0.9])  # detection scores
    check_panoptic(pan, segs, thing_ids=THINGS, stuff_ids=STUFF, consecutive=True)


def test_rank_scores_from_map_known_answer():
    prob = torch.zeros(2, 4, 4)
    prob[0] = 0.2
    prob[1, :, :2] = 1.0  # car channel: 1 on the left half, 0 on the right
    masks = torch.stack([rect(0, 0, 1, 2, 4), rect(1, 3, 0, 0, 4), torch.zeros(4, 4, dtype=torch.bool)])
    labels = torch.tensor([3, 1, 3])
    scores = rank_scores_from_map(prob, masks, labels, thing_ids=THINGS, from_logits=False)
    torch.testing.assert_close(scores, torch.tensor([0.5, 0.2, 0.0]))
    logits = torch.zeros(2, 4, 4)
    scores = rank_scores_from_map(logits, masks, labels, thing_ids=THINGS)  # sigmoid(0) = 0.5
    torch.testing.assert_close(scores, torch.tensor([0.5, 0.5, 0.0]))


def test_spatial_ranking_targets_and_loss():
    masks = torch.stack([rect(0, 1, 0, 1, 4), rect(2, 3, 2, 3, 4), rect(0, 0, 3, 3, 4)])
    labels = torch.tensor([3, 1, 3])
    targets = spatial_ranking_targets(masks, labels, thing_ids=THINGS)
    assert targets.shape == (2, 4, 4) and targets.dtype == torch.float32
    torch.testing.assert_close(targets[0], masks[1].float())  # channel 0 = class 1
    torch.testing.assert_close(targets[1], (masks[0] | masks[2]).float())  # channel 1 = class 3
    ones = torch.ones(1, 8, 8, dtype=torch.bool)
    full = spatial_ranking_targets(ones, torch.tensor([1]), thing_ids=THINGS, size=(4, 4))
    torch.testing.assert_close(full, torch.stack([torch.ones(4, 4), torch.zeros(4, 4)]))
    loss = spatial_ranking_loss(torch.zeros(2, 4, 4), targets)
    assert loss.item() == pytest.approx(math.log(2))


def test_box_masks_use_pixel_centres():
    inside = box_masks(torch.tensor([[1.2, 0.6, 3.5, 2.4], [0.0, 0.0, 4.0, 4.0]]), (4, 5))
    assert inside[0].nonzero().tolist() == [[1, 1], [1, 2]]
    assert inside[1].sum() == 16 and inside[1, :, :4].all()


def upsnet_scene():
    """Sky rows 0-3, road rows 4-7; person A's object r2-5 c1-4; car B's object r6-7 c5-6; an
    unclaimed car argmax at r0-1 c6-7 (covered only by C, whose score is below 0.5)."""
    sem = torch.zeros(8, 8, dtype=torch.int64)
    sem[4:] = 2
    sem[2:6, 1:5] = 1
    sem[6:8, 5:7] = 3
    sem[0:2, 6:8] = 3
    mask_logits = torch.full((3, 8, 8), -5.0)
    mask_logits[0, 2:6, 1:5] = 3.0
    mask_logits[1, 6:8, 5:7] = 3.0
    mask_logits[2, 0:2, 6:8] = 3.0
    instances = {
        "boxes": torch.tensor([[1.0, 2.0, 5.0, 6.0], [4.0, 5.0, 8.0, 8.0], [6.0, 0.0, 8.0, 2.0]]),
        "scores": torch.tensor([0.9, 0.8, 0.3]),
        "labels": torch.tensor([1, 3, 3]),
        "masks": torch.sigmoid(mask_logits),
        "mask_logits": mask_logits,
    }
    return one_hot_logits(sem), instances


UPSNET_MAP = [
    [3, 3, 3, 3, 3, 3, 0, 0],
    [3, 3, 3, 3, 3, 3, 0, 0],
    [3, 1, 1, 1, 1, 3, 3, 3],
    [3, 1, 1, 1, 1, 3, 3, 3],
    [4, 1, 1, 1, 1, 4, 4, 4],
    [4, 1, 1, 1, 1, 4, 4, 4],
    [4, 4, 4, 4, 4, 2, 2, 4],
    [4, 4, 4, 4, 4, 2, 2, 4],
]


def test_upsnet_logits_layout():
    sem_logits = torch.randn(K, 8, 8)
    boxes = torch.tensor([[1.0, 2.0, 5.0, 6.0], [4.0, 5.0, 8.0, 8.0]])
    labels = torch.tensor([1, 3])
    mask_logits = torch.randn(2, 8, 8)
    z = upsnet_panoptic_logits(sem_logits, boxes, labels, mask_logits, thing_ids=THINGS, stuff_ids=STUFF)
    assert z.shape == (3 + 2 + 1, 8, 8)
    torch.testing.assert_close(z[:3], sem_logits[STUFF])
    for i, inside in enumerate([rect(2, 5, 1, 4), rect(5, 7, 4, 7)]):
        torch.testing.assert_close(z[3 + i][inside], (mask_logits[i] + sem_logits[labels[i]])[inside])
        assert (z[3 + i][~inside] == OUTSIDE_BOX_LOGIT).all()
    claimed = z[3:5].amax(0).clamp(min=0)  # "no instance" counts as 0 (the paper's zero padding)
    torch.testing.assert_close(z[5], sem_logits[THINGS].amax(0) - claimed)
    free = ~(rect(2, 5, 1, 4) | rect(5, 7, 4, 7))
    assert (z[5][free] == sem_logits[THINGS].amax(0)[free]).all()  # no box: unknown = max thing logit
    z2 = upsnet_panoptic_logits(
        sem_logits, boxes, labels, mask_logits, thing_ids=THINGS, stuff_ids=STUFF, with_unknown=False
    )
    torch.testing.assert_close(z2, z[:5])
    # Differentiable w.r.t. both heads.
    sem_logits.requires_grad_(True)
    mask_logits.requires_grad_(True)
    z = upsnet_panoptic_logits(sem_logits, boxes, labels, mask_logits, thing_ids=THINGS, stuff_ids=STUFF)
    z[3].sum().backward()  # instance 0's channel: gradient 1 inside its box, 0 outside
    torch.testing.assert_close(mask_logits.grad[0], rect(2, 5, 1, 4).float())
    torch.testing.assert_close(sem_logits.grad[1], rect(2, 5, 1, 4).float())


def test_upsnet_fusion_known_answer_and_unknown_channel():
    sem_logits, instances = upsnet_scene()
    fuser = create_panoptic_fuser("upsnet")
    pan, segs = fuser(sem_logits, instances, thing_ids=THINGS, stuff_ids=STUFF)
    assert pan.tolist() == UPSNET_MAP  # the unclaimed car pixels (r0-1 c6-7) are unknown -> void
    assert brief(segs) == [(1, 1, True, 16), (2, 3, True, 4), (3, 0, False, 20), (4, 2, False, 20)]
    assert [s["score"] for s in segs] == pytest.approx([0.9, 0.8, P, P])
    check_panoptic(pan, segs, thing_ids=THINGS, stuff_ids=STUFF, consecutive=True)
    # Without the unknown channel the unclaimed pixels fall to the best stuff logit (a tie at 0: sky).
    fuser = create_panoptic_fuser("upsnet", with_unknown=False)
    pan, segs = fuser(sem_logits, instances, thing_ids=THINGS, stuff_ids=STUFF)
    assert pan[0:2, 6:8].unique().tolist() == [3] and segs[2]["area"] == 24
    # A lower threshold lets C claim them.
    fuser = create_panoptic_fuser("upsnet", score_threshold=0.2)
    pan, segs = fuser(sem_logits, instances, thing_ids=THINGS, stuff_ids=STUFF)
    assert pan[0:2, 6:8].unique().tolist() == [3] and segs[2]["instance_id"] == 2 and segs[2]["isthing"]
    # Without mask_logits the fuser takes the logits of the mask probabilities: same answer.
    no_logits = {k: v for k, v in instances.items() if k != "mask_logits"}
    pan, _ = create_panoptic_fuser("upsnet")(sem_logits, no_logits, thing_ids=THINGS, stuff_ids=STUFF)
    assert pan.tolist() == UPSNET_MAP


def test_upsnet_empty_instances_and_area_limit():
    sem_logits, _ = upsnet_scene()
    pan, segs = upsnet_fusion(
        sem_logits, torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), torch.zeros(0, 8, 8),
        thing_ids=THINGS, stuff_ids=STUFF,
    )
    assert brief(segs) == [(1, 0, False, 20), (2, 2, False, 20)]  # every thing pixel is unknown -> void
    pan, segs = upsnet_fusion(
        sem_logits, torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), torch.zeros(0, 8, 8),
        thing_ids=THINGS, stuff_ids=STUFF, stuff_area_limit=21,
    )
    assert segs == [] and pan.eq(0).all()


def test_upsnet_targets_and_loss_known_answer():
    sem_seg = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 255, 3], [2, 2, 3, 3]])
    gt_masks = rect(0, 1, 2, 3, 4)[None]  # one GT person; the car pixels belong to a dropped instance
    stuff = [0, 2]
    t = upsnet_targets(sem_seg, gt_masks, thing_ids=THINGS, stuff_ids=stuff)
    assert t.tolist() == [[0, 0, 2, 2], [0, 0, 2, 2], [1, 1, 255, 3], [1, 1, 3, 3]]
    t2 = upsnet_targets(sem_seg, gt_masks, thing_ids=THINGS, stuff_ids=stuff, with_unknown=False)
    assert t2.tolist() == [[0, 0, 2, 2], [0, 0, 2, 2], [1, 1, 255, 255], [1, 1, 255, 255]]
    with pytest.raises(ValueError, match=r"labels \[4\]"):
        upsnet_targets(sem_seg.clamp(max=4).masked_fill(sem_seg == 3, 4), gt_masks, thing_ids=THINGS, stuff_ids=stuff)
    z = torch.zeros(4, 4, 4)
    assert upsnet_loss(z, t).item() == pytest.approx(math.log(4))  # uniform logits: log C per pixel
    z[0, 0, 0] = 2.0  # pixel (0, 0) is stuff 0: loss there is -log softmax = log(e^2 + 3) - 2
    expected = (math.log(math.exp(2) + 3) - 2 + 14 * math.log(4)) / 15
    assert upsnet_loss(z, t).item() == pytest.approx(expected)
    assert upsnet_loss(z, torch.full((4, 4), 255)).item() == 0.0


@pytest.mark.parametrize("name", PANOPTIC_FUSERS.names())
def test_every_fuser_shares_the_call_and_passes_check(name):
    sem_logits, instances = upsnet_scene()
    instances["rank_scores"] = torch.tensor([0.1, 0.9, 0.5])
    sem_logits = sem_logits.double() + 0.1 * torch.randn(K, 8, 8, dtype=torch.float64)
    fuser = create_panoptic_fuser(name, stuff_area_limit=3)
    assert list(fuser.parameters()) == []
    pan, segs = fuser(sem_logits, instances, thing_ids=tuple(THINGS), stuff_ids=torch.tensor(STUFF))
    assert pan.device == sem_logits.device and pan.shape == (8, 8)
    check_panoptic(pan, segs, thing_ids=THINGS, stuff_ids=STUFF, consecutive=True)
    assert sum(s["area"] for s in segs) == int((pan > 0).sum())


def test_registry_errors():
    assert PANOPTIC_FUSERS.names() == ["heuristic", "spatial_ranking", "upsnet"]
    with pytest.raises(TypeError, match="stuff_area_limit"):
        create_panoptic_fuser("heuristic", stuff_area_limt=5)
    with pytest.raises(KeyError, match="heuristic"):
        create_panoptic_fuser("heuristc")
    sem_logits, instances = upsnet_scene()
    with pytest.raises(ValueError, match="rank_scores_from_map"):
        create_panoptic_fuser("spatial_ranking")(sem_logits, instances, thing_ids=THINGS, stuff_ids=STUFF)
    with pytest.raises(ValueError, match="masks"):
        create_panoptic_fuser("heuristic")(sem_logits, {"scores": instances["scores"]}, thing_ids=THINGS, stuff_ids=[])


def test_check_panoptic_reports_disagreements():
    pan = torch.tensor([[1, 1], [2, 0]], dtype=torch.int32)

    def seg(i, cat, area, isthing=True):
        return {"id": i, "category_id": cat, "isthing": isthing, "score": 0.5, "area": area}

    check_panoptic(pan, [seg(1, 1, 2), seg(2, 0, 1, False)], thing_ids=THINGS, stuff_ids=STUFF, consecutive=True)
    cases = [
        ([seg(1, 1, 2)], "not in segments_info"),
        ([seg(1, 1, 3), seg(2, 0, 1, False)], "areas disagree"),
        ([seg(1, 1, 2), seg(2, 0, 1, False), seg(3, 1, 1)], "no pixel"),
        ([seg(1, 1, 2), seg(1, 0, 1, False)], "listed twice"),
        ([seg(1, 1, 2), {"id": 2, "category_id": 0, "area": 1}], "lacks"),
        ([seg(1, 0, 2, False), seg(2, 0, 1, False)], "second segment"),
        ([seg(1, 0, 2), seg(2, 0, 1, False)], "not in thing_ids"),
    ]
    for segments, message in cases:
        with pytest.raises(ValueError, match=message):
            check_panoptic(pan, segments, thing_ids=THINGS, stuff_ids=STUFF)
    with pytest.raises(ValueError, match="int32"):
        check_panoptic(pan.long(), [seg(1, 1, 2), seg(2, 0, 1, False)])
    with pytest.raises(ValueError, match="1..2"):
        check_panoptic(pan * 2, [seg(2, 1, 2), seg(4, 0, 1, False)], consecutive=True)


def test_coco_round_trip():
    sem_logits, instances, _ = heuristic_scene()
    fuser = create_panoptic_fuser("heuristic", stuff_area_limit=5)
    pan, segs = fuser(sem_logits, instances, thing_ids=THINGS, stuff_ids=STUFF)
    coco_categories = [  # original ids, sorted -> train ids 0..4; things are train ids 1 and 3
        {"id": 12, "name": "grass", "isthing": 0},
        {"id": 4, "name": "person", "isthing": 1},
        {"id": 2, "name": "sky", "isthing": 0},
        {"id": 9, "name": "car", "isthing": 1},
        {"id": 7, "name": "road", "isthing": 0},
    ]
    cats = CategoryMap(coco_categories)
    assert cats.thing_ids == THINGS
    rgb, ann = to_coco_panoptic(pan, segs, categories=cats, image_id=42)
    assert rgb.dtype == np.uint8 and rgb.shape == (8, 8, 3)
    assert ann["image_id"] == 42 and ann["file_name"] == "000000000042.png"
    assert ann["segments_info"][0] == {"id": 1, "category_id": 4, "iscrowd": 0, "area": 16, "bbox": [1, 2, 4, 4]}
    assert [s["category_id"] for s in ann["segments_info"]] == [4, 9, 4, 9, 2, 7]
    for categories in (cats, coco_categories):
        back, back_segs = from_coco_panoptic(rgb, ann, categories)
        assert torch.equal(back, pan)
        assert brief(back_segs) == brief(segs) and all(s["score"] == 1.0 for s in back_segs)
        check_panoptic(back, back_segs, thing_ids=THINGS, stuff_ids=STUFF)
    # Identity categories and a list indexed by train id.
    _, ann_id = to_coco_panoptic(pan, segs, image_id="a", file_name="a.png")
    assert [s["category_id"] for s in ann_id["segments_info"]] == [s["category_id"] for s in segs]
    with pytest.raises(ValueError, match="thing"):
        from_coco_panoptic(rgb, ann_id, [0, 1, 2, 3, 4])


def reference_heuristic(sem_logits, masks, scores, keys, labels, *, stuff_area_limit):
    """A plain per-instance loop (Detectron2's combine step, written out) to cross-check against."""
    pan = torch.zeros(sem_logits.shape[-2:], dtype=torch.int32)
    out, next_id = [], 1
    ranked = sorted(range(len(scores)), key=lambda i: (-float(keys[i]), -float(scores[i])))
    for i in ranked:
        if float(scores[i]) < 0.5:
            continue
        mask = masks[i] >= 0.5
        area = int(mask.sum())
        if area == 0 or int((mask & (pan > 0)).sum()) / area > 0.5:
            continue
        mask &= pan == 0
        pan[mask] = next_id
        out.append((next_id, int(labels[i]), True, int(mask.sum())))
        next_id += 1
    sem = sem_logits.argmax(0)
    for c in STUFF:
        mask = (sem == c) & (pan == 0)
        area = int(mask.sum())
        if area == 0 or area < stuff_area_limit:
            continue
        pan[mask] = next_id
        out.append((next_id, c, False, area))
        next_id += 1
    return pan, out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ranked", [False, True])
def test_heuristic_matches_a_plain_loop_on_random_scenes(seed, ranked):
    g = torch.Generator().manual_seed(seed)
    n, size = 10, 16
    sem_logits = torch.randn(K, size, size, generator=g)
    masks = torch.zeros(n, size, size)
    for i in range(n):
        y0, x0 = torch.randint(0, size - 2, (2,), generator=g).tolist()
        h, w = torch.randint(1, 9, (2,), generator=g).tolist()
        masks[i, y0 : y0 + h, x0 : x0 + w] = torch.rand(min(h, size - y0), min(w, size - x0), generator=g)
    scores = torch.rand(n, generator=g) * 0.6 + 0.4
    labels = torch.tensor(THINGS)[torch.randint(0, 2, (n,), generator=g)]
    rank = torch.rand(n, generator=g) if ranked else scores
    pan, segs = heuristic_fusion(
        sem_logits, masks, scores, labels, thing_ids=THINGS, stuff_ids=STUFF, stuff_area_limit=10,
        rank_scores=rank if ranked else None,
    )
    ref_pan, ref_segs = reference_heuristic(sem_logits, masks, scores, rank, labels, stuff_area_limit=10)
    assert torch.equal(pan, ref_pan)
    assert brief(segs) == ref_segs
    check_panoptic(pan, segs, thing_ids=THINGS, stuff_ids=STUFF, consecutive=True)
