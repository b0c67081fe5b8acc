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
import warnings
from pathlib import Path

import torch
from torch import nn

from . import state_dicts
from .errors import WeightsError
from .files import atomic_write
from .hub import ensure_reachable
from .published import WeightsSpec
from .state_dicts import file_digest, sha256_of
from .version import __version__

__all__ = [
    "WeightsError", "WeightsSpec", "save", "load_weights_file", "load_state_dict_into", "read_state_dict",
    "download_weights", "sha256_of", "CONFIG_ATTR", "CONFIG_FILE", "WEIGHTS_FILE",
]  # fmt: skip

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
SAFETENSORS_FIX = (
    "To use a .pth file of a segzoo model, convert a PyTorch checkpoint with "
    "safetensors.torch.save_file(torch.load(p, weights_only=True), 'model.safetensors')."
)
SAFETENSORS_CLI_FIX = (
    "Pass a model.safetensors file or a folder written by segzoo.save / segzoo train (e.g. runs/x/best); "
    "convert a .pth state dict with python -c \"import torch, safetensors.torch as s; "
    "s.save_file(torch.load('in.pth', weights_only=True), 'model.safetensors')\"."
)
CONFIG_ATTR = "segzoo_config"  # the attribute segzoo.build sets: {"name": ..., "overrides": {...}}


def read_state_dict(path: str | os.PathLike, *, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Read a safetensors file (or the one in a ``segzoo.save`` folder) onto the CPU; any failure
    raises :class:`WeightsError` naming it."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    return state_dicts.read_state_dict(
        path, sha256=sha256,
        fix=SAFETENSORS_FIX, cli_fix=SAFETENSORS_CLI_FIX,
    )  # fmt: skip


def load_state_dict_into(
    model: nn.Module, state: dict[str, torch.Tensor], *, source: str, optional: tuple[str, ...] = ()
) -> None:
    """Load ``state`` into ``model``: classifier dropped on a class-count change, stem adapted to
    ``in_chans``, everything else strict (missing, unexpected and mis-shaped keys are named).

    Only a class-producing layer (a module named ``*classifier`` or listed in the model's
    ``head_names``) whose first dimension alone differs counts as a class-count change, and only
    the stem (the first convolution) is adapted to another input channel count; any other shape
    difference is a mis-shaped key. Nothing is loaded when one is found.
    """
    state_dicts.load_state(
        model, state, source=source, class_heads=tuple(getattr(model, "head_names", ("classifier",))),
        stem_key=state_dicts.AUTO_STEM, optional=optional,
        fix="Build the model with the same recipe and options as the weights (segzoo.load(dir) reads them "
        "from config.json).",
        cli_fix="Pass the --model and --set options the weights were trained with, or give --weights the "
        "segzoo.save folder (it records them in config.json).",
    )  # fmt: skip


def load_weights_file(
    model: nn.Module, path: str | os.PathLike, *, sha256: str | None = None, converter: str | None = None
) -> nn.Module:
    """Load a weights file into ``model``; returns the model.

    ``path``: segzoo's safetensors (or a ``segzoo.save`` folder), or a checkpoint another project
    published (e.g. torchvision's ``fcn_resnet50_coco-1167a1af.pth``, read with
    ``torch.load(weights_only=True)``), converted by ``converter`` (a :mod:`segzoo.convert`
    name; default: detected from the file's keys). Upstream keys the converter can't place raise
    :class:`WeightsError`, as do missing, unexpected and mis-shaped keys.
    """
    from . import convert

    path = Path(path)
    own_format = path.is_dir() or path.suffix == ".safetensors"
    if converter in (None, "segzoo") and own_format:
        state = read_state_dict(path, sha256=sha256)
    else:
        state = convert.read_upstream(path, sha256=sha256)
    if converter is None:
        converter = convert.detect_converter(state)
        if converter is None and not own_format:  # a pickle in segzoo's own layout: segzoo's weights are safetensors
            raise WeightsError(
                f"{path}: not a readable safetensors file, and no converter recognises its keys as a published "
                f"checkpoint ({', '.join(convert.CONVERTERS.names())}); segzoo's own weights are safetensors files.",
                fix=SAFETENSORS_FIX, cli_fix=SAFETENSORS_CLI_FIX,
            )  # fmt: skip
    optional: tuple[str, ...] = ()
    if converter not in (None, "segzoo"):
        try:
            converted = convert.convert_state(state, converter, model.state_dict())
        except (ValueError, KeyError) as err:  # a layout the converter can't map onto this model
            raise WeightsError(f"{path}: {err}") from err
        if converted.unused:
            shown = ", ".join(converted.unused[:10]) + (f" ... ({len(converted.unused) - 10} more)" if len(converted.unused) > 10 else "")
            raise WeightsError(
                f"{path}: converter {converter!r} found upstream keys with no place in {type(model).__name__}: {shown}.",
                fix="Pass the upstream checkpoint of the architecture this recipe converts (see docs/pretrained.md).",
            )
        state = converted.state
        optional = tuple(converted.initialised)
        if optional:
            roots = sorted({k.split(".")[0] for k in optional})
            warnings.warn(
                f"{path}: the {converter} checkpoint has no {', '.join(roots)}; those {len(optional)} tensors keep their "
                "initial values. Train them (e.g. fine-tune the model) before using its predictions.",
                stacklevel=2,
            )
    load_state_dict_into(model, state, source=str(path), optional=optional)
    config = getattr(model, CONFIG_ATTR, None)
    if isinstance(config, dict) and converter not in (None, "segzoo"):  # where the weights came from
        config["converted_from"] = {"file": path.name, "converter": converter}
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
        **{k: list(getattr(model, k)) for k in ("class_names", "category_ids") if getattr(model, k, None)},
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
        f"segzoo.build({name!r}, weights='/path/to/{filename}')."
    )
    cli_fix = f"Without network access, fetch the file elsewhere and pass it with --weights /path/to/{filename}."
    if not target.is_file():
        ensure_reachable(spec.url, what=f"the weights of {name!r}", option="weights", fix=local_fix, cli_fix=cli_fix)
        try:
            # Downloads to a temporary file and renames it, so a broken transfer leaves nothing behind.
            sha_prefix = spec.hash_prefix if spec.hash_algorithm == "sha256" else None  # torch.hub checks sha256 only
            torch.hub.download_url_to_file(spec.url, str(target), hash_prefix=sha_prefix, progress=True)
        except Exception as err:
            raise WeightsError(
                f"Could not download the weights of {name!r} from {spec.url} ({type(err).__name__}: {err}).",
                fix=local_fix,
                cli_fix=cli_fix,
            ) from err
    if spec.hash_prefix and not file_digest(target, spec.hash_algorithm).startswith(spec.hash_prefix.lower()):
        raise WeightsError(
            f"{target}: its {spec.hash_algorithm} does not start with {spec.hash_prefix}, the hash the upstream published for "
            f"{spec.url}. The file is corrupt or not the published one; delete it and build again to download it.",
        )
    return target
