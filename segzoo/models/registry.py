"""The recipe registry and ``register_model``: recipes register here when their module is imported.

A recipe is a function with keyword-only arguments, each with a default; its signature is
the model's configuration. :mod:`segzoo.factory` builds registered recipes by name.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from torch import nn

from ..catalog import first_sentence
from ..registry import Registry
from ..weights import WeightsSpec

__all__ = ["MODELS", "TASKS", "register_model", "check_recipe_signature"]

MODELS = Registry("model", list_hint="segzoo.list_models()")
TASKS = ("semantic", "panoptic")
def check_recipe_signature(fn: Callable[..., Any]) -> None:
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
        check_recipe_signature(f)
        MODELS.add(
            name or f.__name__,
            f,
            task=task,
            paper=paper,
            description=description or first_sentence(inspect.getdoc(f) or ""),
            weights=dict(weights or {}),
        )
        return f

    return decorator(fn) if fn is not None else decorator
