"""The converter registry and the conversion entry points (see :mod:`segzoo.convert`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import torch

from ..errors import WeightsError
from ..registry import Registry
from ..state_dicts import as_state_dict, read_state_dict
from .array_pickle import read_array_pickle

__all__ = ["CONVERTERS", "Converted", "parts_left_as_built", "rename_keys", "fold_batchnorm", "randomise_norm_statistics", "register_converter", "convert_state", "detect_converter", "read_upstream"]

CONVERTERS = Registry("converter", list_hint="segzoo.convert.CONVERTERS.names()")


@dataclass
class Converted:
    """A converter's result: the segzoo state dict, the upstream keys it left out, and what it changed."""

    state: dict[str, torch.Tensor]
    unused: list[str] = field(default_factory=list)  # upstream keys with no segzoo counterpart (not loaded)
    notes: list[str] = field(default_factory=list)  # folds and reshapes, one line each
    initialised: list[str] = field(default_factory=list)  # segzoo keys the upstream has no part for (left as built)


def parts_left_as_built(target: Mapping[str, torch.Tensor], converted: Mapping[str, torch.Tensor]) -> list[str]:
    """The target keys of the model's top-level parts (``semantic_head``, ``ranking``, ...) that the
    upstream has nothing of: those stay as built. A part the upstream has only some keys of is not
    listed, so loading reports its missing keys."""
    filled = {k.split(".")[0] for k in converted}
    return [k for k in target if k not in converted and k.split(".")[0] not in filled]


def rename_keys(
    state: Mapping[str, torch.Tensor], rename: Callable[[str], str | None]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``(renamed state, upstream keys with no place)``: ``rename(key)`` gives the segzoo key or None."""
    out: dict[str, torch.Tensor] = {}
    unused: list[str] = []
    for key, value in state.items():
        new = rename(key)
        if new is None:
            unused.append(key)
        else:
            out[new] = value
    return out, unused


def fold_batchnorm(
    weight: torch.Tensor, bn: Mapping[str, torch.Tensor], *, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor]:
    """A bias-free conv followed by a BatchNorm (``weight``, ``bias``, ``running_mean``, ``running_var``) as one
    conv's ``(weight, bias)``: ``w' = w g / sqrt(v + eps)``, ``b' = beta - m g / sqrt(v + eps)`` (exact in eval)."""
    scale = bn["weight"] / torch.sqrt(bn["running_var"] + eps)
    return weight * scale.reshape(-1, *([1] * (weight.ndim - 1))), bn["bias"] - bn["running_mean"] * scale


def randomise_norm_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial statistics and affine parameters for every BatchNorm2d and FrozenBatchNorm2d of ``model``
    (in place), so that parity checks on random weights also test folds and renames of the norms."""
    from torchvision.ops import FrozenBatchNorm2d

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, FrozenBatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model


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
    """Read an upstream checkpoint: safetensors, a PyTorch file with ``torch.load(weights_only=True)`` or
    a pickle of numpy arrays (``.pkl``, Detectron2) with an allow-list unpickler (no code runs while
    reading); errors name the file."""
    if Path(path).suffix == ".pkl":
        return as_state_dict(read_array_pickle(path, sha256=sha256), Path(path))
    return read_state_dict(
        Path(path), sha256=sha256, allow_pth=True, error=WeightsError,
        fix="Pass the checkpoint file as its project published it (a .pth state dict, a Detectron2 .pkl or .safetensors).",
    )  # fmt: skip
