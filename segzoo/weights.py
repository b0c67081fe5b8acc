"""Weights I/O: safetensors files, ``config.json``, sha256, head and ``in_chans`` adaptation.

``save(model, dir)`` writes ``model.safetensors`` and ``config.json`` (recipe name,
overrides, segzoo version, the weights' sha256), each to a temporary file renamed into place,
so an interrupted save never leaves a broken file. ``load(dir)`` rebuilds the model with
``build`` and loads the weights strictly. Loading into a model with another class count
drops the classifier (with a warning); a stem with another input channel count is adapted
(with a warning, as timm's ``adapt_input_conv``); everything else must match exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from timm.models import adapt_input_conv
from torch import nn

from .errors import WeightsError
from .files import atomic_write
from .hub import ensure_reachable
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


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: str | os.PathLike, *, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Read a safetensors file onto the CPU; any failure raises :class:`WeightsError` naming it."""
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No weights file at {str(path)!r}.")
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256.lower():
            raise WeightsError(
                f"{path}: sha256 is {actual}, expected {sha256}. The file is corrupt or not the one published; "
                "delete it and download it again."
            )
    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # safetensors raises its own error types and OSError
        raise WeightsError(
            f"{path}: not a readable safetensors file ({type(err).__name__}: {err}). It may be truncated or "
            "corrupt; segzoo reads only safetensors.",
            fix="To use a .pth file, convert a PyTorch checkpoint with "
            "safetensors.torch.save_file(torch.load(p, weights_only=True), 'model.safetensors').",
            cli_fix="Pass a model.safetensors file or a folder written by segzoo.save / segzoo train (e.g. runs/x/best); "
            "convert a .pth state dict with python -c \"import torch, safetensors.torch as s; "
            "s.save_file(torch.load('in.pth', weights_only=True), 'model.safetensors')\".",
        ) from err


def _is_head_key(key: str, head_names: tuple[str, ...]) -> bool:
    """Whether a parameter belongs to a class-producing layer (a module named ``*classifier``
    or listed in the model's ``head_names``)."""
    return any(part in head_names or part.endswith("classifier") for part in key.split(".")[:-1])


def _stem_key(own: dict[str, torch.Tensor], in_chans: int | None) -> str | None:
    """The weight of the convolution that reads the image: the model's first 4-D tensor (the
    backbone's stem in every recipe), if it takes ``in_chans`` channels."""
    for key, value in own.items():
        if value.ndim == 4:
            return key if in_chans is None or value.shape[1] == in_chans else None
    return None


def _list(keys: list[str], limit: int = 10) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_state_dict_into(model: nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Load ``state`` into ``model``: classifier dropped on a class-count change, stem adapted to
    ``in_chans``, everything else strict (missing, unexpected and mis-shaped keys are named).

    Only a class-producing layer whose first dimension alone differs counts as a class-count
    change, and only the stem (the first convolution) is adapted to another input channel
    count; any other shape difference is a mis-shaped key. Nothing is loaded when one is found.
    """
    head_names = tuple(getattr(model, "head_names", ("classifier",)))
    own = model.state_dict()
    stem = _stem_key(own, getattr(model, "in_chans", None))
    state = dict(state)
    dropped, adapted, misshaped = [], [], []
    for key, value in list(state.items()):
        if key not in own or own[key].shape == value.shape:
            continue
        target = own[key].shape
        if _is_head_key(key, head_names) and value.ndim == len(target) and value.shape[1:] == target[1:]:
            dropped.append(key)
            del state[key]
        elif key == stem and value.ndim == 4 and value.shape[0] == target[0] and value.shape[2:] == target[2:]:
            state[key] = adapt_input_conv(target[1], value, base_chans=value.shape[1])
            adapted.append(key)
        else:
            misshaped.append(f"{key} (file {tuple(value.shape)}, model {tuple(target)})")
    missing = [k for k in own if k not in state and k not in dropped]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected or misshaped:
        parts = []
        if missing:
            parts.append(f"missing keys: {_list(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_list(unexpected)}")
        if misshaped:
            parts.append(f"mis-shaped keys: {_list(misshaped)}")
        raise WeightsError(
            f"{source} does not match {type(model).__name__}: {'; '.join(parts)}.",
            fix="Build the model with the same recipe and options as the weights (segzoo.load(dir) reads them "
            "from config.json).",
            cli_fix="Pass the --model and --set options the weights were trained with, or give --weights the "
            "segzoo.save folder (it records them in config.json).",
        )
    if dropped:
        warnings.warn(
            f"{source}: the class count differs, so the classifier weights were not loaded and stay "
            f"randomly initialised: {_list(dropped)}. Fine-tune the model for the new classes.",
            stacklevel=3,
        )
    if adapted:
        warnings.warn(f"{source}: input-channel weights adapted to the model's in_chans: {_list(adapted)}.", stacklevel=3)
    model.load_state_dict(state, strict=False)


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
