"""One model contract for every task: ``forward`` gives a typed raw output (same type in train and
eval mode), ``losses(raw, targets)`` the named losses, ``postprocess`` the results; generic code
(trainer, evaluation, benchmarks, export) uses only these, never the task name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from conftest import build_tiny

from segzoo.crf import dense_crf
from segzoo.data import SyntheticPanoptic, SyntheticSemantic
from segzoo.engine.loader import collate
from segzoo.models import SemanticOutput
from segzoo.models.panoptic import PanopticRawOutput

ROOT = Path(__file__).resolve().parents[1] / "segzoo"
SYNTH = SyntheticPanoptic(2, size=(64, 80), seed=0)
PANOPTIC_OVERRIDES = dict(num_classes=8, thing_ids=SYNTH.thing_ids, stuff_ids=SYNTH.stuff_ids)

SEMANTIC_CASES = [
    ("fcn_r50", {"loss_seg", "loss_aux"}),  # auxiliary FCN head
    ("danet_r50", {"loss_seg", "loss_position", "loss_channel", "loss_aux"}),  # multi-output head
    ("msrefine_largefov_vgg16", {"loss_seg", "loss_scale_0.5", "loss_scale_1"}),  # multi-scale
]


@pytest.mark.parametrize("name, expected", SEMANTIC_CASES)
def test_semantic_forward_losses_and_eval_output(name, expected):
    model = build_tiny(name, seed=0).train()
    x, target = torch.randn(2, 3, 64, 64), torch.randint(0, 5, (2, 64, 64))
    raw = model(x)
    assert isinstance(raw, SemanticOutput) and raw.logits.shape == (2, 5, 64, 64)
    losses = model.losses(raw, target)
    assert set(losses) == expected
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    # The loss of the final output is the recipe's pixel loss of raw.logits (cross entropy here).
    expected_seg = torch.nn.functional.cross_entropy(raw.logits, target, ignore_index=255)
    torch.testing.assert_close(losses["loss_seg"], expected_seg)
    # targets are the contract's optional argument: a semantic forward does not read them.
    torch.manual_seed(1)
    with_targets = model.eval()(x, target)
    assert type(with_targets) is SemanticOutput and with_targets.aux == {}
    torch.testing.assert_close(with_targets.logits, model(x).logits)
    with pytest.raises(ValueError, match=r"model\.train\(\)"):
        model.losses(with_targets, target)  # eval mode skips the auxiliary outputs the losses need


def test_panoptic_raw_output_in_both_modes_and_losses():
    model = build_tiny("panoptic_se_r50", seed=0, **PANOPTIC_OVERRIDES)
    images = [model.normalize(SYNTH[i][0].float()[None] / 255)[0] for i in range(2)]
    targets = [SYNTH[i][1] for i in range(2)]
    raw = model.train()(images, targets)
    assert isinstance(raw, PanopticRawOutput) and raw.detections == []
    assert {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_mask"} <= set(raw.detector_losses)
    assert raw.gt_mask_logits is not None and raw.gt_mask_logits.shape[-2:] == (28, 28)
    losses = model.losses(raw, targets)
    assert set(raw.detector_losses) < set(losses)
    assert {"loss_semantic", "loss_proto_mask", "loss_ranking", "loss_uncertainty_reg"} <= set(losses)
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.ranking.parameters())  # the ranking loss runs in losses()
    model.eval()
    with torch.no_grad():
        evaluated = model(images)
    assert type(evaluated) is PanopticRawOutput
    assert len(evaluated.detections) == 2 and dict(evaluated.detector_losses) == {} and evaluated.gt_mask_logits is None
    with pytest.raises(ValueError, match=r"model\.train\(\)"):
        model.losses(evaluated, targets)


def test_semantic_postprocess_takes_a_dense_crf_per_call():
    model = build_tiny("fcn_r50", seed=0).eval()
    image = torch.randint(0, 256, (3, 40, 48), dtype=torch.uint8)
    x = model.normalize(image[None].float() / 255)
    with torch.no_grad():
        raw = model(x)
    options = {"iterations": 3, "method": "local"}
    refined = model.postprocess(raw, x, crf=options)[0]
    expected = dense_crf(raw.logits.float(), model.denormalize_uint8(x), **options).argmax(1)[0]
    assert torch.equal(refined, expected)
    assert torch.equal(model.predict(image, crf=options), refined)
    assert torch.equal(model.postprocess(raw, x, crf=False)[0], raw.logits.argmax(1)[0])
    with pytest.raises(TypeError, match="unknown crf option"):
        model.predict(image, crf={"iteratons": 2})
    four = build_tiny("fcn_r50", in_chans=4).eval()
    with pytest.raises(ValueError, match="RGB"):
        four.predict(torch.rand(4, 32, 32), crf=True)


def test_models_declare_how_they_are_trained_and_evaluated():
    semantic, panoptic = build_tiny("fcn_r50"), build_tiny("panoptic_fpn_r50")
    assert (semantic.primary_metric, panoptic.primary_metric) == ("mIoU", "PQ")
    assert (semantic.ddp_find_unused_parameters, panoptic.ddp_find_unused_parameters) == (False, True)
    assert semantic.evaluator().primary == "mIoU" and panoptic.evaluator().primary == "PQ"
    assert semantic.describe_postprocess() == "argmax"
    assert panoptic.describe_postprocess().startswith("panoptic fusion (")


def test_batches_are_collated_by_the_targets_format():
    semantic = SyntheticSemantic(2, size=(32, 40), seed=0)
    images, labels = collate([semantic[0], semantic[1]])
    assert images.shape == (2, 3, 32, 40) and labels.shape == (2, 32, 40) and labels.dtype == torch.long
    images, targets = collate([SYNTH[0], SYNTH[1]])
    assert isinstance(images, list) and isinstance(targets, list) and "masks" in targets[0]


GENERIC = ["engine/trainer.py", "engine/evaluation.py", "engine/loader.py", "bench/accuracy.py", "bench/runner.py",
           "bench/optimize.py", "export/core.py", "export/check.py"]  # fmt: skip


def _reads_task(node: ast.AST) -> bool:
    """``x.task``, a variable named ``task`` or ``getattr(x, "task", ...)``."""
    if isinstance(node, ast.Attribute) and node.attr == "task" or isinstance(node, ast.Name) and node.id == "task":
        return True
    return (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant) and node.args[1].value == "task")  # fmt: skip


@pytest.mark.parametrize("path", GENERIC)
def test_generic_code_never_branches_on_the_task_name(path):
    """No comparison of a model's task (``model.task == "panoptic"``, ``task != "semantic"``, ...) in the
    code that drives models: it goes through the contract (metadata and report rows may still carry the task)."""
    tree = ast.parse((ROOT / path).read_text())
    found = [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare) and any(_reads_task(o) for o in [node.left, *node.comparators])
    ]
    assert not found, f"{path}: {found}"
