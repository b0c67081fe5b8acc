"""The deployed inference path: a segzoo model exported to ONNX and run by ONNX Runtime, in float32
or statically quantised to int8.

``segzoo.optimize(model, backend="onnxruntime", quantize="int8", calibration=images)``:

1. the model is exported with :func:`segzoo.export` (dynamic batch, height and width);
2. with ``quantize="int8"`` the graph is quantised by ONNX Runtime's static quantisation (Jacob
   et al., arXiv:1712.05877: per-channel symmetric int8 weights, asymmetric uint8 activations,
   QDQ format, MinMax ranges collected on ``calibration``, after ONNX Runtime's pre-processing and
   :func:`spatial_means_to_global_pools`); the classifier convolutions (those feeding the outputs
   through no other conv) stay in float32;
3. an ``InferenceSession`` runs it on the CPU with every graph optimisation enabled
   (``ORT_ENABLE_ALL``: constant folding, conv + BN/activation fusion, layout transforms) and
   as many intra-op threads as torch uses.

The result is the same model object with its ``forward`` replaced by the session (so ``predict``,
``postprocess``, ``normalize`` and ``isinstance`` work as before) and ``segzoo_optimize`` holding
the :class:`~segzoo.bench.optimize.OptimizeReport` of the same self-check as the torch path: label
agreement with the fp32 eager model on ``sample`` (a warning below ``min_agreement``).

Panoptic models export the graph up to where ``PanopticModel.forward`` stops (backbone, FPN,
semantic head, RPN, RoI heads and mask head; ``export(..., panoptic_outputs="network")``), one
session run per image; the model's own ``postprocess`` (mask paste, ranking module, fusion, CRF)
runs after it in torch, so ``predict`` gives the same kind of result. The self-check compares the
semantic branch's labels; with ``quantize="int8"`` the layers that produce the graph's outputs
(semantic classifier, RPN heads) and the per-RoI box and mask heads (:func:`per_roi_nodes`) stay
in float32.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .precision import compare_precision

__all__ = ["optimize_onnxruntime", "QUANTIZE_MODES"]

QUANTIZE_MODES = (None, "int8")


def _as_batches(calibration: Any) -> list[np.ndarray]:
    if isinstance(calibration, torch.Tensor):
        calibration = [calibration]
    batches = []
    for item in calibration:
        array = item.detach().cpu().float().numpy() if isinstance(item, torch.Tensor) else np.asarray(item, dtype=np.float32)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4:
            raise ValueError(
                f"calibration must be normalised images (B, C, H, W) or a list of them (model.normalize(images)); got "
                f"an array of shape {array.shape}."
            )
        batches.extend(array[i : i + 1] for i in range(array.shape[0]))
    if not batches:
        raise ValueError("calibration is empty: pass a few normalised images of the kind the model will see.")
    return batches


class _Calibration:
    """ONNX Runtime's ``CalibrationDataReader`` protocol over a list of single-image batches."""

    def __init__(self, name: str, batches: list[np.ndarray]) -> None:
        self._items = iter([{name: b} for b in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # pragma: no cover - part of the protocol, unused by MinMax
        pass


def classifier_convs(graph) -> list[str]:
    """Names of the weighted nodes (Conv, ConvTranspose, Gemm, MatMul with a constant weight) that
    produce the graph's outputs through no other weighted node: the classifiers (and, in a panoptic
    graph, the box regressor, the RPN heads and the mask predictor).

    They stay in float32 when the graph is quantised (the usual practice since Jacob et al.): they are a
    tiny share of the FLOPs, but their int8 rounding moves logits directly, so near-tied pixels flip
    (on the trained fcn_r50 benchmark checkpoint: 98.71% label agreement with every conv in int8,
    99.19% with the classifier in float32)."""
    producer = {output: node for node in graph.node for output in node.output}
    constants = {init.name for init in graph.initializer}
    found, seen = [], set()
    stack = [output.name for output in graph.output]
    while stack:
        tensor = stack.pop()
        node = producer.get(tensor)
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        weighted_matmul = node.op_type == "MatMul" and any(name in constants for name in node.input)
        if node.op_type in ("Conv", "ConvTranspose", "Gemm") or weighted_matmul:
            found.append(node.name)
        else:
            stack.extend(node.input)
    return found


def per_roi_nodes(graph) -> list[str]:
    """Names of the nodes that run on RoIs: everything downstream of a ``RoiAlign`` (the box and mask
    heads of a panoptic graph).

    They stay in float32 under int8 quantisation: ONNX Runtime 1.32's fused int8 kernels crash the
    process (a segmentation fault, with ``ORT_ENABLE_EXTENDED`` and above) when the mask head gets no
    RoI, i.e. on an image with no detection."""
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found: dict[int, str] = {}
    stack = [output for node in graph.node if node.op_type == "RoiAlign" for output in node.output]
    while stack:
        for node in consumers.get(stack.pop(), []):
            if id(node) not in found:
                found[id(node)] = node.name
                stack.extend(node.output)
    return list(found.values())


def _constant_ints(graph, name: str) -> list[int] | None:
    """The integer values of an initializer (not overridable: not a graph input) or ``Constant`` node
    output ``name``, else None."""
    from onnx import numpy_helper

    if any(v.name == name for v in graph.input):
        return None
    for init in graph.initializer:
        if init.name == name:
            return [int(v) for v in numpy_helper.to_array(init).reshape(-1)]
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            for attr in node.attribute:
                if attr.name == "value":
                    return [int(v) for v in numpy_helper.to_array(attr.t).reshape(-1)]
                if attr.name == "value_ints":
                    return [int(v) for v in attr.ints]
                if attr.name == "value_int":
                    return [int(attr.i)]
    return None


def _names_read(graph) -> set[str]:
    """Every tensor name ``graph`` reads: node inputs (in subgraphs too) and graph outputs."""
    from onnx import AttributeProto

    names = {output.name for output in graph.output}
    for node in graph.node:
        names.update(node.input)
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                names |= _names_read(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    names |= _names_read(sub)
    return names


def spatial_means_to_global_pools(graph) -> int:
    """Rewrite, in place, each ``ReduceMean`` over the two spatial axes of a 4-d float tensor
    (``keepdims=1``: ``x.mean((2, 3), keepdim=True)``, the image pooling of ASPP) as
    ``GlobalAveragePool``, the same values; returns how many. The exporter writes ``ReduceMean``,
    which ONNX Runtime quantises poorly: in the int8 graph it runs in float32 on the channels-last
    map, 31 ms for deeplabv3_r50's 2048x64x64 on a 2-core CPU, where ``GlobalAveragePool`` becomes an
    int8 channels-last kernel. Means whose rank, element type or constant axes are unknown are left
    alone; the axes constants no longer read by anything are removed."""
    from onnx import TensorProto

    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE}
    infos = {v.name: v.type.tensor_type for v in [*graph.input, *graph.value_info, *graph.output]}
    rewritten, dropped = 0, set()
    for node in graph.node:
        info = infos.get(node.input[0]) if node.input else None
        if node.op_type != "ReduceMean" or node.domain not in ("", "ai.onnx") or info is None:
            continue
        if not info.HasField("shape") or len(info.shape.dim) != 4 or info.elem_type not in floats:
            continue
        attrs = {a.name: a for a in node.attribute}
        axes = _constant_ints(graph, node.input[1]) if len(node.input) > 1 and node.input[1] else None
        if axes is None and "axes" in attrs:
            axes = list(attrs["axes"].ints)
        keepdims = attrs["keepdims"].i if "keepdims" in attrs else 1
        if keepdims != 1 or axes is None or sorted(a % 4 for a in axes) != [2, 3]:
            continue
        node.op_type = "GlobalAveragePool"
        dropped.update(node.input[1:])
        del node.input[1:]
        del node.attribute[:]
        rewritten += 1
    if dropped:
        read = _names_read(graph)
        for init in [init for init in graph.initializer if init.name in dropped and init.name not in read]:
            graph.initializer.remove(init)  # the axes constants, now read by nothing
    return rewritten


def _quantize_int8(source: Path, target: Path, calibration: list[np.ndarray]) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = target.with_name("prepared.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    model = onnx.load(str(prepared), load_external_data=False)  # external weights (if any) stay where they are
    if spatial_means_to_global_pools(model.graph):
        onnx.save(model, str(prepared))
    graph = model.graph
    quantize_static(
        str(prepared), str(target), _Calibration(graph.input[0].name, calibration), quant_format=QuantFormat.QDQ,
        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=classifier_convs(graph) + per_roi_nodes(graph),
    )  # fmt: skip


@contextlib.contextmanager
def _quiet_root_logger():
    """ONNX Runtime's quantiser logs to the root logger: e.g. for a panoptic graph, "Axis 1 is
    out-of-range" lines for the rank-1 scale of the semantic head's GroupNorm (exported as
    InstanceNormalization), to which a per-channel axis doesn't apply."""
    previous = logging.root.level
    logging.root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logging.root.setLevel(previous)


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _run(model: nn.Module, image: torch.Tensor) -> list[torch.Tensor]:
    session, name = model._segzoo_ort["session"], model._segzoo_ort["input"]
    array = image.detach().to("cpu", torch.float32).contiguous().numpy()
    return [torch.from_numpy(out).to(image.device) for out in session.run(None, {name: array})]


def _inference_only(args: tuple, kwargs: dict) -> None:
    if args or kwargs.get("targets") is not None:
        raise RuntimeError("An ONNX Runtime model only runs inference: forward(images) without targets.")


def _ort_forward(self, image: torch.Tensor, *args: Any, **kwargs: Any):
    """The model's forward, run by its ONNX Runtime session (eval only: logits, no auxiliary outputs)."""
    from ..models.semantic import SemanticOutput

    _inference_only(args, kwargs)
    return SemanticOutput(logits=_run(self, image)[0], aux={})


def _ort_panoptic_forward(self, images: Any, *args: Any, **kwargs: Any):
    """A panoptic model's eval forward (:class:`PanopticRawOutput`), one session run per image: the
    images of a batch are each padded to the size divisor alone, as ``forward`` pads a batch of
    equal-size images; the stride-4 semantic logits of a list of different sizes are zero-padded to
    the largest."""
    from ..models.panoptic import PanopticRawOutput

    _inference_only(args, kwargs)
    images = list(images) if isinstance(images, (list, tuple)) else list(images.unbind(0))
    sems, detections = [], []
    for image in images:
        sem, boxes, scores, labels, mask_logits = _run(self, image[None])
        sems.append(sem[0])
        detections.append({"boxes": boxes, "scores": scores, "labels": labels, "mask_logits": mask_logits})
    h, w = max(s.shape[-2] for s in sems), max(s.shape[-1] for s in sems)
    sem_logits = torch.stack([torch.nn.functional.pad(s, (0, w - s.shape[-1], 0, h - s.shape[-2])) for s in sems])
    return PanopticRawOutput(sem_logits, detections, [tuple(int(v) for v in i.shape[-2:]) for i in images])


_ORT_CLASSES: dict[tuple[type, Any], type] = {}


def _ort_class(cls: type, forward) -> type:
    base = getattr(cls, "_segzoo_base", None) or cls
    if (base, forward) not in _ORT_CLASSES:
        _ORT_CLASSES[base, forward] = type(
            f"OnnxRuntime{base.__name__}", (base,), {"forward": forward, "_segzoo_base": base, "__module__": base.__module__}
        )
    return _ORT_CLASSES[base, forward]


def optimize_onnxruntime(
    model: nn.Module,
    *,
    reference: torch.Tensor,
    sample: torch.Tensor,
    quantize: str | None = None,
    calibration: Any = None,
    min_agreement: float,
    threads: int | None = None,
    workdir: str | os.PathLike | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Replace ``model``'s forward by an ONNX Runtime session (see the module docstring); returns the
    model and the self-check's fields. ``reference``: the fp32 eager logits on ``sample``."""
    from ..export import export
    from ..models.panoptic import PanopticModel

    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}.")
    panoptic = isinstance(model, PanopticModel)
    if quantize == "int8" and calibration is None:
        raise ValueError(
            "quantize='int8' needs calibration images: optimize(model, backend='onnxruntime', quantize='int8', "
            "calibration=model.normalize(images)) with a few (2-16) images of the kind the model will see."
        )
    with tempfile.TemporaryDirectory(prefix="segzoo-ort-") as scratch:  # kept only when workdir is given
        directory = Path(workdir) if workdir is not None else Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        path = export(model, directory / "model.onnx", format="onnx", example_size=tuple(sample.shape[-2:]),
                      panoptic_outputs="network")  # fmt: skip
        if quantize == "int8":
            quantized = directory / "model.int8.onnx"
            with warnings.catch_warnings(), _quiet_root_logger():
                warnings.simplefilter("ignore")  # onnxruntime's advice to pre-process (done) and its deprecation notes
                _quantize_int8(path, quantized, _as_batches(calibration))
            path = quantized
        session = _session(path, threads)  # reads the file now; the session no longer needs it
    artifact = str(path) if workdir is not None else None
    model.__class__ = _ort_class(type(model), _ort_panoptic_forward if panoptic else _ort_forward)
    model._segzoo_ort = {"session": session, "input": session.get_inputs()[0].name, "path": artifact}
    with torch.inference_mode():
        out = model(sample)
        result = compare_precision(reference, out.sem_logits if panoptic else out.logits)
    name = "int8 (ONNX Runtime)" if quantize else "float32 (ONNX Runtime)"
    if not result.agreement >= min_agreement:
        warnings.warn(
            f"{name} gives {100 * result.agreement:.2f}% label agreement with the float32 eager model on the sample "
            f"(< {100 * min_agreement:.1f}%). It is used as requested; calibrate on more representative images or "
            "use backend='torch'.",
            stacklevel=4,
        )
    return model, {"check": result, "path": artifact, "decision": f"{name} (requested)"}
