"""Latency and peak memory against input size and batch, with each model's growth exponent.

For ``deeplabv3_r50``, ``ocrnet_hrnet_w18``, ``danet_r50`` and ``panoptic_fpn_r50`` at 512x512,
512x1024 and 1024x2048 and batch 1, 2 and 4 (the benchmark runner's rows: ``segzoo.optimize``
defaults, so bf16 where the CPU has it), and for each model's trunk alone (its backbone's forward,
same preparation) at batch 1. The growth exponent ``a`` of ``time ~ pixels^a`` is the least-squares
slope of log latency against log pixels at batch 1; a model whose head is quadratic in positions
(DANet's position attention, OCR's pixel-region relation is linear) grows faster than its trunk.
The check the issue asks for: every attention recipe's exponent within 2x of its trunk's.

Slow at the largest sizes (DANet's position attention at 1024x2048 is 32768^2 pairs per image):
the default is one timed run after no warm-up for rows above 1 Mpixel x batch.

    python benchmarks/scaling.py [--models ...] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

import segzoo
from segzoo.bench import BenchConfig, fingerprint, run_benchmark
from segzoo.bench.report import fingerprint_lines
from segzoo.bench.timing import MemoryMeter

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ["deeplabv3_r50", "ocrnet_hrnet_w18", "danet_r50", "panoptic_fpn_r50"]
ATTENTION = {"ocrnet_hrnet_w18", "danet_r50"}
SIZES = [(512, 512), (512, 1024), (1024, 2048)]
BATCHES = [1, 2, 4]


def exponent(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of log(time) against log(pixels)."""
    xs, ys = [math.log(p) for p, _ in points], [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def trunk_rows(name: str, dtype: torch.dtype) -> list[dict[str, Any]]:
    """The model's backbone alone at batch 1, prepared as the runner's fast path prepares the model
    (inference mode, channels-last, autocast in the precision its rows used; BatchNorm not folded)."""
    torch.manual_seed(0)
    trunk = segzoo.build(name).backbone.eval().to(memory_format=torch.channels_last)
    rows = []
    for h, w in SIZES:
        x = torch.randn(1, 3, h, w).contiguous(memory_format=torch.channels_last)
        meter = MemoryMeter(torch.device("cpu"))
        with meter, torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            if h * w <= 1_100_000:
                trunk(x)  # warm-up where it is cheap, as the model rows
            start = time.perf_counter()
            trunk(x)
            seconds = time.perf_counter() - start
        rows.append({"model": f"{name} trunk", "height": h, "width": w, "batch": 1, "latency_mean_ms": 1000 * seconds,
                     "peak_mem_mib": meter.peak_mib, "precision": str(dtype).replace("torch.", "")})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-above", type=float, default=None, metavar="MPIXELS",
                        help="skip rows above this many megapixels x batch (each row also runs fp32 references)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = "python benchmarks/scaling.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    rows: list[dict[str, Any]] = []
    for name in args.models:
        for size in SIZES:
            for batch in BATCHES:
                if args.skip_above is not None and size[0] * size[1] * batch > args.skip_above * 1e6:
                    rows.append({"model": name, "height": size[0], "width": size[1], "batch": batch,
                                 "error": f"not run (--skip-above {args.skip_above})"})  # fmt: skip
                    continue
                big = size[0] * size[1] * batch > 1_100_000
                config = BenchConfig(models=[name], sizes=[size], batch_sizes=[batch], warmup=0 if big else 1,
                                     iters=1 if big else 2, threads=args.threads)  # fmt: skip
                (row,) = run_benchmark(config, progress=False).rows
                print(f"{name} {size[0]}x{size[1]} b{batch}: {row['latency_mean_ms']} ms, {row['peak_mem_mib']} MiB "
                      f"({row['precision']}) {row['error'] or ''}", flush=True)  # fmt: skip
                rows.append(row)
        model_rows = [r for r in rows if r["model"] == name and r.get("precision")]
        rows.extend(trunk_rows(name, getattr(torch, model_rows[0]["precision"]) if model_rows else torch.float32))
        print(rows[-3:], flush=True)
    growth = {}
    for name in args.models:
        for label in (name, f"{name} trunk"):
            points = [(r["height"] * r["width"], r["latency_mean_ms"]) for r in rows
                      if r["model"] == label and r["batch"] == 1 and r.get("latency_mean_ms")]  # fmt: skip
            if len(points) >= 2:
                growth[label] = exponent(points)
    checks = {n: growth[n] / growth[f"{n} trunk"] for n in args.models if n in ATTENTION and n in growth and f"{n} trunk" in growth}
    payload = {"command": command.strip(), "fingerprint": fingerprint(), "rows": rows, "growth_exponent": growth,
               "attention_vs_trunk": checks}  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    lines = ["# Scaling with input size and batch", "", "```", payload["command"], "```", "", *fingerprint_lines(payload["fingerprint"]), "",
             "| model | input | batch | precision | latency ms | ms per Mpixel | peak MiB |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        if r.get("latency_mean_ms") is None:
            lines.append(f"| {r['model']} | {r['height']}x{r['width']} | {r['batch']} | - | failed: {r.get('error')} | | |")
            continue
        mpix = r["height"] * r["width"] * r["batch"] / 1e6
        lines.append(f"| {r['model']} | {r['height']}x{r['width']} | {r['batch']} | {r['precision']} | {r['latency_mean_ms']:.0f} | "
                     f"{r['latency_mean_ms'] / mpix:.0f} | {r['peak_mem_mib']:.0f} |")  # fmt: skip
    lines += ["", "Growth exponent a (time ~ pixels^a, batch 1, least squares over the three sizes):", "",
              "| model | a | trunk a | ratio (attention recipes: must be <= 2) |", "|---|---|---|---|"]  # fmt: skip
    for name in args.models:
        a, t = growth.get(name), growth.get(f"{name} trunk")
        ratio = f"{a / t:.2f}" if a and t else "-"
        lines.append(f"| {name} | {a:.2f} | {t:.2f} | {ratio} |" if a and t else f"| {name} | - | - | - |")
    lines += ["", "Rows take one timed run after no warm-up above 1.1 Mpixel x batch (two after one below); each row also "
              "counts FLOPs and checks the fast path against fp32, which is what makes the largest rows slow to run."]
    md = "\n".join(lines) + "\n"
    (out / "scaling.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
