"""Generate the export matrix (docs/export_matrix.md) by exporting every recipe for real.

For every registered recipe, its tiny variant (tiny backbone, 5 classes; panoptic models
also small heads) is exported to every format with ``segzoo.export.export`` at 64 x 64 with
dynamic height and width, including formats the model does not declare
(``allow_undeclared=True``), loaded back, and compared with the eager model by
``segzoo.export.verify_export`` at 64 x 64 and 80 x 112:

- "exports": the export call succeeds;
- "dynamic H,W": the artefact runs at 80 x 112 (a size other than the example's) with
  output of the right shape;
- "parity checked": at both sizes the outputs match eager within 1e-4 + 1e-5 x |eager| with identical argmax
  labels (panoptic: the same detections and the same fused panoptic map, with the model's
  fuser and a permissive copy of it).

Usage::

    python scripts/export_matrix.py                      # everything -> docs/export_matrix.md
    python scripts/export_matrix.py --recipes 'pspnet*' --formats onnx --output -
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.metadata
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

import segzoo
from segzoo.export import EXPORT_FORMATS, declared_formats, export, verify_export
from segzoo.export.check import ATOL, RTOL

SIZES = ((64, 64), (80, 112))
TINY_PANOPTIC = dict(
    backbone="tiny", num_classes=5, thing_ids=(0, 1, 2), stuff_ids=(3, 4), fpn_channels=32, box_channels=64,
    mask_channels=32, rpn_top_n=(60, 30), detections_per_img=10,
)  # fmt: skip


def tiny_model(name: str) -> torch.nn.Module:
    """The recipe with the tiny backbone and 5 classes (small heads for panoptic models)."""
    info = segzoo.model_info(name)
    if info["task"] == "panoptic":
        return segzoo.build(name, **TINY_PANOPTIC)
    overrides = {"backbone": "tiny"} if "backbone" in info["defaults"] else {}
    return segzoo.build(name, num_classes=5, **overrides)


def _short(text: str, n: int = 140) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= n else text[: n - 3] + "..."


def run_one(name: str, fmt: str, workdir: Path) -> dict:
    torch.manual_seed(0)
    model = tiny_model(name).eval()
    row = {"recipe": name, "task": segzoo.model_info(name)["task"], "format": fmt,
           "declared": fmt in declared_formats(model), "exports": False, "dynamic": False, "parity": False,
           "seconds": 0.0, "note": ""}  # fmt: skip
    start = time.perf_counter()
    path = workdir / f"{name}.{fmt}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export(model, path, format=fmt, example_size=SIZES[0], allow_undeclared=True)
    except Exception as exc:
        row["seconds"] = time.perf_counter() - start
        row["note"] = "export: " + _short(f"{type(exc).__name__}: {exc}")
        return row
    row["exports"] = True
    row["seconds"] = time.perf_counter() - start
    checks = verify_export(model, path, sizes=SIZES)
    other = checks[-1]
    row["dynamic"] = other.error is None  # ran at a size other than the example's, right output shape
    row["parity"] = all(c.ok(ATOL) for c in checks)
    notes = []
    for c in checks:
        if c.error:
            notes.append(f"{c.size[0]}x{c.size[1]}: " + _short(c.error))
        elif not c.ok(ATOL):
            notes.append(f"{c.size[0]}x{c.size[1]}: max diff {c.max_abs_diff:.1e} (beyond the relative part: "
                         f"{c.max_excess:.1e}), labels equal {c.labels_equal}")
    if not notes:
        worst = max(c.max_abs_diff for c in checks)
        dets = [c.detections for c in checks if c.detections is not None]
        notes.append(f"max diff {worst:.1e}" + (f", detections {'/'.join(map(str, dets))}" if dets else ""))
    row["note"] = "; ".join(notes)
    path.unlink(missing_ok=True)
    return row


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


HEADER = "| recipe | task | format | declared | exports | dynamic H,W | parity checked | export time | notes |"


def table_line(r: dict) -> str:
    mark = {True: "yes", False: "**no**"}
    return (
        f"| {r['recipe']} | {r['task']} | {r['format']} | {'yes' if r['declared'] else 'no'} | {mark[r['exports']]} | "
        f"{mark[r['dynamic']] if r['exports'] else '-'} | {mark[r['parity']] if r['exports'] else '-'} | "
        f"{r['seconds']:.1f} s | {r['note']} |"
    )


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def existing_lines(path: Path) -> dict[tuple[str, str], str]:
    """Table lines of a previous run, by (recipe, format)."""
    if not path.is_file():
        return {}
    text = path.read_text().split(HEADER, 1)
    if len(text) < 2:
        return {}
    lines = [line for line in text[1].splitlines()[1:] if line.startswith("| ")]
    return {(_cells(line)[0], _cells(line)[2]): line for line in lines}


def render(lines_by_key: dict[tuple[str, str], str]) -> str:
    order = {name: i for i, name in enumerate(segzoo.list_models())}
    keys = sorted(lines_by_key, key=lambda k: (order.get(k[0], len(order)), k[0], EXPORT_FORMATS.index(k[1])))
    table = [lines_by_key[k] for k in keys]
    cells = [_cells(line) for line in table]
    declared_bad = sum(c[3] == "yes" and c[6] != "yes" for c in cells)
    undeclared_ok = sum(c[3] == "no" and c[6] == "yes" for c in cells)
    lines = [
        "# Export matrix",
        "",
        "Generated by `python scripts/export_matrix.py` (do not edit by hand): every recipe's tiny variant",
        "exported with `segzoo.export.export(..., example_size=(64, 64), dynamic=True)` to every format,",
        "declared or not, then run at 64x64 and 80x112 and compared with the eager model (every value",
        f"within {ATOL:g} + {RTOL:g} x |eager value|, identical argmax labels; panoptic: same detections and",
        "the same fused panoptic map; mask logits are compared as mask probabilities, the masks the fusion uses).",
        "\"declared\" is the model class's `export_formats`, the formats the test-suite checks.",
        "",
        f"torch {torch.__version__}, torchvision {_version('torchvision')}, onnx {_version('onnx')}, "
        f"onnxscript {_version('onnxscript')}, onnxruntime {_version('onnxruntime')}, segzoo {segzoo.__version__}.",
        "",
        "Export times are wall-clock on the machine that ran the script (CPU).",
        "",
        HEADER,
        "|---|---|---|---|---|---|---|---|---|",
        *table,
        "",
        f"Declared and failing: {declared_bad}. Passing but undeclared: {undeclared_ok}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", default="*", help="fnmatch pattern of recipe names (default: all)")
    parser.add_argument("--formats", default=",".join(EXPORT_FORMATS), help="comma-separated formats")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "docs" / "export_matrix.md"),
                        help="markdown file to write, '-' for stdout")  # fmt: skip
    parser.add_argument("--update", action="store_true",
                        help="keep the other rows of an existing output file, replace only the ones run")  # fmt: skip
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(EXPORT_FORMATS))
    if unknown:
        parser.error(f"unknown formats {unknown}; valid: {', '.join(EXPORT_FORMATS)}")
    names = [n for n in segzoo.list_models() if fnmatch.fnmatch(n, args.recipes)]
    if not names:
        parser.error(f"no recipe matches {args.recipes!r}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for fmt in formats:
                row = run_one(name, fmt, Path(tmp))
                rows.append(row)
                status = "ok" if row["parity"] else "FAIL"
                print(f"{name:32s} {fmt:13s} {status:4s} {row['seconds']:6.1f}s  {row['note']}", flush=True)
    lines = existing_lines(Path(args.output)) if args.update and args.output != "-" else {}
    lines.update({(r["recipe"], r["format"]): table_line(r) for r in rows})
    text = render(lines)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    failing = [r for r in rows if r["declared"] and not r["parity"]]
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
