"""Weights I/O: safetensors files, ``config.json``, sha256, head and ``in_chans`` adaptation.

``save(model, dir)`` writes ``model.safetensors`` and ``config.json`` (recipe name,
overrides, segzoo version, the weights' sha256), each to a temporary file renamed into place,
so an interrupted save never leaves a broken file. ``load(dir)`` rebuilds the model with
``build`` and loads the weights strictly. Loading into a model with another class count
drops the classifier (with a warning); a stem with another input channel count is adapted
(with a warning, as timm's ``adapt_input_conv``); everything else must match exactly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import state_dicts
from .errors import WeightsError
from .files import atomic_write
from .hub import ensure_reachable
from .state_dicts import sha256_of
from .version import __version__

__all__ = [
    "WeightsError", "WeightsSpec", "save", "load_weights_file", "load_state_dict_into", "read_state_dict",
    "download_weights", "sha256_of", "CONFIG_ATTR", "CONFIG_FILE", "WEIGHTS_FILE",
]  # fmt: skip

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CONFIG_ATTR = "segzoo_config"  # the attribute segzoo.build sets: {"name": ..., "overrides": {...}}


@dataclass(frozen=True)
class WeightsSpec:
    """A published weights file of a recipe, selected by its tag (``name.tag``)."""

    url: str
    num_classes: int
    sha256: str | None = None
    dataset: str = ""
    description: str = ""


def read_state_dict(path: str | os.PathLike, *, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Read a safetensors file (or the one in a ``segzoo.save`` folder) onto the CPU; any failure
    raises :class:`WeightsError` naming it."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    return state_dicts.read_state_dict(
        path, sha256=sha256,
        fix="To use a .pth file, convert a PyTorch checkpoint with "
        "safetensors.torch.save_file(torch.load(p, weights_only=True), 'model.safetensors').",
        cli_fix="Pass a model.safetensors file or a folder written by segzoo.save / segzoo train (e.g. runs/x/best); "
        "convert a .pth state dict with python -c \"import torch, safetensors.torch as s; "
        "s.save_file(torch.load('in.pth', weights_only=True), 'model.safetensors')\".",
    )  # fmt: skip


def load_state_dict_into(model: nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Load ``state`` into ``model``: classifier dropped on a class-count change, stem adapted to
    ``in_chans``, everything else strict (missing, unexpected and mis-shaped keys are named).

    Only a class-producing layer (a module named ``*classifier`` or listed in the model's
    ``head_names``) whose first dimension alone differs counts as a class-count change, and only
    the stem (the first convolution) is adapted to another input channel count; any other shape
    difference is a mis-shaped key. Nothing is loaded when one is found.
    """
    state_dicts.load_state(
        model, state, source=source, class_heads=tuple(getattr(model, "head_names", ("classifier",))),
        stem_key=state_dicts.AUTO_STEM,
        fix="Build the model with the same recipe and options as the weights (segzoo.load(dir) reads them "
        "from config.json).",
        cli_fix="Pass the --model and --set options the weights were trained with, or give --weights the "
        "segzoo.save folder (it records them in config.json).",
    )  # fmt: skip


def load_weights_file(model: nn.Module, path: str | os.PathLike, *, sha256: str | None = None) -> nn.Module:
    """Load a safetensors file (or a ``segzoo.save`` directory) into ``model``; returns the model."""
    state = read_state_dict(path, sha256=sha256)
    load_state_dict_into(model, state, source=str(path))
    return model


def save(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write ``model.safetensors`` and ``config.json`` for a model made by ``segzoo.build``.

    Returns the directory. Files are written to temporary names and renamed, so an
    interrupted save leaves any previous files intact.
    """
    config = getattr(model, CONFIG_ATTR, None)
    if config is None:
        raise ValueError(
            f"{type(model).__name__} was not built by segzoo.build, so there is no recipe to record; save its "
            "weights with safetensors.torch.save_file(model.state_dict(), path) instead."
        )
    try:
        json.dumps(config["overrides"])
    except TypeError as err:
        raise ValueError(
            f"The model's overrides can't be written to config.json ({err}); modules or other objects passed "
            "to build() can't be recorded. Register a recipe that creates them instead."
        ) from err
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Copies, so tensors that share memory (tied weights, views) are saved independently.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    weights_path = directory / WEIGHTS_FILE
    atomic_write(weights_path, lambda tmp: save_file(state, tmp, metadata={"format": "pt", "segzoo": __version__}))
    payload = {
        "name": config["name"],
        "overrides": config["overrides"],
        "segzoo_version": __version__,
        "sha256": sha256_of(weights_path),
    }
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    atomic_write(directory / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
    return directory


def download_weights(spec: WeightsSpec, *, name: str) -> Path:
    """The local path of a published weights file, downloaded once into torch's hub cache."""
    from urllib.parse import urlparse

    cache = Path(torch.hub.get_dir()) / "segzoo"
    cache.mkdir(parents=True, exist_ok=True)
    filename = os.path.basename(urlparse(spec.url).path) or f"{name}.safetensors"
    target = cache / filename
    local_fix = (
        f"Without network access, fetch the file elsewhere and pass it with "
        f"segzoo.build({name.split('.')[0]!r}, weights='/path/to/{filename}')."
    )
    cli_fix = f"Without network access, fetch the file elsewhere and pass it with --weights /path/to/{filename}."
    if not target.is_file():
        ensure_reachable(spec.url, what=f"the weights of {name!r}", option="weights", fix=local_fix, cli_fix=cli_fix)
        try:
            # Downloads to a temporary file and renames it, so a broken transfer leaves nothing behind.
            torch.hub.download_url_to_file(spec.url, str(target), hash_prefix=None, progress=True)
        except Exception as err:
            raise WeightsError(
                f"Could not download the weights of {name!r} from {spec.url} ({type(err).__name__}: {err}).",
                fix=local_fix,
                cli_fix=cli_fix,
            ) from err
    return target
