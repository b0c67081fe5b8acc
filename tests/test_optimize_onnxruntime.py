"""``segzoo.optimize(model, backend="onnxruntime", quantize=...)``: the exported model run by ONNX Runtime,
behind the same ``predict`` contract and self-check as the torch path."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import build_tiny

import segzoo
from segzoo.bench.optimize import MIN_AGREEMENT

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def tiny_fcn():
    return build_tiny("fcn_r50", seed=0).eval()


def test_float32_session_gives_the_eager_models_logits_and_predictions(tiny_fcn, tmp_path):
    sample = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    fast = segzoo.optimize(tiny_fcn, backend="onnxruntime", sample=sample, workdir=tmp_path)
    report = fast.segzoo_optimize
    assert (report.backend, report.dtype, report.quantize) == ("onnxruntime", "float32", None)
    assert report.agreement == 1.0 and report.max_abs_diff < 1e-4
    assert type(fast).__name__.startswith("OnnxRuntime") and isinstance(fast, type(tiny_fcn))
    assert report.artifact == str(tmp_path / "model.onnx") and (tmp_path / "model.onnx").is_file()
    images = torch.randint(0, 255, (2, 3, 50, 70), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = tiny_fcn.predict(images)
    got = fast.predict(images)  # another size: the graph's height and width are dynamic
    assert len(got) == 2 and all(torch.equal(a, b) for a, b in zip(got, expected))
    assert type(tiny_fcn).__name__ == "SemanticModel"  # the original is untouched (a copy was optimised)


@pytest.mark.slow  # an export plus ONNX Runtime's quantisation (~20 s): pytest -m slow
def test_int8_session_is_calibrated_and_reports_its_agreement(tiny_fcn):
    """The rule, not one machine's value: the agreement reported is the one measured, and a warning
    comes exactly when it is under the threshold (the int8 model is used either way)."""
    g = torch.Generator().manual_seed(3)
    sample, calibration = torch.randn(1, 3, 64, 64, generator=g), torch.randn(4, 3, 64, 64, generator=g)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        fast = segzoo.optimize(tiny_fcn, backend="onnxruntime", quantize="int8", calibration=calibration, sample=sample)
    report = fast.segzoo_optimize
    assert (report.dtype, report.quantize, report.artifact) == ("int8", "int8", None)  # no workdir: files removed
    assert 0.5 < report.agreement <= 1.0 and report.max_abs_diff > 0  # quantised: close, not equal
    below = [r for r in records if "used as requested" in str(r.message)]
    assert len(below) == (1 if report.agreement < MIN_AGREEMENT else 0)
    with torch.no_grad():
        logits = fast(sample).logits
        reference = tiny_fcn(sample).logits
    assert (logits.argmax(1) == reference.argmax(1)).double().mean().item() == pytest.approx(report.agreement)


def test_bad_requests_say_what_to_do(tiny_fcn):
    with pytest.raises(ValueError, match="needs calibration images"):
        segzoo.optimize(tiny_fcn, backend="onnxruntime", quantize="int8")
    with pytest.raises(ValueError, match="needs backend='onnxruntime'"):
        segzoo.optimize(tiny_fcn, quantize="int8")
    with pytest.raises(ValueError, match="backend must be"):
        segzoo.optimize(tiny_fcn, backend="tensorrt")
    with pytest.raises(ValueError, match="normalised images"):
        segzoo.optimize(tiny_fcn, backend="onnxruntime", quantize="int8", calibration=torch.randn(64, 64))
    with pytest.raises(NotImplementedError, match="load_exported"):
        segzoo.optimize(build_tiny("panoptic_fpn_r50"), backend="onnxruntime")


def test_the_classifier_convs_are_the_ones_feeding_the_output(tiny_fcn, tmp_path):
    """They stay in float32 under int8 quantisation: exactly the 1x1 conv making the class logits."""
    import onnx

    from segzoo.bench.onnxruntime_backend import classifier_convs

    path = segzoo.export(tiny_fcn, tmp_path / "m.onnx", format="onnx", example_size=(64, 64))
    graph = onnx.load(str(path)).graph
    names = classifier_convs(graph)
    assert len(names) == 1
    (node,) = [n for n in graph.node if n.name == names[0]]
    weights = {t.name: tuple(t.dims) for t in graph.initializer}
    assert weights[node.input[1]][:2] == (tiny_fcn.num_classes, tiny_fcn.decode_head.classifier.in_channels)
    assert sum(n.op_type == "Conv" for n in graph.node) > 10  # the trunk's convs are not picked
