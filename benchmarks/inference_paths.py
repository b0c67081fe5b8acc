"""Every inference path of segzoo against torchvision's on the same network, with label agreement
measured on real photos by a *trained* network.

For ``fcn_r50``, ``deeplabv3_r50`` (torchvision: ``fcn_resnet50``, ``deeplabv3_resnet50``, the same
networks: FLOP ratio 1.000) and ``pspnet_r50`` (no torchvision model: its baseline is segzoo's own
eager model, the default of a framework without a fast path), at 512x512, batch 1:

- torchvision default: ``eval()`` + ``no_grad()``, contiguous float32;
- torchvision channels_last + bf16: inference mode, channels-last weights and input, bf16 autocast
  (float32 on a CPU without native bf16);
- segzoo eager (as torchvision default);
- ``segzoo.optimize(model, sample=photo)``: its defaults (BatchNorm folded, channels-last, the
  automatic precision rule deciding on the user's own image);
- ``optimize(..., compile=True)``: the same through ``torch.compile`` (inductor; compile time
  reported separately, excluded from the latency);
- ``optimize(backend="onnxruntime")``: float32 ONNX Runtime session;
- ``optimize(backend="onnxruntime", quantize="int8", calibration=...)``: static int8, calibrated on
  8 synthetic training scenes (not the photos it is evaluated on).

Weights: the segzoo models load ``benchmarks/checkpoints/<recipe>_synthetic`` (made by
``benchmarks/train_benchmark_checkpoint.py``; 8 classes) when it exists, else random weights (then
agreement says little: random logits are near ties). torchvision's models get the same class count
and random weights (their speed does not depend on the values). Agreement: share of pixels whose
label equals segzoo's fp32 eager label, over the photos in ``../shared/data/coco_panoptic_sample``
(resized to the benchmark size) and their mirror images. Latency: medians of ``--iters`` timed runs
after ``--warmup``, interleaved across the paths of one model so load changes hit all alike.

    python benchmarks/inference_paths.py [--models fcn_r50 deeplabv3_r50 pspnet_r50] [--iters 5]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torchvision
from PIL import Image

import segzoo
from segzoo.bench import count_flops, fingerprint, optimize
from segzoo.bench.fingerprint import cpu_supports_bf16, load_average
from segzoo.bench.report import fingerprint_lines
from segzoo.bench.timing import timed_call
from segzoo.data import SyntheticSemantic

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CHECKPOINTS = HERE / "checkpoints"
PHOTOS = HERE.parents[1] / "shared" / "data" / "coco_panoptic_sample" / "images"
NUM_CLASSES = 8
PEERS: dict[str, Callable[[], torch.nn.Module]] = {
    "fcn_r50": lambda: torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=NUM_CLASSES),
    "deeplabv3_r50": lambda: torchvision.models.segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, num_classes=NUM_CLASSES
    ),
}


def photos(size: int) -> torch.Tensor:
    """The shared COCO photos resized to ``size`` x ``size`` and their mirror images: uint8 (N, 3, H, W)."""
    paths = sorted(PHOTOS.glob("*.jpg"))
    if not paths:
        raise SystemExit(f"No photos under {PHOTOS}: this benchmark needs ../shared/data.")
    images = [torch.from_numpy(np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR))) for p in paths]
    batch = torch.stack(images).permute(0, 3, 1, 2).contiguous()
    return torch.cat([batch, batch.flip(-1)])


def load_model(name: str) -> tuple[torch.nn.Module, str]:
    directory = CHECKPOINTS / f"{name}_synthetic"
    if (directory / "model.safetensors").is_file():
        return segzoo.load(directory).eval(), f"trained ({directory.relative_to(HERE.parent)})"
    torch.manual_seed(0)
    return segzoo.build(name, num_classes=NUM_CLASSES).eval(), "random weights (no checkpoint: run train_benchmark_checkpoint.py)"


def labels_of(call: Callable[[torch.Tensor], Any], images: torch.Tensor) -> torch.Tensor:
    out = []
    for i in range(len(images)):
        result = call(images[i : i + 1])
        logits = result.logits if hasattr(result, "logits") else result["out"] if isinstance(result, dict) else result
        out.append(logits.float().argmax(1))
    return torch.cat(out)


def measure(calls: dict[str, Callable[[], Any]], *, warmup: int, iters: int) -> dict[str, list[float]]:
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(iters):
        for key, fn in calls.items():
            times[key].append(timed_call(fn, torch.device("cpu"))[0])
    return times


def channels_last_bf16(model: torch.nn.Module, dtype: torch.dtype) -> Callable[[torch.Tensor], Any]:
    model = model.to(memory_format=torch.channels_last)

    def call(x: torch.Tensor):
        with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            return model(x.contiguous(memory_format=torch.channels_last))

    return call


def no_grad(model: torch.nn.Module) -> Callable[[torch.Tensor], Any]:
    def call(x: torch.Tensor):
        with torch.no_grad():
            return model(x)

    return call


def run_model(name: str, args: argparse.Namespace, images: torch.Tensor) -> dict[str, Any]:
    model, weights = load_model(name)
    normalised = model.normalize(images.float() / 255)
    x = normalised[:1]
    calibration = SyntheticSemantic(8, size=(args.size, args.size), seed=5)
    calibration = model.normalize(torch.stack([calibration[i][0] for i in range(8)]).float() / 255)
    dtype = torch.bfloat16 if cpu_supports_bf16() else torch.float32
    paths: dict[str, Callable[[torch.Tensor], Any]] = {}
    info: dict[str, Any] = {}
    if name in PEERS:
        peer = PEERS[name]().eval()
        paths["torchvision default"] = no_grad(peer)
        paths["torchvision channels_last+bf16"] = channels_last_bf16(PEERS[name]().eval(), dtype)
        info["flops_ratio"] = count_flops(model, x) / count_flops(peer, x)
    paths["segzoo eager"] = no_grad(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = optimize(model, sample=x)
        info["optimize()"] = fast.segzoo_optimize.as_dict()
        paths["segzoo optimize()"] = fast
        if not args.no_compile:
            start = time.perf_counter()
            compiled = optimize(model, sample=x, compile=True)
            info["compile_seconds"] = time.perf_counter() - start
            info["optimize(compile=True)"] = compiled.segzoo_optimize.as_dict()
            paths["segzoo optimize(compile=True)"] = compiled
        ort = optimize(model, sample=x, backend="onnxruntime")
        info["onnxruntime fp32"] = ort.segzoo_optimize.as_dict()
        paths["segzoo onnxruntime fp32"] = ort
        int8 = optimize(model, sample=x, backend="onnxruntime", quantize="int8", calibration=calibration)
        info["onnxruntime int8"] = int8.segzoo_optimize.as_dict()
        paths["segzoo onnxruntime int8"] = int8
    reference = labels_of(no_grad(model), normalised)
    agreement = {k: (labels_of(fn, normalised) == reference).double().mean().item() for k, fn in paths.items() if "torchvision" not in k}
    times = measure({k: (lambda fn=fn: fn(x)) for k, fn in paths.items()}, warmup=args.warmup, iters=args.iters)
    median = {k: statistics.median(v) for k, v in times.items()}
    baseline = "torchvision default" if name in PEERS else "segzoo eager"
    return {
        "model": name, "weights": weights, "baseline": baseline, "median_ms": median, "times_ms": times,
        "speedup": {k: median[baseline] / v for k, v in median.items()}, "agreement_on_photos": agreement,
        "load_average": load_average(), **info,
    }  # fmt: skip


def markdown(payload: dict[str, Any]) -> str:
    lines = ["# Inference paths: segzoo vs torchvision on the same network", "", "```", payload["command"], "```", ""]
    lines += [f"{payload['size']}x{payload['size']}, batch 1, {payload['threads']} threads, median of {payload['iters']} "
              f"interleaved runs after {payload['warmup']} warm-up. Machine:", "", *fingerprint_lines(payload["fingerprint"]), ""]  # fmt: skip
    for r in payload["models"]:
        lines += [f"## {r['model']} ({r['weights']}; baseline: {r['baseline']})", ""]
        if "flops_ratio" in r:
            lines += [f"FLOP ratio segzoo / torchvision: {r['flops_ratio']:.3f}. "]
        if "compile_seconds" in r:
            lines += [f"Compile time of optimize(compile=True), excluded from its latency: {r['compile_seconds']:.0f} s.", ""]
        lines += ["| path | median ms | speed-up vs baseline | label agreement with fp32 eager (photos) | precision chosen |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for key, ms in r["median_ms"].items():
            agree = r["agreement_on_photos"].get(key)
            report = {"segzoo optimize()": r.get("optimize()"), "segzoo optimize(compile=True)": r.get("optimize(compile=True)"),
                      "segzoo onnxruntime fp32": r.get("onnxruntime fp32"), "segzoo onnxruntime int8": r.get("onnxruntime int8")}.get(key)  # fmt: skip
            chosen = report["decision"] if report else ""
            lines.append(f"| {key} | {ms:.0f} | {r['speedup'][key]:.2f}x | {'' if agree is None else f'{100 * agree:.2f}%'} | {chosen} |")
        lines.append("")
    return "\n".join(lines)


def paths_parser(doc: str, models: list[str]) -> argparse.ArgumentParser:
    """The options of the inference-path benchmarks (this one and ``panoptic_paths.py``)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=models)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS))
    return parser


def run_paths(args: argparse.Namespace, argv: list[str] | None, stem: str, run_model: Callable, markdown: Callable) -> int:
    """``run_model(name, args, photos)`` per model, then ``<out>/<stem>.json`` and ``<stem>.md``."""
    torch.set_num_threads(args.threads)
    command = f"python benchmarks/{stem}.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    images = photos(args.size)
    results = []
    for name in args.models:
        print(f"== {name} (load {load_average()})", flush=True)
        results.append(run_model(name, args, images))
        print({k: round(v) for k, v in results[-1]["median_ms"].items()}, flush=True)
    payload = {"command": command.strip(), "fingerprint": fingerprint(), "size": args.size, "threads": args.threads,
               "warmup": args.warmup, "iters": args.iters, "photos": len(images), "models": results}  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    md = markdown(payload)
    (out / f"{stem}.md").write_text(md + "\n")
    print(md)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = paths_parser(__doc__, ["fcn_r50", "deeplabv3_r50", "pspnet_r50"])
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile path (slow to compile)")
    return run_paths(parser.parse_args(argv), argv, "inference_paths", run_model, markdown)


if __name__ == "__main__":
    sys.exit(main())
