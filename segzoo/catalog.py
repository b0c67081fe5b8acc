"""The recipe catalogue read from source: names, tasks, papers, defaults, without importing torch.

``segzoo list`` and ``segzoo info`` must answer at once, and importing torch alone takes
seconds. The recipes are plain functions decorated with ``@register_model(...)`` whose
keyword defaults are their configuration, so their source says everything a listing needs:
this module parses the recipe modules with :mod:`ast` (nothing is executed) and returns the
same records as :func:`segzoo.model_info`. ``tests/test_catalog.py`` checks that the two
agree for every recipe, so the catalogue can't drift from the registry.

Only segzoo's own recipe modules are read; recipes a user registers at run time are in
:func:`segzoo.list_models`, not here.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["RecipeRecord", "SourceText", "catalog", "find_recipe", "list_recipes", "first_sentence", "UnknownRecipeError"]

MODELS_DIR = Path(__file__).resolve().parent / "models"
_DECORATOR = "register_model"


class UnknownRecipeError(KeyError):
    """An unknown recipe name; the message lists close matches."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SourceText(str):
    """A default that is not a literal, kept as its source text (e.g. ``COCO_THINGS``)."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class RecipeRecord:
    """What the catalogue knows of one recipe (the fields of :func:`segzoo.model_info`).

    ``defaults`` holds each keyword's default as a Python value when it is a literal, else
    the default's source text (e.g. ``"None"`` is a value, ``"IMAGENET_MEAN"`` stays text).
    """

    name: str
    task: str
    paper: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    weights: tuple[str, ...] = ()
    module: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "task": self.task, "paper": self.paper, "description": self.description,
            "defaults": dict(self.defaults), "weights": list(self.weights), "module": self.module,
        }  # fmt: skip


def first_sentence(text: str) -> str:
    """The first sentence of a docstring, on one line (whole, never cut mid-sentence)."""
    paragraph = " ".join(line.strip() for line in text.strip().split("\n\n")[0].splitlines())
    match = re.search(r"(?<!\be\.g)(?<!\bi\.e)(?<!\bet al)(?<!\bvs)\.(\s|$)", paragraph)
    return paragraph[: match.start() + 1] if match else paragraph


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` assignments (papers are often shared constants)."""
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _value(node: ast.expr, strings: dict[str, str]) -> Any:
    if isinstance(node, ast.Name) and node.id in strings:
        return strings[node.id]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return SourceText(ast.unparse(node))


def _records_of(path: Path) -> list[RecipeRecord]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    strings = _module_strings(tree)
    records = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = call.func if call is not None else deco
            if not (isinstance(target, ast.Name) and target.id == _DECORATOR):
                continue
            options = {kw.arg: kw.value for kw in (call.keywords if call is not None else []) if kw.arg}
            weights = options.get("weights")
            tags = tuple(str(_value(k, strings)) for k in weights.keys if k is not None) if isinstance(weights, ast.Dict) else ()
            docstring = ast.get_docstring(node) or ""
            description = _value(options["description"], strings) if "description" in options else ""
            defaults = {
                arg.arg: _value(default, strings)
                for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults)
                if default is not None
            }
            records.append(
                RecipeRecord(
                    name=str(_value(options["name"], strings)) if "name" in options else node.name,
                    task=str(_value(options["task"], strings)) if "task" in options else "semantic",
                    paper=str(_value(options["paper"], strings)) if "paper" in options else "",
                    description=str(description) or first_sentence(docstring),
                    defaults=defaults,
                    weights=tags,
                    module=f"segzoo.models.{path.relative_to(MODELS_DIR).with_suffix('').as_posix().replace('/', '.')}",
                )
            )
    return records


@lru_cache(maxsize=1)
def catalog() -> dict[str, RecipeRecord]:
    """Every recipe defined in segzoo's model modules, by name (read once per process)."""
    out: dict[str, RecipeRecord] = {}
    for path in sorted(MODELS_DIR.rglob("*.py")):
        if _DECORATOR not in path.read_text(encoding="utf-8"):
            continue
        for record in _records_of(path):
            out[record.name] = record
    return out


def list_recipes(pattern: str = "*", *, task: str | None = None) -> list[str]:
    """Sorted recipe names matching an ``fnmatch`` pattern (and task), as :func:`segzoo.list_models`."""
    return sorted(n for n, r in catalog().items() if fnmatch.fnmatchcase(n, pattern) and task in (None, r.task))


def find_recipe(name: str, *, list_hint: str = "segzoo list") -> RecipeRecord:
    """The record of ``name`` (a weights tag ``name.tag`` is allowed); unknown names raise
    :class:`UnknownRecipeError` with close matches and how to list the recipes."""
    arch = str(name).partition(".")[0]
    records = catalog()
    if arch in records:
        return records[arch]
    close = difflib.get_close_matches(arch, list(records), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownRecipeError(f"Unknown model {arch!r}.{hint} {len(records)} are available; list them with {list_hint}.")
