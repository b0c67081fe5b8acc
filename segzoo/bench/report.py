"""Benchmark reports: CSV, JSON, Markdown (each with the machine's fingerprint) and a PNG plot.

- JSON: ``{"command", "fingerprint", "config", "gemm_peak_gflops_s", "rows"}``.
- CSV: one line per row with every column of ``COLUMNS``, after ``#`` comment lines holding
  the command and the fingerprint (``pandas.read_csv(path, comment="#")`` reads it).
- Markdown: the command, the fingerprint and a readable table (``markdown_table``).
- PNG (``--plot``): latency against parameters, log-log, one labelled point per row; drawn
  with matplotlib when it is installed, else with Pillow.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Sequence

from .runner import COLUMNS, BenchResult

__all__ = ["write_reports", "markdown_table", "markdown_report", "fingerprint_lines", "write_plot"]

# (column, header, format) of the Markdown table.
TABLE = (
    ("model", "model", "{}"),
    ("input", "input", "{}"),
    ("batch", "batch", "{}"),
    ("precision", "precision", "{}"),
    ("memory_format", "memory", "{}"),
    ("fast_path", "fast", "{}"),
    ("params_m", "params (M)", "{:.3g}"),
    ("gflops", "GFLOPs", "{:.3g}"),
    ("latency_mean_ms", "mean ms", "{:.1f}"),
    ("latency_p50_ms", "p50 ms", "{:.1f}"),
    ("latency_p90_ms", "p90 ms", "{:.1f}"),
    ("throughput_ips", "img/s", "{:.2f}"),
    ("postprocess_ms", "post ms", "{:.1f}"),
    ("tta_ms", "TTA ms", "{:.1f}"),
    ("crf_ms", "CRF ms", "{:.1f}"),
    ("peak_mem_mib", "peak MiB", "{:.0f}"),
    ("achieved_gflops_s", "GFLOP/s", "{:.1f}"),
    ("peak_fraction", "% GEMM peak", "{:.0%}"),
    ("compile_s", "compile s", "{:.0f}"),
    ("agreement", "agree", "{:.2%}"),
    ("load_avg_start", "load", "{:.1f}"),
)


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = f"{row.get('height')}x{row.get('width')}" if key == "input" else row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]] = TABLE) -> str:
    """A Markdown table of the rows; columns that are empty in every row are left out, errors listed below."""
    used = [c for c in columns if c[0] == "input" or any(r.get(c[0]) is not None for r in rows)]
    lines = ["| " + " | ".join(h for _, h, _ in used) + " |", "|" + "|".join("---" for _ in used) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r, k, f) for k, _, f in used) + " |")
    errors = [r for r in rows if r.get("error")]
    for r in errors:
        lines.append(f"\n**{r['model']} {r['height']}x{r['width']} batch {r['batch']} failed:** `{r['error']}`")
    return "\n".join(lines)


def fingerprint_lines(fp: dict[str, Any]) -> list[str]:
    """``key: value`` lines of a fingerprint (the full CPU flag list last)."""
    keys = [k for k in fp if k != "cpu_flags"] + (["cpu_flags"] if "cpu_flags" in fp else [])
    return [f"{k}: {fp[k]}" for k in keys]


def markdown_report(result: BenchResult, *, title: str = "segzoo bench") -> str:
    """The full Markdown report: command, machine, notes and the table."""
    fp = result.fingerprint
    peaks = ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in result.gemm_peak_gflops_s.items())
    machine = [
        f"- CPU: {fp.get('cpu_model')} ({fp.get('cpu_count')} logical CPUs, {fp.get('torch_threads')} torch threads, "
        f"ATen capability {fp.get('cpu_capability')}, SIMD: {fp.get('simd_flags') or '-'}; native bf16: "
        f"{'yes' if fp.get('cpu_bf16') else 'no'})",
        f"- GPU: {fp.get('gpu_name') or 'none'}; CUDA {fp.get('cuda_version')}, cuDNN {fp.get('cudnn_version')}",
        f"- torch {fp.get('torch')}, torchvision {fp.get('torchvision')}, timm {fp.get('timm')}, segzoo {fp.get('segzoo')}, "
        f"Python {fp.get('python')}, {fp.get('platform')}",
        f"- load average at the end (1/5/15 min): {fp.get('load_average')}; {fp.get('timestamp')}",
        f"- GEMM peak per precision ({result.config.get('gemm_size', 2048)}^3 matmul, best of 10 after 3 warm-up, measured "
        f"before and after the rows, higher kept; raised to the fastest row where a row beats it, as its rows' "
        f"peak_source says): {peaks}",
    ]
    notes = [
        "Latency is the network forward per batch (mean/p50/p90 of the timed iterations); img/s = batch / mean.",
        "post ms: the model's own post-processing after the forward (argmax, or panoptic fusion with mask pasting), "
        "timed separately; TTA/CRF columns appear when requested.",
        "GFLOPs are FLOPs (2 per multiply-accumulate) counted by torch.utils.flop_counter.FlopCounterMode on one "
        "forward; elementwise ops and detection ops (RoI Align, NMS) are not counted (deformable convs are).",
        "compile s: the first call of a compiled model (torch.compile), timed on its own; excluded from the latency.",
        "peak MiB: growth of the process's peak resident memory during the timed block on CPU (approximate: "
        "allocator caching); CUDA allocator peak on GPU.",
        "agree: share of pixels whose argmax label equals the fp32 eager model's on the same input.",
        "load: 1-minute load average when the row started (the machine may be shared).",
    ]
    return "\n".join(
        [f"# {title}", "", "```", result.command or "(called from Python)", "```", "", *machine, "", "## Results", "",
         markdown_table(result.rows), "", *[f"- {n}" for n in notes], ""]
    )  # fmt: skip


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def write_reports(
    result: BenchResult,
    out_dir: str | Path,
    *,
    stem: str = "bench",
    formats: Sequence[str] = ("csv", "json", "md"),
    plot: bool = False,
    title: str = "segzoo bench",
) -> list[Path]:
    """Write ``<stem>.csv/.json/.md`` (and ``<stem>.png`` with ``plot``) into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if "json" in formats:
        path = out / f"{stem}.json"
        path.write_text(json.dumps(result.as_dict(), indent=2, default=_json_default) + "\n", encoding="utf-8")
        paths.append(path)
    if "csv" in formats:
        path = out / f"{stem}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            f.write(f"# command: {result.command}\n")
            for line in fingerprint_lines(result.fingerprint):
                f.write(f"# {line}\n")
            f.write(f"# gemm_peak_gflops_s: {json.dumps(result.gemm_peak_gflops_s)}\n")
            writer = csv.DictWriter(f, fieldnames=list(COLUMNS), extrasaction="ignore")
            writer.writeheader()
            for row in result.rows:
                writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in COLUMNS})
        paths.append(path)
    if "md" in formats:
        path = out / f"{stem}.md"
        path.write_text(markdown_report(result, title=title), encoding="utf-8")
        paths.append(path)
    if plot:
        paths.append(write_plot(result.rows, out / f"{stem}.png"))
    return paths


# ---- plot ------------------------------------------------------------------------------------


def _points(rows: Sequence[dict[str, Any]]) -> list[tuple[float, float, str]]:
    return [
        (r["params_m"], r["latency_mean_ms"], f"{r['model']} {r['height']}x{r['width']} b{r['batch']}")
        for r in rows
        if r.get("params_m") and r.get("latency_mean_ms")
    ]


def write_plot(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Latency (ms) against parameters (M), log-log, one labelled point per row, as a PNG; with a
    second panel, latency against accuracy, when rows carry a known ``metric`` (``--metrics``)."""
    path = Path(path)
    points = _points(rows)
    scored = [r for r in rows if r.get("metric") is not None and r.get("latency_mean_ms")]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _plot_pillow(points, path)
    if scored:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(14, 5.5), dpi=120)
        for r in scored:
            ax2.scatter([r["latency_mean_ms"]], [r["metric"]])
            ax2.annotate(r["model"], (r["latency_mean_ms"], r["metric"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        names = sorted({r.get("metric_name") or "metric" for r in scored})
        ax2.set(xscale="log", xlabel="latency per batch (ms)", ylabel=" / ".join(names), title="accuracy vs latency")
        ax2.grid(True, which="both", alpha=0.3)
    else:
        fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for x, y, label in points:
        ax.scatter([x], [y])
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xscale="log", yscale="log", xlabel="parameters (M)", ylabel="latency per batch (ms)",
           title="segzoo bench: latency vs parameters")  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(x=0.35, y=0.1)  # room for the labels
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**e
            if lo <= v <= hi:
                ticks.append(v)
    return ticks


def _plot_pillow(points: list[tuple[float, float, str]], path: Path) -> Path:
    from PIL import Image, ImageDraw

    width, height, left, right, top, bottom = 960, 640, 80, 30, 40, 60
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((left, 12), "segzoo bench: latency per batch (ms) vs parameters (M), log-log", fill="black")
    if not points:
        draw.text((left, height // 2), "no successful rows", fill="black")
        img.save(path)
        return path
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_lo, x_hi = min(xs) / 1.5, max(xs) * 1.5
    y_lo, y_hi = min(ys) / 1.5, max(ys) * 1.5

    def px(x: float) -> float:
        return left + (math.log(x) - math.log(x_lo)) / (math.log(x_hi) - math.log(x_lo)) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - (math.log(y) - math.log(y_lo)) / (math.log(y_hi) - math.log(y_lo)) * (height - top - bottom)

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for t in _log_ticks(x_lo, x_hi):
        draw.line([px(t), top, px(t), height - bottom], fill=(225, 225, 225))
        draw.text((px(t) - 8, height - bottom + 6), f"{t:g}", fill="black")
    for t in _log_ticks(y_lo, y_hi):
        draw.line([left, py(t), width - right, py(t)], fill=(225, 225, 225))
        draw.text((8, py(t) - 6), f"{t:g}", fill="black")
    draw.text((width // 2 - 50, height - 25), "parameters (M)", fill="black")
    palette = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194)]
    for i, (x, y, label) in enumerate(points):
        c = palette[i % len(palette)]
        draw.ellipse([px(x) - 4, py(y) - 4, px(x) + 4, py(y) + 4], fill=c)
        draw.text((px(x) + 6, py(y) - 12), label, fill=c)
    img.save(path)
    return path
