"""``segzoo.export``: write a model as ONNX, TorchScript or a ``torch.export`` program.

What is exported is the tensor path, on normalised images (``(x / 255 - mean) / std``, the
statistics are in the artefact's metadata):

- semantic and multi-scale models: :class:`SemanticExportModule`, ``forward``'s logits,
  ``image (B, C, H, W) -> logits (B, K, H, W)``;
- panoptic models: :class:`~segzoo.export.panoptic.PanopticExportModule`,
  ``image (1, C, H, W) ->`` the tensors of ``PANOPTIC_OUTPUTS``; the panoptic fusion runs
  after it in Python (:func:`segzoo.export.fuse_panoptic`).

With ``dynamic=True`` height and width (and the batch of semantic models) are symbolic, so
one artefact takes any input size. The three formats:

- ``"onnx"``: ``torch.onnx.export(..., dynamo=True)`` (the ``torch.export``-based exporter;
  needs ``onnx`` and ``onnxscript``, and ``onnxruntime`` to run it: ``pip install segzoo[export]``);
- ``"torchscript"``: ``torch.jit.trace`` (deprecated in recent PyTorch; its warning is
  filtered). Traced sizes stay symbolic because the model code computes sizes with tensor
  arithmetic (no ``int()`` on shapes);
- ``"torch-export"``: ``torch.export.export``, saved with ``torch.export.save`` (``.pt2``).

Each model class lists the formats the test-suite verifies in ``export_formats``; exporting
to another format raises unless ``allow_undeclared=True`` (used by ``scripts/export_matrix.py``).
Files are written to a temporary name next to the target and renamed into place, so a
failed export never leaves a partial file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from .panoptic import PanopticExportModule

__all__ = ["EXPORT_FORMATS", "METADATA_KEY", "SemanticExportModule", "export", "export_graph", "declared_formats", "export_metadata"]

EXPORT_FORMATS = ("onnx", "torchscript", "torch-export")
METADATA_KEY = "segzoo.json"  # ONNX metadata_props key / TorchScript and .pt2 extra file
INPUT_NAME = "image"


def declared_formats(model: nn.Module) -> tuple[str, ...]:
    """The export formats a model's class declares (``export_formats``), as checked by the tests."""
    return tuple(getattr(type(model), "export_formats", ()))


def _check_format(format: str) -> str:
    if format not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {format!r}; valid formats: {', '.join(map(repr, EXPORT_FORMATS))}.")
    return format


def _require_onnx() -> None:
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"ONNX export needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed: "
            "pip install segzoo[export]  (installs onnx, onnxscript and onnxruntime)."
        )


class SemanticExportModule(nn.Module):
    """A semantic model's tensor path as one graph: ``image -> logits`` (``forward``'s
    :class:`~segzoo.models.SemanticOutput` holds only them in eval mode). Weights are shared."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image).logits


def _is_panoptic(model: nn.Module) -> bool:
    from ..models.panoptic import PanopticModel

    return isinstance(model, PanopticModel)


def export_graph(model: nn.Module, *, panoptic_outputs: str = "panoptic") -> tuple[nn.Module, tuple[str, ...]]:
    """The module that is exported for ``model`` and the names of its outputs (``panoptic_outputs``:
    see :class:`PanopticExportModule`'s ``outputs``)."""
    if _is_panoptic(model):
        graph = PanopticExportModule(model, outputs=panoptic_outputs)
        return graph, graph.output_names
    return SemanticExportModule(model), ("logits",)


def _fuser_spec(fuser: nn.Module) -> dict[str, Any]:
    """``{"name", "options"}`` of a registered panoptic fuser (its keyword-only constructor options)."""
    from ..fusers.panoptic import PANOPTIC_FUSERS

    name = next((n for n in PANOPTIC_FUSERS.names() if PANOPTIC_FUSERS.get(n).fn is type(fuser)), None)
    params = inspect.signature(type(fuser).__init__).parameters.values()
    options = {p.name: getattr(fuser, p.name) for p in params if p.kind is p.KEYWORD_ONLY and hasattr(fuser, p.name)}
    return {"name": name, "options": {k: v for k, v in options.items() if isinstance(v, (bool, int, float, str))}}


def export_metadata(
    model: nn.Module, *, format: str, dynamic: bool, example_size: Sequence[int], panoptic_outputs: str = "panoptic"
) -> dict[str, Any]:
    """What an exported artefact records about its model (JSON-serialisable)."""
    from ..version import __version__

    config = getattr(model, "segzoo_config", None) or {}
    meta: dict[str, Any] = {
        "segzoo_version": __version__,
        "recipe": config.get("name"),
        "overrides": json.loads(json.dumps(config.get("overrides", {}), default=str)),
        "task": getattr(model, "task", "semantic"),
        "format": format,
        "dynamic": bool(dynamic),
        "example_size": [int(s) for s in example_size],
        "input": INPUT_NAME,
        "outputs": list(export_graph(model, panoptic_outputs=panoptic_outputs)[1]),
        "num_classes": int(model.num_classes),
        "mean": [round(v, 7) for v in model.pixel_mean.flatten().tolist()],  # float32 -> 0.485, not 0.48500001
        "std": [round(v, 7) for v in model.pixel_std.flatten().tolist()],
    }
    if _is_panoptic(model):
        meta.update(thing_ids=list(model.thing_ids), stuff_ids=list(model.stuff_ids), fuser=_fuser_spec(model.fuser),
                    crf=getattr(model, "crf", None))
    return meta


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """A temporary file name in ``path``'s directory; on success it (and any sibling ``.data`` file
    of ONNX external weights) is renamed onto ``path``, on failure everything is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        target = tmpdir / path.name
        yield target
        if not target.is_file():
            raise RuntimeError(f"Export wrote nothing to {target}.")
        for extra in sorted(p for p in tmpdir.iterdir() if p != target):  # external data before the model
            os.replace(extra, path.parent / extra.name)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _dynamic_dims(model: nn.Module, dynamic: bool):
    if not dynamic:
        return None
    dim = torch.export.Dim.DYNAMIC
    spec = {2: dim, 3: dim} if _is_panoptic(model) else {0: dim, 2: dim, 3: dim}
    return (spec,)


def _size_oblivious():
    # Don't let an example's 1-wide maps (e.g. P6 of a 64-px image) fix the exported sizes:
    # reason about symbolic sizes as if they could be anything >= 2 (0/1 are not special).
    return torch.fx.experimental._config.patch(backed_size_oblivious=True)


@contextlib.contextmanager
def _nms_keeps_any_count() -> Iterator[None]:
    """torchvision's fake ``nms`` (``create_unbacked_symint()``, whose default minimum is 2) tells
    ``torch.export`` that NMS keeps at least 2 boxes; the exported program then asserts it and
    fails on an image with 0 or 1 detections. Declare "any count" for the duration of an export
    (a fake kernel in a temporary library, removed afterwards: torchvision's comes back)."""
    lib = torch.library.Library("torchvision", "FRAGMENT")

    def fake_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
        return boxes.new_empty(torch.library.get_ctx().new_dynamic_size(min=0), dtype=torch.long)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "overriding a previously registered kernel"
            torch.library.register_fake("torchvision::nms", fake_nms, lib=lib)
        yield
    finally:
        lib._destroy()


@contextlib.contextmanager
def _exporting(model: nn.Module) -> Iterator[None]:
    """The context of torch.export-based exports: size-oblivious shapes, and NMS outputs of any size."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_size_oblivious())
        if _is_panoptic(model):
            stack.enter_context(_nms_keeps_any_count())
        yield


def _write_onnx(graph, example, target: Path, *, names, dynamic_shapes, opset, meta, context) -> None:
    kwargs = {} if opset is None else {"opset_version": int(opset)}
    with context, warnings.catch_warnings(), contextlib.redirect_stdout(None):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            graph, (example,), dynamo=True, dynamic_shapes=dynamic_shapes, input_names=[INPUT_NAME],
            output_names=list(names), verbose=False, **kwargs,
        )  # fmt: skip
    program.model.metadata_props[METADATA_KEY] = json.dumps(meta)
    program.save(str(target))  # weights inline, or in a ``.data`` file past 2 GB


def _write_torchscript(graph, example, target: Path, *, meta) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.(trace|save).*deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        traced = torch.jit.trace(graph, example, check_trace=False, strict=False)
        torch.jit.save(traced, str(target), _extra_files={METADATA_KEY: json.dumps(meta)})


def _write_torch_export(graph, example, target: Path, *, dynamic_shapes, meta, context) -> None:
    with context:
        program = torch.export.export(graph, (example,), dynamic_shapes=dynamic_shapes)
    buffer = io.BytesIO()  # torch.export.save wants a ``.pt2`` name; the caller picks the name
    torch.export.save(program, buffer, extra_files={METADATA_KEY: json.dumps(meta)})
    target.write_bytes(buffer.getvalue())


def export(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    format: str = "onnx",
    example_size: Sequence[int] = (512, 512),
    dynamic: bool = True,
    opset: int | None = None,
    allow_undeclared: bool = False,
    panoptic_outputs: str = "panoptic",
) -> Path:
    """Export a segzoo model's tensor path to ``path`` (written atomically) and return the path.

    Args:
        model: a segzoo model (``segzoo.build(...)``); it is exported in eval mode (its mode
            is restored afterwards).
        path: the file to write (``.onnx``, ``.pt`` for TorchScript, ``.pt2`` for
            ``torch.export`` by convention; the suffix is not enforced).
        format: ``"onnx"``, ``"torchscript"`` or ``"torch-export"``.
        example_size: ``(H, W)`` of the example input the graph is traced with.
        dynamic: symbolic height and width (and batch, for semantic models); ``False``
            fixes the example's shape.
        opset: ONNX opset (default: the exporter's, 20 with torch 2.14: the one the tests verify).
        allow_undeclared: export to a format the model's class doesn't list in
            ``export_formats`` (unverified; for experiments and the export matrix).

    Inputs of the exported graph are normalised images (see ``model.normalize``); the
    artefact's metadata (:func:`segzoo.export.load_exported`) holds mean, std, classes, and
    for panoptic models the thing/stuff ids and the fuser, which
    :func:`segzoo.export.fuse_panoptic` reads.
    """
    from ..models.base import SegmentationModel

    if not isinstance(model, SegmentationModel):
        raise TypeError(f"export takes a segzoo model (segzoo.build(...)), got {type(model).__name__}.")
    format = _check_format(format)
    declared = declared_formats(model)
    if format not in declared and not allow_undeclared:
        name = (getattr(model, "segzoo_config", None) or {}).get("name") or type(model).__name__
        supported = ", ".join(map(repr, declared)) or "none"
        raise ValueError(
            f"{name} does not declare export format {format!r}; it supports {supported} "
            f"({type(model).__name__}.export_formats). Pass allow_undeclared=True to try anyway (unverified)."
        )
    if format == "onnx":
        _require_onnx()
    if len(example_size) != 2 or min(int(s) for s in example_size) < 1:
        raise ValueError(f"example_size must be (H, W) with positive sizes, got {tuple(example_size)}.")
    if opset is not None and format != "onnx":
        raise ValueError(f"opset only applies to format='onnx', not {format!r}.")
    path = Path(path)
    graph, names = export_graph(model, panoptic_outputs=panoptic_outputs)
    meta = export_metadata(model, format=format, dynamic=dynamic, example_size=example_size, panoptic_outputs=panoptic_outputs)
    device = model.pixel_mean.device
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(1, model.in_chans, *(int(s) for s in example_size), generator=generator).to(device)
    dynamic_shapes = _dynamic_dims(model, dynamic)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _atomic_target(path) as target:
            if format == "onnx":
                _write_onnx(
                    graph, example, target, names=names, dynamic_shapes=dynamic_shapes, opset=opset, meta=meta,
                    context=_exporting(model),
                )  # fmt: skip
            elif format == "torchscript":
                _write_torchscript(graph, example, target, meta=meta)
            else:
                _write_torch_export(graph, example, target, dynamic_shapes=dynamic_shapes, meta=meta, context=_exporting(model))
    finally:
        model.train(was_training)
    return path
