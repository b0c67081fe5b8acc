"""The model factory: ``build``, ``list_models``, ``model_info`` and ``load``.

``build`` checks overrides against a recipe's signature (an unknown key raises ``TypeError``
naming the valid ones), calls it, optionally loads weights, and records the recipe name and
overrides on the model so ``segzoo.save``/``segzoo.load`` can rebuild it. Recipes register in
:mod:`segzoo.models.registry` (``register_model``); importing this module imports them all.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import models  # noqa: F401  (registers segzoo's recipes)
from .errors import WeightsLicenseWarning
from .models.registry import MODELS, TASKS, register_model
from .registry import Registry, RegistryEntry, check_overrides, signature_defaults
from .version import __version__
from .weights import (
    CONFIG_ATTR,
    CONFIG_FILE,
    WEIGHTS_FILE,
    WeightsError,
    WeightsSpec,
    download_weights,
    load_weights_file,
)

__all__ = [
    "MODELS", "WeightsSpec", "register_model", "build", "list_models", "model_info", "model_registry", "load", "TASKS",
]  # fmt: skip


def model_registry() -> Registry:
    """The recipe registry (segzoo's recipes are registered: importing this module imports them)."""
    return MODELS


def _split_tag(name: str) -> tuple[str, str | None]:
    if not isinstance(name, str):
        raise TypeError(f"Model name must be a string, got {type(name).__name__}.")
    arch, _, tag = name.partition(".")
    return arch, (tag or None)


def _weights_spec(entry: RegistryEntry, tag: str | None) -> tuple[str, WeightsSpec]:
    known: dict[str, WeightsSpec] = entry.meta["weights"]
    if not known:
        raise ValueError(
            f"Model {entry.name!r} has no published weights. Build it with pretrained=False, or pass a local "
            "file with weights='path/to/model.safetensors'."
        )
    tag = tag or next(iter(known))
    if tag not in known:
        raise ValueError(f"Model {entry.name!r} has no weights tagged {tag!r}; known tags: {sorted(known)}.")
    return tag, known[tag]


def build(
    name: str,
    *,
    num_classes: int | None = None,
    in_chans: int = 3,
    pretrained: bool = False,
    weights: str | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a registered recipe (``segzoo.list_models()``), optionally with a weights tag
            (``"arch.tag"``), which implies ``pretrained=True``.
        num_classes: classes to predict (default: the recipe's, or the weights' when pretrained).
        in_chans: input channels (the stem is adapted when it is not 3).
        pretrained: load the recipe's published weights (the tag's, or the first known).
        weights: a local weights file (``model.safetensors``, or a checkpoint a :mod:`segzoo.convert`
            converter reads) or a directory written by ``segzoo.save``. With a tag in ``name`` it is a
            local copy of that tag's file (its converter, options and class names apply). A different
            class count drops the classifier with a warning.
        **overrides: any other argument of the recipe (see ``segzoo.model_info(name)``).
    """
    arch, tag = _split_tag(name)
    entry = model_registry().get(arch)
    check_overrides(f"Model {arch!r}", entry.fn, {"num_classes": num_classes, "in_chans": in_chans, **overrides})
    if weights is not None and pretrained and not tag:
        raise ValueError(
            "Pass either weights=<local file> or pretrained=True, not both; for a local copy of published weights "
            "name their tag: build('recipe.tag', weights=path)."
        )
    spec = None
    if pretrained or tag:
        tag, spec = _weights_spec(entry, tag)
        if num_classes is None:
            num_classes = spec.num_classes
        overrides = {**spec.overrides, **overrides}  # recipe options the weights need (the caller's win)
    recorded = dict(overrides)
    if num_classes is not None:
        recorded["num_classes"] = num_classes
    if in_chans != 3:
        recorded["in_chans"] = in_chans
    kwargs = dict(recorded)
    kwargs.setdefault("in_chans", in_chans)
    model = entry.fn(**kwargs)
    setattr(model, CONFIG_ATTR, {"name": arch, "overrides": recorded})
    if spec is not None:  # the tag's file: downloaded (hash checked), or a local copy given as weights=
        path = download_weights(spec, name=f"{arch}.{tag}") if weights is None else weights
        load_weights_file(model, path, sha256=spec.sha256 if weights is None else None, converter=spec.converter)
        if spec.notice:
            warnings.warn(f"{arch}.{tag}: {spec.notice}", WeightsLicenseWarning, stacklevel=2)
        if model.num_classes == spec.num_classes:  # the weights' classes (unless fine-tuning for others)
            model.class_names, model.category_ids = tuple(spec.class_names), tuple(spec.category_ids)
    elif weights is not None:
        load_weights_file(model, weights)
    return model


def list_models(pattern: str = "*", *, task: str | None = None, pretrained: bool = False) -> list[str]:
    """Sorted names of the registered recipes matching an ``fnmatch`` pattern and task; with
    ``pretrained=True`` the tags with published weights instead (``"fcn_r50.tv_coco"``, timm style).
    Every name is one ``build`` accepts; the backbones with ImageNet weights (``pretrained_backbone=True``)
    are listed by ``segzoo.backbones.list_backbones(pretrained=True)`` (``segzoo list --backbones --pretrained``)."""
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS} or None, got {task!r}.")
    names = model_registry().names(pattern, task=task)
    if not pretrained:
        return names
    return [f"{n}.{t}" for n in names for t in sorted(model_registry().get(n).meta["weights"])]


def model_info(name: str) -> dict[str, Any]:
    """A recipe's defaults, task, paper, description and published weights."""
    arch, _ = _split_tag(name)
    entry = model_registry().get(arch)
    return {
        "name": arch,
        "task": entry.meta["task"],
        "paper": entry.meta["paper"],
        "description": entry.meta["description"],
        "defaults": signature_defaults(entry.fn),
        "weights": {tag: asdict(spec) for tag, spec in entry.meta["weights"].items()},
    }


def load(directory: str | os.PathLike, *, verify: bool = True, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model saved by :func:`segzoo.save` and load its weights.

    Args:
        directory: the folder with ``config.json`` and ``model.safetensors``.
        verify: check the weights' sha256 against the one recorded in ``config.json``.
        map_location: device to move the model to.
    """
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(
            f"No {CONFIG_FILE} in {str(directory)!r}: segzoo.load needs a folder written by segzoo.save. "
            "To load a bare weights file use segzoo.build(name, weights=path)."
        )
    try:
        config: dict[str, Any] = json.loads(config_path.read_text())
        name, overrides = config["name"], config["overrides"]
    except (ValueError, KeyError, TypeError) as err:
        raise WeightsError(f"{config_path}: not a segzoo config ({type(err).__name__}: {err}).") from err
    sha256 = config.get("sha256")
    if not isinstance(name, str) or not isinstance(overrides, dict) or not isinstance(sha256, (str, type(None))):
        raise WeightsError(
            f"{config_path}: not a segzoo config: expected 'name' a string, 'overrides' an object and 'sha256' "
            f"a hex string, got {type(name).__name__}, {type(overrides).__name__} and {type(sha256).__name__}. "
            "Save the model again with segzoo.save."
        )
    try:
        model = build(name, **overrides)
    except (ValueError, TypeError, KeyError) as err:  # unknown recipe or option, invalid value
        raise WeightsError(
            f"{config_path}: can't rebuild the model it describes ({err}). It was written by segzoo "
            f"{config.get('segzoo_version', '(unknown version)')}; this is segzoo {__version__}."
        ) from err
    load_weights_file(model, directory / WEIGHTS_FILE, sha256=sha256 if verify else None)
    for key in ("class_names", "category_ids"):
        if isinstance(config.get(key), list):
            setattr(model, key, tuple(config[key]))
    return model.to(map_location)
