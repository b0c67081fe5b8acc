"""The panoptic recipes' network through every inference backend: torch eager, ``segzoo.optimize``'s
torch path, and ONNX Runtime in float32 and static int8.

For ``panoptic_fpn_r50``, ``panoptic_se_r50`` and ``upsnet_r50`` (COCO's 133 classes, random
weights: no trained panoptic checkpoint is reachable offline) at 512x512, batch 1, the time of the
network part (``model(x)``: backbone, FPN, semantic head, RPN, RoI heads, mask head; ONNX Runtime
runs it as one graph, :mod:`segzoo.bench.onnxruntime_backend`), medians of ``--iters`` runs
interleaved across the paths. The post-processing (``postprocess``) is the model's own torch code on
every path (``benchmarks/panoptic_postprocess.py`` measures it).

Agreement with the fp32 eager model on the photos of ``../shared/data/coco_panoptic_sample``
(resized): *semantic*, the share of pixels with the same semantic label; *panoptic*, the share of
pixels whose panoptic segment has the same category, or no segment in both (``predict`` end to end;
the table says how much of the image the eager model's segments cover), with the recipe's fuser
made permissive (score threshold and stuff area limit 0: ``segzoo.export.permissive_fuser``), as
random weights detect nothing above the recipe's thresholds. With random weights
the detector's scores hover near its thresholds and the semantic logits are near ties, so these
are lower bounds of what a trained network keeps. int8 is calibrated on 4 synthetic scenes.

    python benchmarks/panoptic_paths.py [--models panoptic_fpn_r50 panoptic_se_r50 upsnet_r50] [--iters 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from inference_paths import (  # the sibling benchmark's options, loop and timing
    measure,
    no_grad,
    paths_parser,
    run_paths,
)

import segzoo
from segzoo.bench import optimize
from segzoo.bench.fingerprint import load_average
from segzoo.bench.optimize import main_logits
from segzoo.bench.report import fingerprint_lines
from segzoo.data import SyntheticSemantic
from segzoo.export import permissive_fuser

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ["panoptic_fpn_r50", "panoptic_se_r50", "upsnet_r50"]


def category_map(prediction) -> torch.Tensor:
    """Per pixel, the category of its panoptic segment (-1 where no segment)."""
    lut = torch.full((int(prediction.panoptic_seg.max()) + 1,), -1, dtype=torch.long)
    for segment in prediction.segments_info:
        lut[segment["id"]] = segment["category_id"]
    return lut[prediction.panoptic_seg.long().clamp(min=0)]


def run_model(name: str, args: argparse.Namespace, images: torch.Tensor) -> dict[str, Any]:
    torch.manual_seed(0)
    model = segzoo.build(name).eval()
    normalised = model.normalize(images.float() / 255)
    x = normalised[:1]
    calibration = SyntheticSemantic(4, size=(args.size, args.size), seed=5)
    calibration = model.normalize(torch.stack([calibration[i][0] for i in range(4)]).float() / 255)
    paths: dict[str, Any] = {"segzoo eager": model}
    calls: dict[str, Callable[[torch.Tensor], Any]] = {"segzoo eager": no_grad(model)}
    info: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, kwargs in [("segzoo optimize()", {}), ("segzoo onnxruntime fp32", {"backend": "onnxruntime"}),
                            ("segzoo onnxruntime int8", {"backend": "onnxruntime", "quantize": "int8",
                                                         "calibration": calibration})]:  # fmt: skip
            start = time.perf_counter()
            fast = optimize(model, sample=x, **kwargs)
            info[key] = {**fast.segzoo_optimize.as_dict(), "prepare_seconds": time.perf_counter() - start}
            paths[key], calls[key] = fast, fast
            print(f"  {key}: prepared in {info[key]['prepare_seconds']:.0f} s", flush=True)
    semantic, panoptic = {}, {}
    with torch.no_grad():
        keep_all = permissive_fuser(model.fuser)  # random weights: keep every detection and stuff region
        reference = [(main_logits(model(normalised[i : i + 1])).argmax(1),
                      category_map(model.predict(images[i : i + 1], fuser=keep_all)[0])) for i in range(len(images))]  # fmt: skip
        for key, fast in paths.items():
            same_sem = same_pan = sem_pixels = pixels = 0
            for i, (sem_ref, pan_ref) in enumerate(reference):
                same_sem += (main_logits(calls[key](normalised[i : i + 1])).argmax(1) == sem_ref).sum().item()
                same_pan += (category_map(fast.predict(images[i : i + 1], fuser=keep_all)[0]) == pan_ref).sum().item()
                sem_pixels, pixels = sem_pixels + sem_ref.numel(), pixels + pan_ref.numel()
            semantic[key], panoptic[key] = same_sem / sem_pixels, same_pan / pixels  # semantic labels at stride 4
    covered = sum((pan_ref >= 0).sum().item() for _, pan_ref in reference) / sum(p.numel() for _, p in reference)
    times = measure({k: (lambda fn=fn: fn(x)) for k, fn in calls.items()}, warmup=args.warmup, iters=args.iters)
    median = {k: statistics.median(v) for k, v in times.items()}
    return {
        "model": name, "median_ms": median, "times_ms": times, "speedup": {k: median["segzoo eager"] / v for k, v in median.items()},
        "semantic_agreement": semantic, "panoptic_agreement": panoptic, "reference_coverage": covered,
        "load_average": load_average(), "reports": info,
    }  # fmt: skip


def markdown(payload: dict[str, Any]) -> str:
    lines = ["# Panoptic network through each inference backend", "", "```", payload["command"], "```", ""]
    lines += [f"{payload['size']}x{payload['size']}, batch 1, {payload['threads']} threads, random weights (133 classes), "
              f"median of {payload['iters']} interleaved runs after {payload['warmup']} warm-up; agreement with the "
              f"fp32 eager model on {payload['photos']} photos (with mirrors). Machine:", "",
              *fingerprint_lines(payload["fingerprint"]), ""]  # fmt: skip
    for r in payload["models"]:
        lines += [f"## {r['model']}", "", f"The eager model's segments cover {100 * r['reference_coverage']:.1f}% of the "
                  "photos' pixels (the rest is no segment, which counts as agreement when both paths leave it so).", "",
                  "| path | network median ms | speed-up vs eager | semantic label agreement | "
                  "panoptic category agreement | prepared in |", "|---|---|---|---|---|---|"]  # fmt: skip
        for key, ms in r["median_ms"].items():
            prepared = r["reports"].get(key, {}).get("prepare_seconds")
            lines.append(f"| {key} | {ms:.0f} | {r['speedup'][key]:.2f}x | {100 * r['semantic_agreement'][key]:.2f}% | "
                         f"{100 * r['panoptic_agreement'][key]:.2f}% | {'' if prepared is None else f'{prepared:.0f} s'} |")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return run_paths(paths_parser(__doc__, MODELS).parse_args(argv), argv, "panoptic_paths", run_model, markdown)


if __name__ == "__main__":
    sys.exit(main())
