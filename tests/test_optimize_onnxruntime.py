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


def _reduce_mean_graph(axes, keepdims, shape, *, axes_as="initializer", elem_type=None):
    """One ReduceMean with its axes as an initializer (opset 18), a ``Constant`` node's value_ints, the
    opset-13 attribute, an initializer that is also a graph input, or one that is also a graph output."""
    from onnx import TensorProto, helper

    elem_type = TensorProto.FLOAT if elem_type is None else elem_type
    nodes, inits, inputs = [], [], [helper.make_tensor_value_info("x", elem_type, shape)]
    outputs = [helper.make_tensor_value_info("y", elem_type, None)]
    if axes_as == "attribute":
        nodes.append(helper.make_node("ReduceMean", ["x"], ["y"], keepdims=keepdims, axes=axes))
    else:
        nodes.append(helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=keepdims))
        if axes_as == "constant":
            nodes.insert(0, helper.make_node("Constant", [], ["axes"], value_ints=axes))
        else:
            inits.append(helper.make_tensor("axes", TensorProto.INT64, [len(axes)], axes))
        if axes_as == "graph input":
            inputs.append(helper.make_tensor_value_info("axes", TensorProto.INT64, [len(axes)]))
        if axes_as == "graph output":
            outputs.append(helper.make_tensor_value_info("axes", TensorProto.INT64, [len(axes)]))
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13 if axes_as == "attribute" else 18)])
    model.ir_version = 8
    return model


def _run(model, x):
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize(
    "axes, axes_as",
    [([2, 3], "initializer"), ([3, 2], "initializer"), ([-2, -1], "initializer"), ([2, 3], "constant"),
     ([2, 3], "attribute"), ([2, 3], "graph output")],
)  # fmt: skip
def test_spatial_means_become_global_pools_with_the_same_values(axes, axes_as):
    """ASPP's image pooling (x.mean((2, 3), keepdim=True)) exports as ReduceMean, which ONNX Runtime
    runs in float32 on the int8 graph's channels-last map; GlobalAveragePool gives the same values."""
    import numpy as np

    from segzoo.bench.onnxruntime_backend import spatial_means_to_global_pools

    model = _reduce_mean_graph(axes, 1, [1, 6, 5, 7], axes_as=axes_as)
    x = np.random.default_rng(0).standard_normal((1, 6, 5, 7)).astype(np.float32)
    before = _run(model, x)
    assert spatial_means_to_global_pools(model.graph) == 1
    assert [n.op_type for n in model.graph.node if n.op_type != "Constant"] == ["GlobalAveragePool"]
    assert [n.input for n in model.graph.node if n.op_type == "GlobalAveragePool"] == [["x"]]
    # the axes initializer goes, unless something still reads it (here: a graph output)
    assert len(model.graph.initializer) == (1 if axes_as == "graph output" else 0)
    np.testing.assert_allclose(_run(model, x), before, rtol=1e-6, atol=1e-7)
    assert before.shape == (1, 6, 1, 1)


@pytest.mark.parametrize(
    "axes, keepdims, shape, axes_as, elem_type",
    [
        ([1], 1, [1, 6, 5, 7], "initializer", None),  # not the spatial axes
        ([2, 3], 0, [1, 6, 5, 7], "initializer", None),  # no kept dims
        ([2, 3], 1, [1, 6, 5, 7, 2], "initializer", None),  # 5-d: GlobalAveragePool would average 3 axes
        ([-2, -1], 1, [1, 6, 5], "initializer", None),  # 3-d: only the rank tells
        ([2, 3], 1, [1, 6, 5, 7], "graph input", None),  # axes a caller may override
        ([2, 3], 1, [1, 6, 5, 7], "initializer", 6),  # int32: no GlobalAveragePool for it
    ],
)
def test_other_means_are_left_alone(axes, keepdims, shape, axes_as, elem_type):
    from segzoo.bench.onnxruntime_backend import spatial_means_to_global_pools

    model = _reduce_mean_graph(axes, keepdims, shape, axes_as=axes_as, elem_type=elem_type)
    assert spatial_means_to_global_pools(model.graph) == 0
    assert [n.op_type for n in model.graph.node] == ["ReduceMean"] and len(model.graph.initializer) == 1


def test_an_exported_aspp_image_pool_is_rewritten(tmp_path):
    """On a real export (tiny deeplabv3_r50, after ONNX Runtime's pre-processing as the int8 path runs it)
    the one ReduceMean, ASPP's image pooling, is rewritten and the graph's logits are unchanged."""
    import numpy as np
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from segzoo.bench.onnxruntime_backend import spatial_means_to_global_pools

    model = build_tiny("deeplabv3_r50", seed=0).eval()
    path = segzoo.export(model, tmp_path / "m.onnx", format="onnx", example_size=(64, 64))
    quant_pre_process(str(path), str(tmp_path / "p.onnx"), skip_symbolic_shape=True)
    graph = onnx.load(str(tmp_path / "p.onnx"))
    assert sum(n.op_type == "ReduceMean" for n in graph.graph.node) == 1
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(4)).numpy()
    import onnxruntime as ort

    before = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {graph.graph.input[0].name: x})[0]
    assert spatial_means_to_global_pools(graph.graph) == 1
    assert not any(n.op_type == "ReduceMean" for n in graph.graph.node)
    after = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {graph.graph.input[0].name: x})[0]
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # a panoptic export (~40 s) plus its quantisation: pytest -m slow
@pytest.mark.parametrize("name", ["panoptic_fpn_r50", "upsnet_r50"])
def test_panoptic_session_runs_the_network_and_the_models_own_postprocess(name):
    """The network part (up to the mask head) in ONNX Runtime, one run per image; the model's
    postprocess after it: float32 gives the eager model's panoptic results, int8 a working model."""
    from segzoo.export import permissive_fuser

    model = build_tiny(name, seed=0).eval()
    g = torch.Generator().manual_seed(1)
    sample = torch.randn(1, 3, 64, 64, generator=g)
    fast = segzoo.optimize(model, backend="onnxruntime", sample=sample)
    report = fast.segzoo_optimize
    assert (report.backend, report.dtype) == ("onnxruntime", "float32") and report.agreement == 1.0
    images = torch.randint(0, 255, (2, 3, 60, 76), dtype=torch.uint8, generator=g)  # another size, two images
    keep_all = permissive_fuser(model.fuser)  # keeps the untrained model's low-scoring detections
    with torch.no_grad():
        expected = model.predict(images, fuser=keep_all)
    got = fast.predict(images, fuser=keep_all)
    for a, b in zip(expected, got, strict=True):
        assert len(a.instances["boxes"]) > 0 and len(a.segments_info) > 0  # a non-trivial comparison
        torch.testing.assert_close(b.instances["boxes"], a.instances["boxes"], atol=1e-3, rtol=0)
        assert torch.equal(b.sem_seg, a.sem_seg) and torch.equal(b.panoptic_seg, a.panoptic_seg)
        assert [s["category_id"] for s in b.segments_info] == [s["category_id"] for s in a.segments_info]
    # int8 on images with no detection: ONNX Runtime's fused int8 kernels crashed the process on
    # empty RoI batches until the per-RoI heads were kept in float32.
    model.roi_heads.score_thresh = 1.0
    int8 = segzoo.optimize(model, backend="onnxruntime", sample=sample, quantize="int8",
                           calibration=torch.randn(2, 3, 64, 64, generator=g))  # fmt: skip
    assert int8.segzoo_optimize.dtype == "int8" and 0.5 < int8.segzoo_optimize.agreement <= 1.0
    predictions = int8.predict(images)
    assert [p.panoptic_seg.shape for p in predictions] == [(60, 76), (60, 76)]
    assert all(len(p.instances["boxes"]) == 0 for p in predictions)


@pytest.mark.slow  # a panoptic export (~40 s): pytest -m slow
def test_classifier_and_per_roi_layers_of_a_panoptic_graph(tmp_path):
    """In a panoptic network graph, the output layers: the semantic classifier, the box classifier and
    regressor (Gemm), the RPN's objectness and box convs on every level and the mask predictor; the
    per-RoI layers: the box and mask heads. Nothing of the trunk in either."""
    import onnx

    from segzoo.bench.onnxruntime_backend import classifier_convs, per_roi_nodes

    model = build_tiny("panoptic_fpn_r50", seed=0).eval()
    path = segzoo.export(model, tmp_path / "m.onnx", format="onnx", example_size=(64, 64), panoptic_outputs="network")
    graph = onnx.load(str(path)).graph
    picked = [n for n in graph.node if n.name in set(classifier_convs(graph))]
    weights = {t.name: tuple(t.dims) for t in graph.initializer}
    levels = len(model.rpn.anchor_generator.sizes)
    heads, rpn = model.roi_heads, model.rpn.head
    layers = [model.semantic_head.classifier, heads.box_predictor.cls_score, heads.box_predictor.bbox_pred,
              heads.mask_predictor.mask_fcn_logits] + [rpn.cls_logits, rpn.bbox_pred] * levels  # fmt: skip
    assert sorted(weights[n.input[1]] for n in picked) == sorted(tuple(m.weight.shape) for m in layers)
    assert sum(n.op_type == "Gemm" for n in picked) == 2
    # The per-RoI heads (float32 under int8): every Gemm and the mask head's convs, none of the trunk's.
    per_roi = {n.name for n in graph.node if n.name in set(per_roi_nodes(graph))}
    convs = [n for n in graph.node if n.op_type in ("Conv", "ConvTranspose")]
    mask_convs = [m for m in heads.mask_head.modules() if isinstance(m, torch.nn.Conv2d)]
    mask_convs += [heads.mask_predictor.conv5_mask, heads.mask_predictor.mask_fcn_logits]
    assert {n.name for n in graph.node if n.op_type == "Gemm"} <= per_roi
    assert sum(n.name in per_roi for n in convs) == len(mask_convs)
