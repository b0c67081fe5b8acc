"""Counts of issue 16's layering rules in a segzoo tree (point 7's before/after numbers).

Prints: import cycles (strongly connected components of the ``from ... import`` graph), private
cross-module imports (``_name`` from another module), upward imports (a module importing a higher
floor of ``tests/test_import_graph.py``'s FLOORS) and comparisons of a model's task name
(``model.task == "panoptic"``, ``task != "semantic"``). Reads source only (ast); run it on any checkout:

    python scripts/layer_stats.py [ROOT]          # ROOT: a checkout (default: this one)
    git worktree add /tmp/old 62ba501 && python scripts/layer_stats.py /tmp/old
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

# The floors of DESIGN.md's architecture, bottom first: a module may import its own floor or lower
# (tests/test_import_graph.py enforces them).
FLOORS = {1: ("registry", "inputs", "weights", "state_dicts", "published", "published_backbones", "convert", "files",
              "errors", "hub", "catalog", "version", "coco_categories", "dataset_classes"),
          2: ("backbones", "layers", "losses", "metrics", "data", "crf"), 3: ("necks", "heads", "fusers"),
          4: ("models", "factory"), 5: ("postprocess", "export", "viz"), 6: ("engine", "bench", "train_recipes"),
          7: ("cli",)}  # fmt: skip
FLOOR_OF = {name: floor for floor, names in FLOORS.items() for name in names}


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in (root / "segzoo").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def reads_task(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "task" or isinstance(node, ast.Name) and node.id == "task":
        return True
    return (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant) and node.args[1].value == "task")  # fmt: skip


def stats(root: Path) -> dict[str, object]:
    mods = modules(root)

    def resolve(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    edges: dict[str, set[str]] = {m: set() for m in mods}
    private, upward, task_compares = [], [], []
    for module, path in mods.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                if any(reads_task(o) for o in operands) and any(
                    isinstance(o, ast.Constant) and o.value in ("semantic", "panoptic") for o in operands
                ):
                    task_compares.append(f"{module}:{node.lineno}")
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            elif node.module and node.module.split(".")[0] == "segzoo":
                target = node.module
            else:
                continue
            for alias in node.names:
                full = resolve(f"{target}.{alias.name}") if f"{target}.{alias.name}" in mods else resolve(target)
                if not full or full == module:
                    continue
                edges[module].add(full)
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    private.append(f"{module} <- {full}.{alias.name}")
                low, high = FLOOR_OF.get((module.split(".") + [""])[1]), FLOOR_OF.get((full.split(".") + [""])[1])
                if low and high and high > low and not module.endswith("__main__"):  # entry points may import the CLI
                    upward.append(f"{module} -> {full}")
    return {"modules": len(mods), "cycles": cycles(edges), "private": private, "upward": upward, "task": task_compares}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    s = stats(root)
    print(f"{root}: {s['modules']} modules")
    for key, label in (("cycles", "import cycles"), ("private", "private cross-module imports"),
                       ("upward", "upward imports"), ("task", "task-name comparisons")):  # fmt: skip
        items = s[key]
        print(f"  {label}: {len(items)}" + (f"  {items}" if items and len(items) <= 12 else ""))


if __name__ == "__main__":
    main()
