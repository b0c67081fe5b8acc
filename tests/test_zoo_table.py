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


def test_every_recipe_is_measured():
    measured = json.loads((ROOT / "benchmarks" / "results" / "zoo_measurements.json").read_text())
    missing = [n for n in segzoo.list_models() if n not in measured]
    assert not missing, f"run `python scripts/zoo_table.py --measure` for {missing}"
    assert all(m["params_m"] > 0 and m["gflops"] > 0 for m in measured.values())


def test_committed_table_is_current():
    zoo = _script()
    measured = json.loads(zoo.MEASUREMENTS.read_text())
    expected = zoo.render(measured)
    assert zoo.TABLE.read_text() == expected, "docs/model_zoo.md is out of date: run `python scripts/zoo_table.py`"
