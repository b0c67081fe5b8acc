"""segzoo: a PyTorch model zoo for semantic and panoptic segmentation.

>>> import segzoo
>>> model = segzoo.build("deeplabv3_r50", num_classes=19)
>>> segzoo.list_models("deeplab*")
>>> fast = segzoo.optimize(model)                      # inference fast path (segzoo.bench)
>>> segzoo.export(model, "model.onnx", format="onnx")  # ONNX / TorchScript / torch.export
>>> segzoo.train_recipe("deeplabv3_r50", "voc")         # the paper's training recipe, with sources

The public names are imported on first use (PEP 562 ``__getattr__``): ``import segzoo`` does
not import torch, so the ``segzoo`` command starts at once (``segzoo --help``, ``segzoo list``)
and pays for torch only in the commands that run a model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:  # what the lazy names resolve to, for type checkers and IDEs
    from . import export
    from .bench.optimize import optimize
    from .factory import build, list_models, load, model_info, register_model
    from .train_recipes import train_recipe
    from .weights import WeightsError, save

# public name -> module that defines it (a module name alone: the name is that submodule)
_LAZY = {
    "build": ".factory",
    "list_models": ".factory",
    "model_info": ".factory",
    "register_model": ".factory",
    "save": ".weights",
    "load": ".factory",
    "WeightsError": ".weights",
    "optimize": ".bench.optimize",
    "train_recipe": ".train_recipes",
    "export": None,  # the callable package segzoo.export
}

__all__ = [
    "__version__", "build", "list_models", "model_info", "register_model", "save", "load", "WeightsError", "export",
    "optimize", "train_recipe",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = _LAZY[name]
        value = importlib.import_module(f".{name}" if module is None else module, __name__)
        if module is not None:
            value = getattr(value, name)
        globals()[name] = value  # later look-ups skip this function
        return value
    try:  # submodules (segzoo.models, segzoo.data, ...) by attribute, as after an eager import
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
