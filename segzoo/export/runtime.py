"""Load and run an artefact written by :func:`segzoo.export.export`, whatever its format.

ONNX files run in ONNX Runtime (CPU by default), TorchScript files with ``torch.jit.load``,
``.pt2`` programs with ``torch.export.load(...).module()``. The format is recognised from
the file's content, not its name.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .core import METADATA_KEY

__all__ = ["ExportedModel", "load_exported", "detect_format"]


def detect_format(path: str | os.PathLike) -> str:
    """``"torch-export"``, ``"torchscript"`` or ``"onnx"`` from the file's content."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any(n == "archive_format" or n.endswith("/archive_format") for n in names):
            return "torch-export"
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        raise ValueError(f"{path} is a zip archive but neither a TorchScript file nor a torch.export (.pt2) program.")
    return "onnx"


class ExportedModel:
    """A loaded artefact: ``model(image)`` -> a tensor (semantic logits) or a tuple of tensors
    (panoptic, named as in ``metadata["outputs"]``); ``image`` is a normalised ``(B, C, H, W)``
    tensor or numpy array. ``metadata`` is what ``export`` recorded."""

    def __init__(self, path: str | os.PathLike, *, providers: Sequence[str] | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"No exported model at {self.path}.")
        self.format = detect_format(self.path)
        extra = {METADATA_KEY: ""}
        if self.format == "onnx":
            try:
                import onnxruntime as ort
            except ImportError:
                raise ImportError("Running an ONNX file needs onnxruntime: pip install segzoo[export].") from None
            self._session = ort.InferenceSession(str(self.path), providers=list(providers or ["CPUExecutionProvider"]))
            raw = self._session.get_modelmeta().custom_metadata_map.get(METADATA_KEY, "{}")
            self._input = self._session.get_inputs()[0].name
        elif self.format == "torchscript":
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*deprecated", category=FutureWarning)
                self._module = torch.jit.load(str(self.path), _extra_files=extra, map_location="cpu")
            raw = extra[METADATA_KEY]
        else:
            # Through a buffer: torch.export.load wants a ``.pt2`` name otherwise.
            program = torch.export.load(io.BytesIO(self.path.read_bytes()), extra_files=extra)
            self._module = program.module()
            raw = extra[METADATA_KEY]
        raw = raw.decode() if isinstance(raw, bytes) else raw
        self.metadata: dict[str, Any] = json.loads(raw or "{}")

    def __call__(self, image: torch.Tensor | np.ndarray) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self.format == "onnx":
            array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
            outputs = tuple(torch.from_numpy(o) for o in self._session.run(None, {self._input: array.astype(np.float32)}))
        else:
            with torch.no_grad():
                result = self._module(torch.as_tensor(image, dtype=torch.float32))
            outputs = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        return outputs[0] if len(outputs) == 1 else outputs

    def __repr__(self) -> str:
        return f"ExportedModel({str(self.path)!r}, format={self.format!r}, recipe={self.metadata.get('recipe')!r})"


def load_exported(path: str | os.PathLike, *, providers: Sequence[str] | None = None) -> ExportedModel:
    """Load an exported segzoo model (any format) for inference; see :class:`ExportedModel`."""
    return ExportedModel(path, providers=providers)
