"""The package's import graph: no cycles, no private names taken from another module, and layers
that import only downwards (docs/contributing.md lists the floors)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "segzoo"



def _layer_stats():
    """``scripts/layer_stats.py``: the floors of the layering and the cycle finder (one copy for both)."""
    spec = importlib.util.spec_from_file_location("layer_stats", PACKAGE.parent / "scripts" / "layer_stats.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LAYER_STATS = _layer_stats()
FLOORS = LAYER_STATS.FLOORS
FLOOR_OF = {name: floor for floor, names in FLOORS.items() for name in names}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(module: str) -> list[tuple[str, str | None, ast.AST]]:
    """(imported segzoo module, imported name or None, node) for every import, lazy ones included."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, None, node) for alias in node.names if alias.name.startswith("segzoo")]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("segzoo"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.append((sub, None, node) if sub in MODULES else (target, alias.name, node))
    return out


def _resolve(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _, _ in _imports(module):
            target = _resolve(target)
            if target != module:
                graph[module].add(target)
    return graph


def _floor(module: str) -> int | None:
    parts = module.split(".")
    return FLOOR_OF.get(parts[1]) if len(parts) > 1 else None


def test_every_top_level_module_has_a_floor():
    top = {m.split(".")[1] for m in MODULES if m.count(".") >= 1}
    assert top <= set(FLOOR_OF), f"add {sorted(top - set(FLOOR_OF))} to FLOORS in scripts/layer_stats.py (and docs/contributing.md)"


def test_no_import_cycle():
    """Tarjan's strongly connected components over all imports (function-level ones too)."""
    cycles = LAYER_STATS.cycles(_edges())
    assert not cycles, f"import cycles: {cycles}"


def test_no_private_name_from_another_module():
    bad = []
    for module in MODULES:
        for target, name, node in _imports(module):
            target = _resolve(target)
            private_module = any(p.startswith("_") and not p.startswith("__") for p in target.split("."))
            home = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
            same_package = target.rpartition(".")[0] == home  # a package's own private modules are its business
            if name and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{module}:{node.lineno} imports {name} from {target}")
            elif private_module and not same_package:
                bad.append(f"{module}:{node.lineno} imports the private module {target}")
    assert not bad, "\n".join(bad)


def test_layers_import_only_downwards():
    bad = []
    for module in MODULES:
        if module.endswith(".__main__"):
            continue  # entry points (python -m segzoo.bench) run the command line on top of everything
        for target, _, node in _imports(module):
            target = _resolve(target)
            mine, theirs = _floor(module), _floor(target)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append(f"{module}:{node.lineno} (floor {mine}) imports {target} (floor {theirs})")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", ["segzoo", "segzoo.cli", "segzoo.catalog"])
def test_light_entry_points_import_no_torch_at_module_level(module):
    """What ``import segzoo`` / the CLI's start imports at module level never reaches torch."""
    heavy = ("torch", "torchvision", "timm", "numpy")
    seen, todo, bad = set(), [module], []
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        tree = ast.parse(MODULES[current].read_text(encoding="utf-8"))
        for node in tree.body:  # module level only; TYPE_CHECKING blocks are skipped
            if isinstance(node, ast.Import):
                bad += [f"{current} imports {a.name}" for a in node.names if a.name.split(".")[0] in heavy]
            elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in heavy:
                bad.append(f"{current} imports {node.module}")
        todo += [_resolve(t) for t, _, node in _imports(current) if node in tree.body]
    assert not bad, bad
