"""The committed model zoo table is what ``scripts/zoo_table.py`` renders from the registry."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import segzoo

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("zoo_table", ROOT / "scripts" / "zoo_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measurements_are_of_registered_recipes():
    """Measured numbers belong to recipes that exist; a new recipe needs no measurement to land (its row
    shows '?' until `python scripts/zoo_table.py --measure` is run), only the regenerated table."""
    measured = json.loads((ROOT / "benchmarks" / "results" / "zoo_measurements.json").read_text())
    stale = sorted(set(measured) - set(segzoo.list_models()))
    assert not stale, f"measurements of recipes that no longer exist: {stale}; run `python scripts/zoo_table.py --measure`"
    assert all(m["params_m"] > 0 and m["gflops"] > 0 for m in measured.values())


def test_unmeasured_recipe_renders_with_question_marks():
    zoo = _script()
    measured = json.loads(zoo.MEASUREMENTS.read_text())
    measured.pop("fcn_r50")
    row = next(line for line in zoo.render(measured).splitlines() if line.startswith("| `fcn_r50` |"))
    assert row.split(" | ")[3:5] == ["?", "?"]


def test_committed_table_is_current():
    zoo = _script()
    measured = json.loads(zoo.MEASUREMENTS.read_text())
    expected = zoo.render(measured)
    assert zoo.TABLE.read_text() == expected, "docs/model_zoo.md is out of date: run `python scripts/zoo_table.py`"
