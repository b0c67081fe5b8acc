"""The recipe registry, ``register_model`` and ``register_variant``: recipes register here when
their module is imported.

A registered recipe is a callable with keyword-only arguments, each with a default; its
signature is the model's configuration (``segzoo.model_info``). A recipe written with its
family's options object (:mod:`segzoo.models.options`) as first argument is registered with
the flat signature options + own keywords; a variant is another recipe's callable with other
defaults (``ocrnet_hrnet_w48`` = ``ocrnet_hrnet_w18`` with ``backbone="hrnet_w48"``).
:mod:`segzoo.factory` builds registered recipes by name.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable, Mapping

from torch import nn

from ..catalog import first_sentence
from ..published import WeightsSpec, published_tags
from ..registry import Registry
from .options import ModelOptions

__all__ = ["MODELS", "TASKS", "register_model", "register_variant", "check_recipe_signature"]

MODELS = Registry("model", list_hint="segzoo.list_models()")
TASKS = ("semantic", "panoptic")


def with_options(fn: Callable[..., nn.Module], options: ModelOptions) -> Callable[..., nn.Module]:
    """The user-facing recipe of ``fn(options, **own)``: keyword-only options fields (defaults from
    ``options``) then ``fn``'s own keywords; the options are collected into a copy of ``options``."""
    if not isinstance(options, ModelOptions):
        raise TypeError(f"options must be a ModelOptions instance (segzoo.models.options), got {type(options).__name__}.")
    params = list(inspect.signature(fn).parameters.values())
    if not params or params[0].kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
        raise TypeError(f"Recipe {fn.__name__!r} with options= takes the options object as its first argument: "
                        f"def {fn.__name__}(o: {type(options).__name__}, *, ...).")  # fmt: skip
    own = params[1:]
    fields = dataclasses.fields(options)
    names = {f.name for f in fields}
    clash = sorted(names & {p.name for p in own})
    if clash:
        raise TypeError(f"Recipe {fn.__name__!r} re-declares the shared option(s) {clash}; set their defaults with "
                        f"options={type(options).__name__}(...) instead.")  # fmt: skip
    shared = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=getattr(options, f.name), annotation=f.type)
        for f in fields
    ]

    @functools.wraps(fn)
    def recipe(**kwargs: Any) -> nn.Module:
        chosen = options.replace(**{k: kwargs.pop(k) for k in list(kwargs) if k in names})
        return fn(chosen, **kwargs)

    recipe.__signature__ = inspect.Signature(shared + own, return_annotation=inspect.signature(fn).return_annotation)
    return recipe


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
    options: ModelOptions | None = None,
):
    """Register a model recipe; use as ``@register_model`` or ``@register_model(task=..., paper=...)``.

    Args:
        name: registry name (default: the function's name).
        task: ``"semantic"`` (multi-scale models included) or ``"panoptic"``.
        paper: the paper the recipe reproduces (title, arXiv id).
        description: one line for listings and the docs table (default: the docstring's first sentence).
        weights: published weights by tag, loaded by ``build("name.tag")`` (added to those
            :mod:`segzoo.published` lists for the recipe).
        options: the shared options with this recipe's defaults (e.g. ``ModelOptions(backbone="resnet50")``);
            the recipe then takes the options object first and only its own options as keywords.

    The decorator returns the function as written (recipes compose by calling each other with
    an options object); the registry holds the flat-signature callable.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}.")

    def decorator(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        registered = with_options(f, options) if options is not None else f
        check_recipe_signature(registered)
        MODELS.add(
            name or f.__name__,
            registered,
            task=task,
            paper=paper,
            description=description or first_sentence(inspect.getdoc(f) or ""),
            weights={**published_tags(name or f.__name__), **dict(weights or {})},
        )
        return f

    return decorator(fn) if fn is not None else decorator


def register_variant(base: str, name: str, *, description: str, paper: str | None = None, **defaults: Any) -> None:
    """Register ``name`` as recipe ``base`` with other defaults (its keywords are ``base``'s).

    >>> register_variant("ocrnet_hrnet_w18", "ocrnet_hrnet_w48", backbone="hrnet_w48",
    ...                  description="OCRNet on HRNet-W48.")
    """
    entry = MODELS.get(base)
    signature = inspect.signature(entry.fn)
    unknown = sorted(set(defaults) - set(signature.parameters))
    if unknown:
        raise TypeError(f"Variant {name!r}: recipe {base!r} has no option(s) {unknown}.")
    params = [p.replace(default=defaults[p.name]) if p.name in defaults else p for p in signature.parameters.values()]

    @functools.wraps(entry.fn)
    def variant(**kwargs: Any) -> nn.Module:
        return entry.fn(**{**defaults, **kwargs})

    variant.__signature__ = signature.replace(parameters=params)
    variant.__name__ = variant.__qualname__ = name
    variant.__doc__ = description
    check_recipe_signature(variant)
    MODELS.add(
        name, variant, task=entry.meta["task"], paper=paper if paper is not None else entry.meta["paper"],
        description=description, weights=published_tags(name),
    )  # fmt: skip
