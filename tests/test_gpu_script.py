"""``benchmarks/gpu.sh`` (the GPU latency table and peer comparison in one command) runs its steps
end to end: here with ``--device cpu --dry-run`` (toy sizes; no GPU in CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # two runs of the benchmark scripts (~20 s): pytest -m slow
def test_gpu_script_dry_run_on_the_cpu_writes_both_tables(tmp_path):
    out = tmp_path / "gpu"
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "benchmarks/gpu.sh"), "--device", "cpu", "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--compile" in done.stdout and "(dry run, not run)" in done.stdout  # the compiled step is shown, not run
    latency = json.loads((out / "latency.json").read_text())
    assert [(r["model"], r["device"], r["error"]) for r in latency["rows"]] == [("fcn_r50", "cpu", None)]
    peers = json.loads((out / "compare_peers.json").read_text())
    assert [p["segzoo"] for p in peers["pairs"]] == ["fcn_r50"] and (out / "compare_peers.md").is_file()


def test_gpu_script_refuses_unknown_options():
    done = subprocess.run(["bash", str(ROOT / "benchmarks/gpu.sh"), "--gpus", "2"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown option --gpus" in done.stderr


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_compile_uses_max_autotune_on_cuda(monkeypatch):  # pragma: no cover - no GPU in CI
    import torch

    import segzoo

    seen = {}
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: seen.update(kw))
    segzoo.optimize(segzoo.build("fcn_r50", backbone="tiny").cuda(), compile=True)
    assert seen == {"mode": "max-autotune"}


def test_compile_mode_rule_on_the_cpu(monkeypatch):
    """The rule on this device: inductor with weight freezing on a CPU unless a mode is given."""
    import torch
    from conftest import build_tiny

    import segzoo

    calls = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: calls.append(kw))
    model = build_tiny("fcn_r50")
    segzoo.optimize(model, compile=True, dtype="fp32", sample=torch.randn(1, 3, 32, 32))
    segzoo.optimize(model, compile=True, compile_mode="reduce-overhead", dtype="fp32", sample=torch.randn(1, 3, 32, 32))
    assert calls == [{"options": {"freezing": True}}, {"mode": "reduce-overhead"}]


def test_compile_falls_back_to_no_freezing_when_freezing_fails(monkeypatch):
    import torch
    from conftest import build_tiny

    import segzoo

    calls = []

    def fake_compile(self, **kw):  # the first (frozen) compiled forward fails, the second is the plain one
        calls.append(kw)

        def broken(*args, **kwargs):
            raise RuntimeError("Cannot set version_counter for inference tensor")

        self._compiled_call_impl = broken if kw else None

    monkeypatch.setattr(torch.nn.Module, "compile", fake_compile)
    with pytest.warns(UserWarning, match="compiling without freezing"):
        fast = segzoo.optimize(build_tiny("fcn_r50"), compile=True, dtype="fp32", sample=torch.randn(1, 3, 32, 32))
    assert calls == [{"options": {"freezing": True}}, {}] and fast.segzoo_optimize.agreement == 1.0
