"""The converter registry and the conversion entry points (see :mod:`segzoo.convert`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import torch

from ..errors import WeightsError
from ..registry import Registry
from ..state_dicts import read_state_dict

__all__ = ["CONVERTERS", "Converted", "register_converter", "convert_state", "detect_converter", "read_upstream"]

CONVERTERS = Registry("converter", list_hint="segzoo.convert.CONVERTERS.names()")


@dataclass
class Converted:
    """A converter's result: the segzoo state dict, the upstream keys it left out, and what it changed."""

    state: dict[str, torch.Tensor]
    unused: list[str] = field(default_factory=list)  # upstream keys with no segzoo counterpart (not loaded)
    notes: list[str] = field(default_factory=list)  # folds and reshapes, one line each
    initialised: list[str] = field(default_factory=list)  # segzoo keys the upstream has no part for (left as built)


Converter = Callable[[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]], Converted]


def register_converter(name: str, *, detect: Callable[[Mapping[str, torch.Tensor]], bool], source: str):
    """Register ``fn(state, target) -> Converted`` under ``name`` (``target``: the segzoo model's own
    state dict, for shapes and the parts the upstream lacks); ``detect(state)`` says whether a state
    dict has this converter's upstream layout (used when a local file's converter is not named)."""

    def decorator(fn: Converter) -> Converter:
        CONVERTERS.add(name, fn, detect=detect, source=source)
        return fn

    return decorator


def detect_converter(state: Mapping[str, torch.Tensor]) -> str | None:
    """The name of the converter whose upstream layout ``state`` has, or None (segzoo's own layout)."""
    found = [name for name in CONVERTERS.names() if CONVERTERS.get(name).meta["detect"](state)]
    return found[0] if found else None


def convert_state(state: Mapping[str, torch.Tensor], converter: str, target: Mapping[str, torch.Tensor]) -> Converted:
    """Convert an upstream state dict with the named converter for a model whose state dict is ``target``."""
    return CONVERTERS.get(converter).fn(state, target)


def read_upstream(path: str | os.PathLike, *, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Read an upstream checkpoint: safetensors, or a PyTorch file with ``torch.load(weights_only=True)``
    (no code runs while reading); errors name the file."""
    return read_state_dict(
        Path(path), sha256=sha256, allow_pth=True, error=WeightsError,
        fix="Pass the checkpoint file as its project published it (a .pth state dict or .safetensors).",
    )  # fmt: skip
