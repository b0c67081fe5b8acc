"""Copy the committed benchmark results into ``docs/benchmarks.md`` (between its results markers).

    python scripts/benchmarks_doc.py

Reads the Markdown files the benchmark scripts write into ``benchmarks/results/`` (each with
its command and machine fingerprint) and splices them, one heading level down, into the docs
page, so the docs show exactly the committed numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"
# (file, title) in the order the page shows them
SECTIONS = (
    ("bench_default.md", "Speed: `segzoo bench` (the default command)"),
    ("bench_zoo.md", "Speed: every recipe (`segzoo bench '*'`)"),
    ("compare_peers.md", "Peer comparison: `benchmarks/compare_peers.py`"),
    ("inference_paths.md", "Inference paths on the same network: `benchmarks/inference_paths.py`"),
    ("inference_paths_amx.md", "The same on a CPU with AMX: `benchmarks/inference_paths.py`"),
    ("op_families.md", "Where the time goes, per op family: `benchmarks/op_families.py`"),
    ("dilated_conv.md", "DeepLabV3's ASPP convolutions in bf16: `benchmarks/dilated_conv.py`"),
    ("panoptic_postprocess.md", "Panoptic post-processing vs network: `benchmarks/panoptic_postprocess.py`"),
    ("panoptic_paths.md", "Panoptic network through each backend: `benchmarks/panoptic_paths.py`"),
    ("scaling.md", "Scaling with input size and batch: `benchmarks/scaling.py`"),
    ("accuracy_default.md", "Accuracy: `segzoo bench --accuracy` (default synthetic budget)"),
    ("accuracy_quick.md", "Accuracy: `segzoo bench --accuracy --quick`"),
    ("seed_claims.md", "The seeds' claims, three seeds: `benchmarks/seed_claims.py`"),
    ("seed_claims_probe.md", "Why refine-multiscale falls behind: `benchmarks/seed_claims.py --probe-refine`"),
    ("seed_claims_fusion_probe.md", "How much a better paste order could gain: `benchmarks/seed_claims.py --probe-fusion`"),
    ("seed_claims_se_probe.md", "Does SE help with a longer budget: `benchmarks/seed_claims.py --probe-se`"),
    ("crf_speed.md", "Dense CRF: `benchmarks/crf_speed.py`"),
    ("attention_memory.md", "Attention memory: `benchmarks/attention_memory.py`"),
)


def section(path: Path, title: str) -> str:
    body = path.read_text(encoding="utf-8").strip().splitlines()
    if body and body[0].startswith("# "):
        body = body[1:]  # the file's own title; ours replaces it
    body = [("##" + line) if re.match(r"#{1,4} ", line) else line for line in body]  # below our "###" title
    body = [line.replace("](bench_default.png)", "](../benchmarks/results/bench_default.png)") for line in body]
    return "\n".join([f"### {title}", "", f"From `benchmarks/results/{path.name}`.", "", *body]).rstrip() + "\n"


def render(text: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"{DOC} needs the markers {START} and {END}")
    parts = [section(RESULTS / name, title) for name, title in SECTIONS if (RESULTS / name).is_file()]
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    return head + START + "\n\n" + "\n".join(parts) + "\n" + END + tail


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {DOC}")
