"""The recipe and backbone catalogue read from source: names, tasks, papers, defaults, without importing torch.

``segzoo list`` and ``segzoo info`` must answer at once, and importing torch alone takes
seconds. The recipes are plain functions decorated with ``@register_model(...)`` whose
keyword defaults are their configuration, so their source says everything a listing needs:
this module parses the recipe modules with :mod:`ast` (nothing is executed) and returns the
same records as :func:`segzoo.model_info`. ``tests/test_catalog.py`` checks that the two
agree for every recipe, so the catalogue can't drift from the registry.

Only segzoo's own recipe modules are read; recipes a user registers at run time are in
:func:`segzoo.list_models`, not here. The backbones (``@register_backbone(...)`` in
``segzoo/backbones``) are read the same way, with their ImageNet weights from
:mod:`segzoo.published_backbones` (``tests/test_catalog.py`` compares them with the backbone registry).
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

from .published import published_tags
from .published_backbones import NO_IMAGENET_WEIGHTS, BackboneWeightsSpec, backbone_weights

__all__ = [
    "RecipeRecord", "BackboneRecord", "SourceText", "catalog", "backbone_catalog", "find_recipe", "list_recipes",
    "first_sentence", "UnknownRecipeError",
]  # fmt: skip

MODELS_DIR = Path(__file__).resolve().parent / "models"
BACKBONES_DIR = Path(__file__).resolve().parent / "backbones"
_DECORATOR = "register_model"
_VARIANT = "register_variant"
_BACKBONE_DECORATOR = "register_backbone"


class UnknownRecipeError(KeyError):
    """An unknown recipe name; the message lists close matches."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SourceText(str):
    """A default that is not a literal, kept as its source text (e.g. ``COCO_THINGS``); ``module``
    is where that text means something."""

    def __new__(cls, text: str, module: str = "") -> "SourceText":
        obj = super().__new__(cls, text)
        obj.module = module
        return obj

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


def _value(node: ast.expr, strings: dict[str, str], module: str) -> Any:
    if isinstance(node, ast.Name) and node.id in strings:
        return strings[node.id]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return SourceText(ast.unparse(node), module)


def _option_classes() -> dict[str, dict[str, Any]]:
    """The option dataclasses of ``models/options.py``: class name -> ``{field: default}`` in field
    order (a subclass's redefined default keeps its base field's place, as dataclasses do)."""
    path = MODELS_DIR / "options.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    strings = _module_strings(tree)
    classes: dict[str, dict[str, Any]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields: dict[str, Any] = {}
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in classes:
                fields.update(classes[base.id])
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value is not None:
                fields[item.target.id] = _value(item.value, strings, "segzoo.models.options")
        classes[node.name] = fields
    return classes


def _keywords(call: ast.Call, strings: dict[str, str], module: str) -> dict[str, Any]:
    return {kw.arg: _value(kw.value, strings, module) for kw in call.keywords if kw.arg}


def _records_of(path: Path, option_classes: dict[str, dict[str, Any]], known: dict[str, "RecipeRecord"]) -> list[RecipeRecord]:
    """Recipes (``@register_model`` functions) and variants (``register_variant(...)`` calls) of one module."""
    module = f"segzoo.models.{path.relative_to(MODELS_DIR).with_suffix('').as_posix().replace('/', '.')}"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    strings = _module_strings(tree)
    records: list[RecipeRecord] = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and _called(node.value) == _VARIANT:
            call = node.value
            base_name, name = (_value(arg, strings, module) for arg in call.args[:2])
            options = _keywords(call, strings, module)
            base = next((r for r in records if r.name == base_name), None) or known[base_name]
            description = str(options.pop("description", ""))
            paper = str(options.pop("paper", base.paper))
            records.append(RecipeRecord(name=str(name), task=base.task, paper=paper, description=description,
                                        defaults={**base.defaults, **options}, module=module,
                                        weights=tuple(published_tags(str(name)))))  # fmt: skip
            continue
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            if _called(deco) != _DECORATOR:
                continue
            options = {kw.arg: kw.value for kw in (call.keywords if call is not None else []) if kw.arg}
            weights = options.get("weights")
            tags = tuple(str(_value(k, strings, module)) for k in weights.keys if k is not None) if isinstance(weights, ast.Dict) else ()
            shared: dict[str, Any] = {}
            given = options.get("options")
            if isinstance(given, ast.Call) and isinstance(given.func, ast.Name) and given.func.id in option_classes:
                shared = {**option_classes[given.func.id], **_keywords(given, strings, module)}
            own = {
                arg.arg: _value(default, strings, module)
                for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults)
                if default is not None
            }
            description = _value(options["description"], strings, module) if "description" in options else ""
            name = str(_value(options["name"], strings, module)) if "name" in options else node.name
            tags = tuple(published_tags(name)) + tuple(t for t in tags if t not in published_tags(name))
            records.append(
                RecipeRecord(
                    name=name,
                    task=str(_value(options["task"], strings, module)) if "task" in options else "semantic",
                    paper=str(_value(options["paper"], strings, module)) if "paper" in options else "",
                    description=str(description) or first_sentence(ast.get_docstring(node) or ""),
                    defaults={**shared, **own},
                    weights=tags,
                    module=module,
                )
            )
    return records


def _called(node: ast.expr) -> str | None:
    """The name a decorator or call uses: ``register_model`` for ``@register_model(...)`` or bare."""
    target = node.func if isinstance(node, ast.Call) else node
    return target.id if isinstance(target, ast.Name) else None


@lru_cache(maxsize=1)
def catalog() -> dict[str, RecipeRecord]:
    """Every recipe defined in segzoo's model modules, by name (read once per process)."""
    out: dict[str, RecipeRecord] = {}
    option_classes = _option_classes()
    paths = [p for p in sorted(MODELS_DIR.rglob("*.py")) if f"@{_DECORATOR}" in p.read_text(encoding="utf-8")]
    pending = list(paths)
    while pending:  # a module's variants may name recipes of a module read later: read those first
        progress = False
        for path in list(pending):
            try:
                records = _records_of(path, option_classes, out)
            except KeyError:
                continue
            out.update((r.name, r) for r in records)
            pending.remove(path)
            progress = True
        if not progress:
            raise KeyError(f"register_variant names an unknown recipe in {[str(p) for p in pending]}")
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


# --- backbones ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackboneRecord:
    """What the catalogue knows of one registered backbone: its registration (family, paper, output
    strides), the first sentence of its docstring, and its ImageNet weights (None: see ``no_weights``)."""

    name: str
    family: str
    paper: str
    description: str
    output_strides: tuple[int, ...] = ()
    module: str = ""

    @property
    def weights(self) -> BackboneWeightsSpec | None:
        return backbone_weights(self.name)

    @property
    def no_weights(self) -> str:
        """Why the backbone has no ImageNet weights ("" when it has them)."""
        return "" if self.weights else NO_IMAGENET_WEIGHTS.get(self.name, "none recorded")

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "name": self.name, "kind": "backbone", "family": self.family, "paper": self.paper,
            "description": self.description, "output_strides": list(self.output_strides), "module": self.module,
            "weights": asdict(self.weights) if self.weights else None, "no_weights": self.no_weights,
        }  # fmt: skip


def _constants(path: Path, seen: frozenset[Path] = frozenset()) -> dict[str, Any]:
    """Module-level literal constants of a backbone module, and those it imports from sibling modules
    (``from .timm_backbone import MOBILENETV3``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            sibling = path.parent / f"{node.module}.py"
            if sibling.is_file() and sibling not in seen:
                theirs = _constants(sibling, seen | {path})
                out.update((a.asname or a.name, theirs[a.name]) for a in node.names if a.name in theirs)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                pass
    return out


@lru_cache(maxsize=1)
def backbone_catalog() -> dict[str, BackboneRecord]:
    """Every backbone registered in segzoo's backbone modules, by name (read once per process)."""
    out: dict[str, BackboneRecord] = {}
    for path in sorted(BACKBONES_DIR.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if f"@{_BACKBONE_DECORATOR}" not in text:
            continue
        constants = _constants(path)
        module = f"segzoo.backbones.{path.stem}"

        def value(node: ast.expr) -> Any:
            return constants[node.id] if isinstance(node, ast.Name) and node.id in constants else ast.literal_eval(node)

        for node in ast.parse(text, filename=str(path)).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if _called(deco) != _BACKBONE_DECORATOR or not isinstance(deco, ast.Call):
                    continue
                meta = {kw.arg: value(kw.value) for kw in deco.keywords if kw.arg}
                name = str(meta.get("name", node.name))
                out[name] = BackboneRecord(
                    name=name, family=str(meta.get("family", "")), paper=str(meta.get("paper", "")),
                    description=first_sentence(ast.get_docstring(node) or ""),
                    output_strides=tuple(meta.get("output_strides", ())), module=module,
                )  # fmt: skip
    return dict(sorted(out.items()))
