"""Model and device set-up shared by eval, predict, export and pseudo-label (imports torch when called)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from ..catalog import find_recipe
from .errors import CLIError
from .options import key_values

__all__ = ["add_model_arguments", "resolve_device", "load_model", "task_of", "check_model_name"]

log = logging.getLogger("segzoo")


def add_model_arguments(p: argparse.ArgumentParser, *, weights_help: str) -> None:
    """``--model``, ``--weights``, ``--set`` and ``--device``."""
    p.add_argument("--model", help="registered recipe, optionally with a weights tag NAME.TAG (segzoo list); "
                   "optional with --weights DIR")  # fmt: skip
    p.add_argument("--weights", help=weights_help)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option override (repeatable); "
                   "--set pretrained=true loads the recipe's published weights")  # fmt: skip
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda when available)")


def check_model_name(name: str) -> str:
    """The recipe name of ``name`` (``NAME`` or ``NAME.TAG``); unknown names suggest ``segzoo list``."""
    try:
        return find_recipe(name).name
    except KeyError as err:
        raise CLIError(str(err)) from None


def resolve_device(name: str):
    """``auto``/``cpu``/``cuda``/``cuda:N`` -> a ``torch.device`` that exists on this machine."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise CLIError(f"--device {name!r} is not a device; use cpu, cuda, cuda:N or auto.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise CLIError(f"--device {name}: CUDA is not available on this machine ({why}); use --device cpu or auto.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise CLIError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                           f"use cuda:0..cuda:{torch.cuda.device_count() - 1}.")  # fmt: skip
    elif device.type != "cpu":
        raise CLIError(f"--device {name!r}: segzoo runs on cpu or cuda; use --device cpu, cuda, cuda:N or auto.")
    return device


def _saved_config(weights: Path) -> dict[str, Any] | None:
    """The ``config.json`` of a ``segzoo.save`` folder; ``None`` for a file; a folder without one is an error."""
    path = weights / "config.json"
    if not weights.is_dir():
        return None
    if not path.is_file():
        raise CLIError(f"{weights} has no config.json: pass the folder written by segzoo.save / segzoo train, "
                       "or the model.safetensors file with --model.")  # fmt: skip
    try:
        config = json.loads(path.read_text())
        config["name"]
    except (ValueError, KeyError, TypeError):
        raise CLIError(f"{path} is not a segzoo config (written by segzoo.save / segzoo train); "
                       "pass the folder of a saved model or a model.safetensors file with --model.") from None  # fmt: skip
    return config


def task_of(args: argparse.Namespace) -> str:
    """The task of the model the options name (read from source or config.json: no model is built)."""
    weights = Path(args.weights) if args.weights else None
    if weights is not None and not weights.exists():
        raise CLIError(f"weights {str(weights)!r} not found; pass a segzoo.save folder or a model.safetensors file.")
    config = _saved_config(weights) if weights is not None else None
    if config is not None:
        return find_recipe(config["name"]).task
    if not args.model:
        raise CLIError("pass --model NAME (or --weights DIR written by segzoo.save / segzoo train).")
    check_model_name(args.model)
    return find_recipe(args.model).task


def load_model(args: argparse.Namespace, dataset: Any = None):
    """``--weights DIR`` (segzoo.save folder) alone, or ``--model NAME[.TAG]`` [+ ``--weights FILE``] [+ ``--set``]."""
    from ..engine.datasets import model_for_dataset
    from ..factory import load

    overrides = key_values(args.set, "--set")
    pretrained = overrides.pop("pretrained", False)
    if not isinstance(pretrained, bool):
        raise CLIError(f"--set pretrained takes true or false, got {pretrained!r}.")
    weights = Path(args.weights) if args.weights else None
    if weights is not None and not weights.exists():
        raise CLIError(f"weights {str(weights)!r} not found; pass a segzoo.save folder or a model.safetensors file.")
    config = _saved_config(weights) if weights is not None else None
    if config is not None and not overrides and not pretrained:
        if args.model and config["name"] != args.model.partition(".")[0]:
            raise CLIError(f"{weights} holds a {config['name']!r} model, not {args.model!r}; drop --model or pass "
                           "matching weights.")  # fmt: skip
        return load(weights)
    if not args.model:
        raise CLIError("pass --model NAME (or --weights DIR written by segzoo.save / segzoo train).")
    record = find_recipe(check_model_name(args.model))
    tag = args.model.partition(".")[2]
    if (tag or pretrained) and weights is not None:
        raise CLIError("pass either --weights PATH or published weights (--model NAME.TAG / --set pretrained=true), not both.")
    if tag or pretrained:
        if not record.weights:
            raise CLIError(f"{record.name!r} has no published weights yet; pass trained weights with --weights PATH "
                           "(a segzoo.save folder or a model.safetensors file).")  # fmt: skip
        if tag and tag not in record.weights:
            raise CLIError(f"{record.name!r} has no weights tagged {tag!r}; known tags: {', '.join(record.weights)}.")
    elif weights is None:
        log.warning("No --weights given: %s is randomly initialised.", args.model)
    name = f"{record.name}.{tag or record.weights[0]}" if (tag or pretrained) else record.name
    source = str(weights) if weights is not None else None
    return model_for_dataset(name, overrides, dataset, weights=source)
