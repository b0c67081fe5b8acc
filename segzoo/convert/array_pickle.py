"""Reading pickles of numpy arrays (Detectron2's ``.pkl`` checkpoints) without running their code.

A pickle names the functions that rebuild its objects, and ``pickle.load`` calls them: a
checkpoint could run anything. Detectron2's model-zoo files (``{"model": {name: ndarray},
"__author__": ...}``) need only numpy's array and dtype constructors. :class:`ArrayUnpickler`
admits those (plus ``OrderedDict`` and the latin-1 ``str -> bytes`` step of protocol-2 pickles)
and refuses every other global *before* anything is called, naming it; object arrays are
refused too.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import WeightsError
from ..state_dicts import sha256_of

__all__ = ["ArrayUnpickler", "read_array_pickle"]

_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's array constructor, whatever its module path


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a function or class outside the allow-list."""


def _latin1(text: Any, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it (array bytes stored as a latin-1 str), nothing else."""
    if not isinstance(text, str) or encoding != "latin1":
        raise RefusedGlobal(f"_codecs.encode is admitted only for latin-1 strings, got {type(text).__name__}.")
    return codecs.encode(text, "latin1")


_SCALAR = np.float32(0).__reduce__()[0]  # numpy's scalar constructor

_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy < 2 wrote this path
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # numpy >= 2
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _latin1,
}


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds only numpy arrays, dtypes, numpy scalars and Python containers."""

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise RefusedGlobal(
                f"the pickle references {module}.{name}; only numpy arrays, dtypes, dicts and lists are admitted"
            )
        return found


def _tensors(obj: Any, file: Path) -> Any:
    """Arrays -> tensors throughout dicts and lists; object arrays are refused."""
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise WeightsError(f"{file}: holds an array of Python objects; a checkpoint holds numeric arrays only.")
        return torch.from_numpy(np.ascontiguousarray(obj).copy())
    if isinstance(obj, dict):
        return {k: _tensors(v, file) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_tensors(v, file) for v in obj]
    return obj


def read_array_pickle(path: str | os.PathLike, *, sha256: str | None = None) -> dict[str, Any]:
    """Read a pickle of numpy arrays (e.g. Detectron2's ``model_final_*.pkl``) with
    :class:`ArrayUnpickler`; arrays come back as CPU tensors. Anything else in the pickle raises
    :class:`WeightsError` naming the file and the refused global, before any of it runs."""
    file = Path(os.fspath(path)).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"No weights file at '{file}'; pass the path of the .pkl checkpoint.")
    if sha256 is not None and sha256_of(file) != sha256.lower():
        raise WeightsError(f"{file}: sha256 does not match {sha256}; the file is corrupt or not the one published.")
    try:
        obj = ArrayUnpickler(io.BytesIO(file.read_bytes()), encoding="latin1").load()
    except RefusedGlobal as err:
        raise WeightsError(f"{file}: refused: {err}.", fix="Pass the checkpoint file as its project published it.") from err
    except Exception as err:  # truncated or not a pickle at all
        raise WeightsError(
            f"{file}: not a readable pickle of arrays ({type(err).__name__}: {err}); it may be truncated or corrupt."
        ) from err
    if not isinstance(obj, dict):
        raise WeightsError(f"{file}: expected a dict of arrays (Detectron2's checkpoint layout), found {type(obj).__name__}.")
    return _tensors(obj, file)
