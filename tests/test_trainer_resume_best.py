"""Best-model tracking across evaluations and resumes, and the checkpoint directory contract.

Evaluations are scripted (the trainer's ``evaluate`` returns given metrics) so that the
tracking logic is tested with known values: ties, ``best_mode="min"``, a resume that must
not forget the best value seen before the interruption.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
import torch
from conftest import build_tiny

import segzoo
from segzoo.data import SyntheticSemantic
from segzoo.engine import Trainer, find_checkpoint, save_checkpoint
from segzoo.engine.checkpoint import CheckpointError, load_checkpoint

QUIET = dict(progress=False, checkpoint_every=0, batch_size=2)


def data():
    return SyntheticSemantic(4, size=(16, 16), seed=0)


def scripted(trainer, values, metric="mIoU"):
    """Make ``trainer.evaluate`` return ``values`` one after another (and record the steps)."""
    calls = []

    def fake(dataset=None):
        calls.append(trainer.step)
        return {metric: values[len(calls) - 1], "other": -1.0}

    trainer.evaluate = fake
    return calls


def make(tmp_path, **options):
    return Trainer(
        build_tiny("fcn_r50", seed=0, num_classes=8), data(), val_data=data(), out_dir=tmp_path, **{**QUIET, **options}
    )


def test_resume_keeps_the_best_record_from_before_the_interruption(tmp_path):
    first = make(tmp_path, max_iters=4, eval_every=1)
    scripted(first, [0.5, 0.7])
    result = first.fit(stop_at=2)
    assert (result.best_value, result.best_step) == (0.7, 2)

    second = make(tmp_path, max_iters=4, eval_every=1)
    calls = scripted(second, [0.6, 0.4])  # both worse than the 0.7 seen before the interruption
    result = second.fit(resume=True)
    assert calls == [3, 4]
    assert (result.best_value, result.best_step) == (0.7, 2)
    assert json.loads((tmp_path / "best" / "metrics.json").read_text())["step"] == 2  # not overwritten by 0.6


def test_resume_with_another_best_metric_starts_a_new_record(tmp_path):
    first = make(tmp_path, max_iters=3, eval_every=1)
    scripted(first, [0.9])
    first.fit(stop_at=1)
    second = make(tmp_path, max_iters=3, eval_every=1, best_metric="other")
    assert second.resume()
    assert (second.best_value, second.best_step) == (None, None)  # the saved record was for mIoU
    third = make(tmp_path, max_iters=3, eval_every=1)
    assert third.resume()
    assert (third.best_value, third.best_step) == (0.9, 1)


@pytest.mark.parametrize(
    "mode, values, best",
    [
        ("max", [0.5, 0.5, 0.4], (0.5, 1)),  # a tie does not move the best step
        ("max", [0.4, 0.5, 0.6], (0.6, 3)),
        ("min", [0.5, 0.3, 0.3], (0.3, 2)),
        ("min", [0.2, 0.3, 0.4], (0.2, 1)),
    ],
)
def test_best_value_and_step_follow_the_mode_strictly(tmp_path, mode, values, best):
    trainer = make(tmp_path, max_iters=3, eval_every=1, best_mode=mode)
    scripted(trainer, values)
    result = trainer.fit()
    assert (result.best_value, result.best_step) == best
    assert json.loads((tmp_path / "best" / "metrics.json").read_text())["step"] == best[1]


def test_final_evaluation_only_when_the_last_step_was_not_evaluated(tmp_path):
    trainer = make(tmp_path / "a", max_iters=3, eval_every=2)
    assert scripted(trainer, [0.1, 0.2]) == [] and trainer.fit().step == 3
    assert trainer.last_metrics["mIoU"] == 0.2
    trainer = make(tmp_path / "b", max_iters=4, eval_every=2)
    calls = scripted(trainer, [0.1, 0.2, 0.3])
    trainer.fit()
    assert calls == [2, 4]


def test_a_missing_best_metric_is_named(tmp_path):
    trainer = make(tmp_path, max_iters=1, eval_every=1, best_metric="PQ")
    scripted(trainer, [0.5])
    with pytest.raises(KeyError, match="'PQ'"):
        trainer.fit()


def test_periodic_checkpoints_and_state_contents(tmp_path):
    trainer = Trainer(
        build_tiny("fcn_r50", seed=0, num_classes=8), data(), out_dir=tmp_path, max_iters=5, progress=False,
        checkpoint_every=2, batch_size=2,
    )  # fmt: skip
    saved = []
    original = trainer.save
    trainer.save = lambda name="last": saved.append((trainer.step, name)) or original(name)
    trainer.fit()
    assert saved == [(2, "last"), (4, "last"), (5, "last")]
    state = torch.load(tmp_path / "last" / "trainer.pt", weights_only=True)
    assert (state["step"], state["bad_steps"]) == (5, 0)
    assert state["best"] == {"metric": "mIoU", "value": None, "step": None}


def test_interrupted_fit_saves_once_at_the_stop(tmp_path):
    trainer = Trainer(
        build_tiny("fcn_r50", seed=0, num_classes=8), data(), out_dir=tmp_path, max_iters=6, progress=False,
        checkpoint_every=3, batch_size=2,
    )  # fmt: skip
    saved = []
    original = trainer.save
    trainer.save = lambda name="last": saved.append(trainer.step) or original(name)
    result = trainer.fit(stop_at=3)
    assert result.interrupted and saved == [3]  # the periodic save at 3 is the stop's save
    resumed = Trainer(
        build_tiny("fcn_r50", seed=1, num_classes=8), data(), out_dir=tmp_path, max_iters=6, progress=False,
        checkpoint_every=3, batch_size=2,
    )  # fmt: skip
    assert resumed.resume() and (resumed.step, resumed.epoch, resumed.batch_in_epoch) == (3, 1, 1)


def test_checkpoint_goes_into_new_nested_folders_with_ordinary_permissions(tmp_path):
    target = tmp_path / "run" / "deep" / "last"
    umask = os.umask(0o027)
    try:
        save_checkpoint(
            target, model=build_tiny("fcn_r50", seed=0, num_classes=8), state={"step": 7}, metrics={"mIoU": 0.25}
        )
        assert os.umask(0o027) == 0o027  # the process umask is left as it was
    finally:
        os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o750  # like a folder made by mkdir, not mkdtemp's 0o700
    assert json.loads((target / "metrics.json").read_text()) == {"mIoU": 0.25}
    assert find_checkpoint(target) == target
    model = build_tiny("fcn_r50", seed=5, num_classes=8)
    assert load_checkpoint(target, model=model) == {"step": 7}
    source = segzoo.load(target)
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), model.state_dict().values()))
    assert sorted(p.name for p in target.parent.iterdir()) == ["last"]  # no temporary folder left


def test_checkpoint_without_state_or_ema_is_refused_for_resume(tmp_path):
    save_checkpoint(tmp_path / "best", model=build_tiny("fcn_r50", seed=0, num_classes=8))
    assert not (tmp_path / "best" / "trainer.pt").exists() and not (tmp_path / "best" / "metrics.json").exists()
    with pytest.raises(CheckpointError, match="no trainer.pt"):
        load_checkpoint(tmp_path / "best", model=build_tiny("fcn_r50", seed=0, num_classes=8))
    save_checkpoint(tmp_path / "last", model=build_tiny("fcn_r50", seed=0, num_classes=8), state={"step": 1})
    with pytest.raises(CheckpointError, match="no EMA weights"):
        load_checkpoint(
            tmp_path / "last",
            model=build_tiny("fcn_r50", seed=0, num_classes=8),
            ema_model=build_tiny("fcn_r50", seed=0, num_classes=8),
        )
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_checkpoint(tmp_path / "nothing", model=build_tiny("fcn_r50", seed=0, num_classes=8))


def test_ema_weights_are_saved_and_loaded_separately(tmp_path):
    model, ema = build_tiny("fcn_r50", seed=0, num_classes=8), build_tiny("fcn_r50", seed=1, num_classes=8)
    save_checkpoint(tmp_path / "last", model=model, ema_model=ema, state={"step": 2})
    got_model, got_ema = build_tiny("fcn_r50", seed=2, num_classes=8), build_tiny("fcn_r50", seed=3, num_classes=8)
    load_checkpoint(tmp_path / "last", model=got_model, ema_model=got_ema)
    for a, b in ((model, got_model), (ema, got_ema)):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_a_folder_missing_config_or_weights_is_not_a_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "last", model=build_tiny("fcn_r50", seed=0, num_classes=8), state={"step": 1})
    (tmp_path / "last" / "config.json").unlink()
    assert find_checkpoint(tmp_path / "last") is None
    save_checkpoint(tmp_path / "b", model=build_tiny("fcn_r50", seed=0, num_classes=8), state={"step": 1})
    (tmp_path / "b" / "model.safetensors").unlink()
    assert find_checkpoint(tmp_path / "b") is None
    save_checkpoint(tmp_path / ".b.old", model=build_tiny("fcn_r50", seed=0, num_classes=8), state={"step": 0})
    assert find_checkpoint(tmp_path / "b") == tmp_path / ".b.old"


class NotAllowed:
    """A class torch.load(weights_only=True) refuses to unpickle."""


def test_resume_state_is_read_without_unpickling_code(tmp_path):
    save_checkpoint(
        tmp_path / "last",
        model=build_tiny("fcn_r50", seed=0, num_classes=8),
        state={"step": 1, "payload": NotAllowed()},
    )
    with pytest.raises(Exception, match="weights_only|Unsupported global|NotAllowed"):
        load_checkpoint(tmp_path / "last", model=build_tiny("fcn_r50", seed=0, num_classes=8))


def records(path, kind="train"):
    return [r for r in map(json.loads, (path / "metrics.jsonl").read_text().splitlines()) if r["type"] == kind]


def test_fit_without_resume_starts_from_scratch_next_to_a_checkpoint(tmp_path):
    Trainer(build_tiny("fcn_r50", seed=0, num_classes=8), data(), out_dir=tmp_path, max_iters=4, **QUIET).fit(stop_at=2)
    again = Trainer(
        build_tiny("fcn_r50", seed=0, num_classes=8), data(), out_dir=tmp_path / "other", max_iters=4, **QUIET
    )
    assert again.fit(stop_at=1).step == 1
    fresh = Trainer(build_tiny("fcn_r50", seed=0, num_classes=8), data(), out_dir=tmp_path, max_iters=4, **QUIET)
    assert fresh.fit(stop_at=1).step == 1  # resume=False by default: the checkpoint is not read


def test_logging_every_n_steps_and_at_the_last_one(tmp_path):
    Trainer(
        build_tiny("fcn_r50", seed=0, num_classes=8), data(), out_dir=tmp_path, max_iters=4, log_every=3, **QUIET
    ).fit()
    assert [r["step"] for r in records(tmp_path)] == [3, 4]


def test_logged_losses_are_means_over_accumulated_batches(tmp_path, monkeypatch):
    model = build_tiny("fcn_r50", seed=0, num_classes=8)

    def constant_loss(outputs, target):
        zero = outputs.logits.sum() * 0.0
        return {"loss_a": zero + 2.0, "loss_b": zero + 0.5}

    monkeypatch.setattr(model, "losses", constant_loss)
    Trainer(model, data(), out_dir=tmp_path, max_iters=2, accumulate=2, **QUIET).fit()
    for r in records(tmp_path):
        assert (r["loss_a"], r["loss_b"], r["loss"]) == pytest.approx((2.0, 0.5, 2.5))


def test_batch_rescaling_is_on_with_any_one_of_its_options(monkeypatch):
    seen = []
    model = build_tiny("fcn_r50", seed=0, num_classes=8)
    original = model.losses

    def recording(outputs, target):
        seen.append((tuple(outputs.logits.shape[-2:]), tuple(target.shape[-2:])))
        return original(outputs, target)

    monkeypatch.setattr(model, "losses", recording)
    Trainer(model, data(), max_iters=1, batch_scales=[0.5], size_divisor=1, **QUIET).fit()
    assert seen == [((8, 8), (8, 8))]  # 16 x 16 images and labels at scale 0.5


@pytest.mark.parametrize("progress", [False, True])
def test_progress_bar_only_when_asked(capfd, progress):
    Trainer(build_tiny("fcn_r50", seed=0, num_classes=8), data(), max_iters=1, **{**QUIET, "progress": progress}).fit()
    err = capfd.readouterr().err
    assert ("train" in err) == progress
    assert ("loss=" in err) == progress  # the bar shows the running losses


def test_training_is_reproducible_from_the_config_seed_alone():
    def run(global_seed):
        model = build_tiny("fcn_r50", seed=0, num_classes=8)
        torch.manual_seed(global_seed)  # whatever the caller's RNG state, the config seed decides
        Trainer(model, data(), max_iters=2, seed=5, **QUIET).fit()
        return model

    a, b = run(1), run(2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_resume_without_ema_from_a_run_with_ema(tmp_path):
    Trainer(
        build_tiny("fcn_r50", seed=0, num_classes=8), data(), out_dir=tmp_path, max_iters=3, ema_decay=0.9, **QUIET
    ).fit(stop_at=1)
    plain = Trainer(build_tiny("fcn_r50", seed=0, num_classes=8), data(), out_dir=tmp_path, max_iters=3, **QUIET)
    assert plain.resume() and plain.step == 1 and plain.ema is None
    assert plain.fit().step == 3


def test_a_skipped_step_still_advances_the_schedule(monkeypatch):
    def final_lr(skip):
        model = build_tiny("fcn_r50", seed=0, num_classes=8)
        if skip:
            original, calls = model.losses, {"n": 0}

            def flaky(outputs, target):
                calls["n"] += 1
                losses = original(outputs, target)
                return {k: v * float("nan") for k, v in losses.items()} if calls["n"] == 2 else losses

            monkeypatch.setattr(model, "losses", flaky)
        trainer = Trainer(model, data(), max_iters=4, schedule="poly", **QUIET)
        trainer.fit(stop_at=3)
        return trainer.optimizer.param_groups[0]["lr"], trainer.bad_steps

    clean, skipped = final_lr(False), final_lr(True)
    assert skipped[0] == pytest.approx(clean[0]) and clean[1] == 0
