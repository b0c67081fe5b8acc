"""The Trainer: exact resume, NaN handling, AMP, clipping, accumulation, EMA, checkpoints and logs."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from conftest import build_tiny

import segzoo
from segzoo.data import Compose, RandomCrop, RandomHorizontalFlip, SyntheticPanoptic, SyntheticSemantic
from segzoo.engine import NonFiniteLossError, Trainer, find_checkpoint, save_checkpoint
from segzoo.engine.checkpoint import CheckpointError, load_checkpoint

PANOPTIC_TINY = dict(
    backbone="tiny", fpn_channels=32, box_channels=64, mask_channels=32, rpn_top_n=(60, 30), detections_per_img=10,
    num_classes=8, thing_ids=[0, 1, 2, 3], stuff_ids=[4, 5, 6, 7],
)  # fmt: skip
QUIET = dict(progress=False, checkpoint_every=0)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # CPU results are bit-stable for a fixed thread count; also faster on a busy box
    yield
    torch.set_num_threads(threads)


def semantic_data(n=8, size=32, seed=0, crop=24):
    return SyntheticSemantic(n, size=(size, size), seed=seed, transforms=Compose([RandomHorizontalFlip(), RandomCrop(crop)]))


def weights_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_is_bit_exact_semantic(tmp_path):
    # EMA, per-iteration rescaling, random crops/flips and the FCN head's dropout all draw random numbers.
    options = dict(max_iters=6, batch_size=2, ema_decay=0.9, batch_scale_range=(0.75, 1.25), size_divisor=8, **QUIET)
    data = semantic_data()
    straight_model = build_tiny("fcn_r50", seed=0, num_classes=8)
    straight = Trainer(straight_model, data, out_dir=tmp_path / "a", **options)
    straight.fit()

    first = Trainer(build_tiny("fcn_r50", seed=0, num_classes=8), data, out_dir=tmp_path / "b", **options)
    assert first.fit(stop_at=3).interrupted
    torch.manual_seed(999)  # whatever happens between the two sessions
    # different initial weights: all must come from the checkpoint
    resumed_model = build_tiny("fcn_r50", seed=1, num_classes=8)
    resumed = Trainer(resumed_model, data, out_dir=tmp_path / "b", **options)
    result = resumed.fit(resume=True)
    assert result.step == 6 and not result.interrupted
    assert weights_equal(straight_model, resumed_model)
    assert weights_equal(straight.ema.module, resumed.ema.module)
    # the log is one history: steps 1..6 once each
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert segzoo.load(tmp_path / "b" / "last").state_dict().keys() == resumed_model.state_dict().keys()


def test_resume_is_bit_exact_panoptic(tmp_path):
    data = SyntheticPanoptic(4, size=(48, 48), seed=0, transforms=RandomHorizontalFlip())
    options = dict(max_iters=4, batch_size=2, **QUIET)
    torch.manual_seed(0)
    a = segzoo.build("panoptic_fpn_r50", **PANOPTIC_TINY)
    Trainer(a, data, out_dir=tmp_path / "a", **options).fit()
    torch.manual_seed(0)
    Trainer(segzoo.build("panoptic_fpn_r50", **PANOPTIC_TINY), data, out_dir=tmp_path / "b", **options).fit(stop_at=2)
    b = segzoo.build("panoptic_fpn_r50", **PANOPTIC_TINY)
    Trainer(b, data, out_dir=tmp_path / "b", **options).fit(resume=True)
    assert weights_equal(a, b)  # the RPN / RoI samplers draw from the restored global RNG


def test_resume_refuses_other_model_options(tmp_path):
    data = semantic_data()
    Trainer(
        build_tiny("fcn_r50", seed=0, num_classes=8), data, out_dir=tmp_path, max_iters=2, batch_size=2, **QUIET
    ).fit(stop_at=1)
    other = segzoo.build("fcn_r50", backbone="tiny", num_classes=8, aux=False)
    with pytest.raises(CheckpointError, match="written for 'fcn_r50'"):
        Trainer(other, data, out_dir=tmp_path, max_iters=2, batch_size=2, **QUIET).fit(resume=True)


def test_nan_loss_is_skipped_reported_and_stops_training(tmp_path, caplog, monkeypatch):
    model = build_tiny("fcn_r50", seed=0, num_classes=8)
    trainer = Trainer(model, semantic_data(), out_dir=tmp_path, max_iters=20, batch_size=2, max_bad_steps=3,
                      checkpoint_every=2, progress=False)  # fmt: skip
    trainer.fit(stop_at=2)
    good = {k: v.clone() for k, v in model.state_dict().items()}
    original = model.losses

    def broken_loss(outputs, target):
        losses = original(outputs, target)
        losses["loss_aux"] = losses["loss_aux"] * float("nan")
        return losses

    monkeypatch.setattr(model, "losses", broken_loss)
    with caplog.at_level(logging.WARNING, logger="segzoo.engine.trainer"):
        with pytest.raises(NonFiniteLossError, match="3 consecutive"):
            trainer.fit()
    warnings = [r.getMessage() for r in caplog.records if "Non-finite loss" in r.getMessage()]
    assert len(warnings) == 3
    assert "iteration 3" in warnings[0] and "loss_aux=nan" in warnings[0] and "loss_seg" not in warnings[0]
    # skipped steps leave weights and BatchNorm statistics alone
    assert all(torch.equal(v, good[k]) for k, v in model.state_dict().items())
    assert trainer.bad_steps == 3
    # no checkpoint during the bad streak (iteration 4 is a multiple of checkpoint_every): the good one stays
    state = torch.load(find_checkpoint(tmp_path / "last") / "trainer.pt", weights_only=True)
    assert state["step"] == 2


def test_a_single_bad_step_does_not_stop_training(tmp_path, monkeypatch):
    model = build_tiny("fcn_r50", seed=0, num_classes=8)
    trainer = Trainer(model, semantic_data(), max_iters=4, batch_size=2, max_bad_steps=2, **QUIET)
    original, calls = model.losses, {"n": 0}

    def flaky(outputs, target):
        calls["n"] += 1
        losses = original(outputs, target)
        return {k: v * float("inf") for k, v in losses.items()} if calls["n"] == 2 else losses

    monkeypatch.setattr(model, "losses", flaky)
    assert trainer.fit().step == 4 and trainer.bad_steps == 0


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_on_cpu(amp):
    model = build_tiny("fcn_r50", seed=0, num_classes=8)
    before = {k: v.clone() for k, v in model.named_parameters()}
    trainer = Trainer(model, semantic_data(), max_iters=2, batch_size=2, amp=amp, **QUIET)
    trainer.fit()
    assert trainer.scaler.is_enabled() == (amp == "fp16")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast keeps float32 master weights
    assert any(not torch.equal(before[k], p) for k, p in model.named_parameters())


def test_gradient_clipping_bounds_the_update():
    model = build_tiny("fcn_r50", seed=0, num_classes=8)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    trainer = Trainer(model, semantic_data(), max_iters=1, batch_size=2, optimizer="sgd", lr=1.0, momentum=0.0,
                      weight_decay=0.0, schedule="constant", clip_grad_norm=1e-3, **QUIET)  # fmt: skip
    trainer.fit()
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert 0 < float((after - before).norm()) <= 1e-3 * 1.0001  # lr 1 x gradient of norm <= 1e-3


def test_accumulation_uses_several_batches_per_step():
    trainer = Trainer(
        build_tiny("fcn_r50", seed=0, num_classes=8), semantic_data(n=8), max_iters=3, batch_size=2, accumulate=2,
        **QUIET,
    )  # fmt: skip
    trainer.fit()
    assert trainer.step == 3
    assert (trainer.epoch, trainer.batch_in_epoch) == (1, 2)  # 6 batches of 2 from 8 samples: 4 + 2


def test_best_checkpoint_logs_and_loadable_outputs(tmp_path):
    data, val = semantic_data(), SyntheticSemantic(3, size=(32, 32), seed=1)
    trainer = Trainer(build_tiny("fcn_r50", seed=0, num_classes=8), data, val_data=val, out_dir=tmp_path, max_iters=4,
                      batch_size=2, eval_every=2, progress=False)  # fmt: skip
    result = trainer.fit()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["type"] == "train"]
    evals = [r for r in records if r["type"] == "eval"]
    assert [r["step"] for r in train] == [1, 2, 3, 4] and [r["step"] for r in evals] == [2, 4]
    assert {"loss", "loss_seg", "loss_aux", "lr", "lr_head", "sec_per_iter", "eta_s"} <= set(train[0])
    assert train[0]["lr"] > train[-1]["lr"]  # poly decay
    best = max(evals, key=lambda r: r["mIoU"])
    assert result.best_value == best["mIoU"] and result.best_step == best["step"]
    saved = json.loads((tmp_path / "best" / "metrics.json").read_text())
    assert saved["step"] == best["step"] and saved["mIoU"] == best["mIoU"]
    reloaded = segzoo.load(tmp_path / "best")
    assert isinstance(reloaded, type(trainer.model))
    assert not list(tmp_path.glob(".*"))  # no temporary or .old directories left behind


def test_panoptic_training_and_evaluation():
    torch.manual_seed(0)
    model = segzoo.build("panoptic_fpn_r50", **PANOPTIC_TINY)
    data, val = SyntheticPanoptic(4, size=(48, 48), seed=0), SyntheticPanoptic(2, size=(48, 40), seed=1)
    result = Trainer(model, data, val_data=val, max_iters=2, batch_size=2, **QUIET).fit()
    assert {"PQ", "SQ", "RQ", "PQ_th", "PQ_st", "mIoU"} <= set(result.metrics)
    assert all(0.0 <= result.metrics[k] <= 1.0 for k in ("PQ", "mIoU"))
    assert result.best_metric == "PQ"


def test_multiscale_model_trains_with_its_1_plus_s_losses():
    model = segzoo.build("msavg_largefov_vgg16", backbone="tiny", num_classes=8)
    trainer = Trainer(model, semantic_data(), max_iters=1, batch_size=2, **QUIET)
    trainer.fit()
    assert trainer.optimizer.state  # the step ran


def test_checkpoint_swap_keeps_the_old_one_on_failure(tmp_path):
    model = build_tiny("fcn_r50", seed=0, num_classes=8)
    save_checkpoint(tmp_path / "last", model=model, state={"step": 1})
    with pytest.raises(Exception):
        save_checkpoint(tmp_path / "last", model=model, state={"step": 2, "bad": lambda: None})  # not picklable
    assert torch.load(tmp_path / "last" / "trainer.pt", weights_only=True)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    # a swap cut short between the renames: the .old copy is found
    (tmp_path / "last").rename(tmp_path / ".last.old")
    assert find_checkpoint(tmp_path / "last") == tmp_path / ".last.old"
    assert load_checkpoint(tmp_path / "last", model=build_tiny("fcn_r50", seed=3, num_classes=8))["step"] == 1


def test_trainer_rejects_bad_inputs():
    with pytest.raises(TypeError, match="unknown_option|Unknown training option"):
        Trainer(build_tiny("fcn_r50", seed=0, num_classes=8), semantic_data(), unknown_option=1)
    with pytest.raises(ValueError, match="fewer than one batch"):
        Trainer(build_tiny("fcn_r50", seed=0, num_classes=8), semantic_data(n=2), batch_size=4)
    with pytest.raises(TypeError, match="DataLoaders"):
        Trainer(build_tiny("fcn_r50", seed=0, num_classes=8), torch.utils.data.DataLoader(semantic_data()))
    normalised = SyntheticSemantic(4, size=(32, 32), transforms=segzoo.data.Normalize())
    with pytest.raises(ValueError, match="normalised already"):
        Trainer(build_tiny("fcn_r50", seed=0, num_classes=8), normalised, max_iters=1, batch_size=2, **QUIET).fit()
