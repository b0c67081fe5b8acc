"""The model factory: ``register_model``, ``build``, ``list_models``, ``model_info``.

A recipe is a function with keyword-only arguments, each with a default; its signature is
the model's configuration. ``build`` checks overrides against it (an unknown key raises
``TypeError`` naming the valid ones), calls it, optionally loads weights, and records the
recipe name and overrides on the model so ``segzoo.save``/``segzoo.load`` can rebuild it.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

from torch import nn

from .catalog import first_sentence
from .registry import Registry, RegistryEntry, check_overrides, signature_defaults

__all__ = ["MODELS", "WeightsSpec", "register_model", "build", "list_models", "model_info", "model_registry", "TASKS"]

MODELS = Registry("model", list_hint="segzoo.list_models()")
TASKS = ("semantic", "panoptic")
CONFIG_ATTR = "segzoo_config"  # the attribute build() sets: {"name": ..., "overrides": {...}}


@dataclass(frozen=True)
class WeightsSpec:
    """A published weights file of a recipe, selected by its tag (``name.tag``)."""

    url: str
    num_classes: int
    sha256: str | None = None
    dataset: str = ""
    description: str = ""


def _check_recipe_signature(fn: Callable[..., Any]) -> None:
    params = inspect.signature(fn).parameters.values()
    for p in params:
        if p.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
            raise TypeError(
                f"Recipe {fn.__name__!r} takes *{p.name}: recipes must list every option as a keyword-only "
                "argument with a default (unknown options must fail, not be swallowed)."
            )
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty:
            raise TypeError(
                f"Recipe {fn.__name__!r}: argument {p.name!r} must be keyword-only with a default "
                "(write `def recipe(*, num_classes=..., in_chans=3, ...)`)."
            )
    names = {p.name for p in params}
    missing = {"num_classes", "in_chans"} - names
    if missing:
        raise TypeError(f"Recipe {fn.__name__!r} must take {sorted(missing)} (keyword-only, with defaults).")


def register_model(
    fn: Callable[..., nn.Module] | None = None,
    *,
    name: str | None = None,
    task: str = "semantic",
    paper: str = "",
    description: str = "",
    weights: Mapping[str, WeightsSpec] | None = None,
):
    """Register a model recipe; use as ``@register_model`` or ``@register_model(task=..., paper=...)``.

    Args:
        name: registry name (default: the function's name).
        task: ``"semantic"`` (multi-scale models included) or ``"panoptic"``.
        paper: the paper the recipe reproduces (title, arXiv id).
        description: one line for listings and the docs table.
        weights: published weights by tag, loaded by ``build("name.tag")``.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")

    def decorator(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _check_recipe_signature(f)
        registry = model_registry()  # segzoo's own recipes first, so a clashing name is refused
        registry.add(
            name or f.__name__,
            f,
            task=task,
            paper=paper,
            description=description or first_sentence(inspect.getdoc(f) or ""),
            weights=dict(weights or {}),
        )
        return f

    return decorator(fn) if fn is not None else decorator


def model_registry() -> Registry:
    """The recipe registry with segzoo's own recipes registered (importing them on first use).

    ``import segzoo`` is lazy (no torch until a model is needed), so the recipes register when
    this is first called, not at import; user recipes register whenever their module runs.
    """
    from . import models  # noqa: F401  (registers the recipes; models imports this module)

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
        weights: a local weights file (``model.safetensors``) or a directory written by
            ``segzoo.save``. A different class count drops the classifier with a warning.
        **overrides: any other argument of the recipe (see ``segzoo.model_info(name)``).
    """
    from .weights import download_weights, load_weights_file  # weights imports this module

    arch, tag = _split_tag(name)
    entry = model_registry().get(arch)
    check_overrides(f"Model {arch!r}", entry.fn, {"num_classes": num_classes, "in_chans": in_chans, **overrides})
    if weights is not None and (pretrained or tag):
        raise ValueError("Pass either weights=<local file> or pretrained=True / a weights tag, not both.")
    spec = None
    if pretrained or tag:
        tag, spec = _weights_spec(entry, tag)
        if num_classes is None:
            num_classes = spec.num_classes
    recorded = dict(overrides)
    if num_classes is not None:
        recorded["num_classes"] = num_classes
    if in_chans != 3:
        recorded["in_chans"] = in_chans
    kwargs = dict(recorded)
    kwargs.setdefault("in_chans", in_chans)
    model = entry.fn(**kwargs)
    setattr(model, CONFIG_ATTR, {"name": arch, "overrides": recorded})
    if spec is not None:
        load_weights_file(model, download_weights(spec, name=f"{arch}.{tag}"), sha256=spec.sha256)
    elif weights is not None:
        load_weights_file(model, weights)
    return model


def list_models(pattern: str = "*", *, task: str | None = None) -> list[str]:
    """Sorted names of the registered recipes matching an ``fnmatch`` pattern and task."""
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS} or None, got {task!r}.")
    return model_registry().names(pattern, task=task)


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
