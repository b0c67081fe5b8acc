"""Engine building blocks: schedules, optimiser groups, EMA, seeding, sampling, collation, batch rescaling."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from torch import nn

import segzoo
from segzoo.data import RandomHorizontalFlip, SyntheticPanoptic, SyntheticSemantic
from segzoo.engine import (
    BatchRescale,
    LRFactor,
    ModelEMA,
    ResumableSampler,
    TrainConfig,
    build_optimizer,
    build_scheduler,
    seed_everything,
)
from segzoo.engine.loader import SeededSamples, collate_panoptic, collate_semantic, train_loader
from segzoo.engine.seed import get_rng_state, local_seed, set_rng_state


def test_schedules_known_values():
    poly = LRFactor("poly", max_iters=100, power=0.9)
    assert poly(0) == 1.0 and poly(50) == pytest.approx(0.5**0.9) and poly(100) == 0.0
    step = LRFactor("step", max_iters=100, step_size=30, gamma=0.1)
    assert [step(i) for i in (0, 29, 30, 59, 60, 95)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.001])
    floor = LRFactor("poly", max_iters=100, power=1.0, min_ratio=0.01)  # MMSegmentation's eta_min
    assert floor(0) == 1.0 and floor(50) == pytest.approx(0.505) and floor(100) == pytest.approx(0.01)
    cos = LRFactor("cosine", max_iters=100, min_ratio=0.1)
    assert cos(0) == pytest.approx(1.0) and cos(50) == pytest.approx(0.55) and cos(100) == pytest.approx(0.1)
    warm = LRFactor("poly", max_iters=100, warmup_iters=10, warmup_ratio=0.1)
    assert warm(0) == pytest.approx(0.1) and warm(5) == pytest.approx(0.55 * (1 - 0.05) ** 0.9)
    assert warm(10) == pytest.approx(poly(10))
    with pytest.raises(ValueError, match="step_size"):
        LRFactor("step", max_iters=10)
    with pytest.raises(ValueError, match="Unknown schedule"):
        LRFactor("linear", max_iters=10)


def test_step_schedule_with_milestones_halves_twice_like_seed_002():
    halves = LRFactor("step", max_iters=200, milestones=(160, 190), gamma=0.5)
    assert [halves(i) for i in (0, 159, 160, 189, 190, 199)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    for bad in ((190, 160), (0, 5), (5, 5)):
        with pytest.raises(ValueError, match="milestones"):
            LRFactor("step", max_iters=200, milestones=bad)
    with pytest.raises(ValueError, match="milestones"):
        LRFactor("poly", max_iters=200, milestones=(10,))
    config = TrainConfig(schedule="step", milestones=[3, 6], gamma=0.5, max_iters=8)
    assert config.milestones == (3, 6)  # lists (JSON) become tuples
    with pytest.raises(ValueError, match="step_size >= 1 or milestones"):
        TrainConfig(schedule="step")


def test_heads_train_at_the_backbones_rate_unless_a_recipe_says_otherwise():
    """One default (1.0) for TrainConfig and param_groups; seed 004's recipe asks for 10."""
    from segzoo.engine.optim import param_groups

    model = segzoo.build("fcn_r50", backbone="tiny", num_classes=4)
    assert {g["lr"] for g in param_groups(model, lr=0.01)} == {0.01} and TrainConfig().head_lr_mult == 1.0


def test_optimizer_groups_decay_and_head_multiplier():
    model = segzoo.build("fcn_r50", backbone="tiny", num_classes=4)
    opt = build_optimizer(model, name="sgd", lr=0.01, weight_decay=1e-4, head_lr_mult=10.0)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["backbone"]["lr"] == 0.01 and groups["head"]["lr"] == pytest.approx(0.1)
    assert groups["backbone_no_decay"]["weight_decay"] == 0.0 and groups["head"]["weight_decay"] == 1e-4
    assert opt.defaults["momentum"] == 0.9
    no_decay = {id(p) for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert id(module.weight) in no_decay and id(module.bias) in no_decay
        if isinstance(module, nn.Conv2d) and module.weight.requires_grad:
            assert id(module.weight) not in no_decay
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    adamw = build_optimizer(model, name="adamw", lr=1e-3, weight_decay=0.05)
    assert isinstance(adamw, torch.optim.AdamW)
    sched = build_scheduler(adamw, name="cosine", max_iters=10, warmup_iters=2)
    adamw.step()
    sched.step()
    assert adamw.param_groups[0]["lr"] == pytest.approx(1e-3 * LRFactor("cosine", max_iters=10, warmup_iters=2)(1))
    with pytest.raises(ValueError, match="Unknown optimizer"):
        build_optimizer(model, name="lamb", lr=0.1)


def test_ema_follows_the_formula_with_warmup():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = ModelEMA(model, decay=0.99)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].num_batches_tracked.fill_(7)
    ema.update(model)  # first decay: min(0.99, 1 / 10) = 0.1
    assert torch.allclose(ema.module[0].weight, 0.1 * start + 0.9 * (start + 1))
    assert int(ema.module[1].num_batches_tracked) == 7  # integer buffers are copied
    assert ema.current_decay() == pytest.approx(2 / 11)
    assert not any(p.requires_grad for p in ema.module.parameters())
    fixed = ModelEMA(model, decay=0.5, warmup=False)
    assert fixed.current_decay() == 0.5


def test_seed_everything_and_rng_state_round_trip():
    seed_everything(3)
    a = (random.random(), float(np.random.rand()), float(torch.rand(())))
    seed_everything(3)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == a
    seed_everything(3, rank=1)
    assert float(torch.rand(())) != a[2]
    state = get_rng_state()
    draws = (random.random(), float(np.random.rand()), float(torch.rand(())))
    set_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == draws
    with local_seed(5):
        inner = float(torch.rand(()))
    with local_seed(5):
        assert float(torch.rand(())) == inner
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_sampler_shards_resumes_and_seeds():
    full = ResumableSampler(10, seed=1)
    full.set_epoch(2)
    order = [i for i, _ in full]
    assert sorted(order) == list(range(10))
    ranks = [ResumableSampler(10, seed=1, rank=r, world_size=3) for r in range(3)]
    shards = []
    for s in ranks:
        s.set_epoch(2)
        shards.append([i for i, _ in s])
    assert all(len(s) == 4 for s in shards)  # ceil(10 / 3), padded by wrapping around
    assert set().union(*shards) == set(range(10))
    interleaved = [shards[k % 3][k // 3] for k in range(10)]
    assert interleaved == order  # every rank reads the same epoch order
    whole = list(ranks[1])
    ranks[1].set_epoch(2, start=2)
    assert list(ranks[1]) == whole[2:] and len(ranks[1]) == 2  # resuming mid-epoch: same samples, same seeds
    assert len({seed for _, seed in whole}) == 4
    other = ResumableSampler(10, seed=1)
    other.set_epoch(3)
    assert [i for i, _ in other] != order


def test_samples_do_not_depend_on_workers():
    data = SyntheticSemantic(8, size=(16, 16), transforms=RandomHorizontalFlip())
    batches = []
    for workers in (0, 2):
        loader, sampler = train_loader(data, batch_size=4, seed=3, num_workers=workers)
        sampler.set_epoch(0)
        batches.append([b for b in loader])
    for (xa, ya), (xb, yb) in zip(*batches):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # and one sample loads the same alone as inside the loader
    key = next(iter(sampler))
    assert torch.equal(SeededSamples(data)[key][0], batches[0][0][0][0])


def test_collate_pads_semantic_and_keeps_panoptic_lists():
    images, labels = collate_semantic([
        (torch.ones(3, 4, 5, dtype=torch.uint8), {"sem_seg": torch.zeros(4, 5, dtype=torch.long)}),
        (torch.ones(3, 6, 3, dtype=torch.uint8), {"sem_seg": torch.ones(6, 3, dtype=torch.long)}),
    ])  # fmt: skip
    assert images.shape == (2, 3, 6, 5) and labels.shape == (2, 6, 5)
    assert int(images[0, 0, 5, 0]) == 0 and int(labels[0, 5, 0]) == 255 and int(labels[1, 0, 4]) == 255
    with pytest.raises(ValueError, match="image's size"):
        collate_semantic([(torch.zeros(3, 4, 4), {"sem_seg": torch.zeros(3, 4)})])
    data = SyntheticPanoptic(2, size=(16, 20))
    ims, targets = collate_panoptic([data[0], data[1]])
    assert isinstance(ims, list) and len(targets) == 2 and "masks" in targets[0]


def test_batch_rescale_is_a_function_of_the_iteration():
    rescale = BatchRescale(scale_range=(0.5, 2.0), size_divisor=8, seed=4)
    sizes = [rescale.size_for(64, 96, it) for it in range(20)]
    assert sizes == [rescale.size_for(64, 96, it) for it in range(20)]
    assert len(set(sizes)) > 3 and all(h % 8 == 0 and w % 8 == 0 and 32 <= h <= 128 for h, w in sizes)
    based = BatchRescale(scales=(1.0,), base_sizes=(40,), seed=0)
    assert based.size_for(64, 96, 0) == (40, 60)
    images, labels = torch.rand(2, 3, 16, 16), torch.randint(0, 4, (2, 16, 16))
    x, y = BatchRescale(scales=(2.0,))(images, labels, 0)
    assert x.shape == (2, 3, 32, 32) and y.shape == (2, 32, 32) and y.dtype == torch.long
    assert set(y.unique().tolist()) <= set(labels.unique().tolist())
    sample = SyntheticPanoptic(1, size=(24, 24))[0]
    ims, targets = BatchRescale(scales=(0.5,))([sample[0].float() / 255], [sample[1]], 0)
    assert ims[0].shape[-2:] == (12, 12) and targets[0]["masks"].shape[-2:] == (12, 12)
    with pytest.raises(ValueError, match="needs scale_range"):
        BatchRescale()
    assert math.isclose(BatchRescale(scale_range=(1, 1)).size_for(10, 10, 0)[0], 10)
