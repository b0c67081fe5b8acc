"""segzoo against torchvision and segmentation_models_pytorch (smp) on the same inputs, in one run.

Pairs (same task, same trunk, randomly initialised, no downloads):

    segzoo fcn_r50          vs torchvision fcn_resnet50(weights=None, weights_backbone=None)
    segzoo deeplabv3_r50    vs torchvision deeplabv3_resnet50(weights=None, weights_backbone=None)
    segzoo deeplabv3p_r50   vs smp DeepLabV3Plus("resnet50", encoder_weights=None)      (if smp is installed)
    segzoo pspnet_r50       vs smp PSPNet("resnet50", encoder_weights=None)              (if smp is installed)
    segzoo panoptic_fpn_r50 vs torchvision maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)

Semantic models get 21 classes (the segzoo and torchvision default). Every model sees the
same 512x512 image (seeded uniform noise in 0-1, ImageNet-normalised for the models whose
forward takes normalised input; torchvision's Mask R-CNN normalises inside). The one
change to a peer's defaults: Mask R-CNN is built with ``min_size=512, max_size=1333`` so its
transform keeps the 512x512 input instead of upscaling it to 800x800 (otherwise it would
do 2.4x the work of everyone else).

Two tables:

1. *Defaults*: each library as its documentation runs it (``model.eval()`` and
   ``torch.no_grad()``, contiguous float32), against segzoo eager (the same) and segzoo's
   fast path ``segzoo.optimize(model)`` with its defaults (BatchNorm folded, channels-last,
   inference mode, bf16 autocast only on a CPU with native bf16).
2. *Equal settings*: every model, segzoo's and the peers', eval + inference mode +
   channels-last weights and input + the same precision (bf16 autocast if the CPU has
   native bf16, else float32). No BatchNorm folding for anyone.

Latencies are medians of ``--iters`` timed runs after ``--warmup``, interleaved (segzoo,
peer, segzoo, peer, ...) so load changes on a shared machine hit both sides alike; the
speed-up is the ratio of median throughputs. FLOPs are counted with ``FlopCounterMode``
(FLOPs, not MACs) for one forward of each model.

    python benchmarks/compare_peers.py [--threads 2] [--iters 5] [--size 512]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any, Callable

import torch
import torchvision
from torch import nn

import segzoo
from segzoo.bench import count_flops, fingerprint, optimize
from segzoo.bench.fingerprint import cpu_supports_bf16, load_average
from segzoo.bench.report import fingerprint_lines
from segzoo.bench.timing import timed_call

try:
    import segmentation_models_pytorch as smp
except ImportError:  # optional peer
    smp = None

RESULTS = Path(__file__).resolve().parent / "results"
CPU = torch.device("cpu")
NUM_CLASSES = 21
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def peers() -> list[dict[str, Any]]:
    """The pairs: segzoo recipe, peer label, peer builder, input kind, and what differs in the work."""
    tvs = torchvision.models.segmentation
    pairs = [
        dict(segzoo="fcn_r50", peer="torchvision fcn_resnet50",
             build=lambda: tvs.fcn_resnet50(weights=None, weights_backbone=None, num_classes=NUM_CLASSES), input="normalised",
             arch="both: dilated ResNet-50 (output stride 8), FCN head 2048->512->21, no auxiliary head at inference"),
        dict(segzoo="deeplabv3_r50", peer="torchvision deeplabv3_resnet50",
             build=lambda: tvs.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=NUM_CLASSES),
             input="normalised", arch="both: dilated ResNet-50 (OS 8), ASPP rates 12/24/36 + image pooling, 256 channels"),
        dict(segzoo="panoptic_fpn_r50", peer="torchvision maskrcnn_resnet50_fpn",
             build=lambda: torchvision.models.detection.maskrcnn_resnet50_fpn(
                 weights=None, weights_backbone=None, min_size=512, max_size=1333), input="unit",
             arch="shared: ResNet-50 + FPN + RPN + Mask R-CNN heads; segzoo adds the semantic FPN head and has 81 box "
                  "classes (80 things + bg) vs 91"),
    ]  # fmt: skip
    if smp is not None:
        pairs.insert(2, dict(segzoo="deeplabv3p_r50", peer="smp DeepLabV3Plus(resnet50)",
                             build=lambda: smp.DeepLabV3Plus("resnet50", encoder_weights=None, classes=NUM_CLASSES),
                             input="normalised",
                             arch="both: ResNet-50 OS 16, ASPP + decoder on the stride-4 features; smp's ASPP and "
                                  "decoder convs are depthwise-separable by default, segzoo's are full 3x3 convs"))  # fmt: skip
        pairs.insert(3, dict(segzoo="pspnet_r50", peer="smp PSPNet(resnet50)",
                             build=lambda: smp.PSPNet("resnet50", encoder_weights=None, classes=NUM_CLASSES),
                             input="normalised",
                             arch="different networks: smp's PSPNet uses the ResNet-50 only up to stage 2 (encoder_depth=3, "
                                  "stride 8, 512 channels into the PPM); segzoo's is the paper's: all 4 stages dilated to "
                                  "OS 8, 2048 channels into the PPM, 512-channel bottleneck"))  # fmt: skip
    return pairs


def prepare(model: nn.Module, setting: str, dtype: torch.dtype, device: torch.device = CPU) -> tuple[nn.Module, Callable[[Any], Any]]:
    """(model, call) for a setting: ``default`` (eval + no_grad, contiguous fp32), ``fast``
    (segzoo.optimize defaults), ``equal`` (eval + inference mode + channels-last + ``dtype``)."""
    model.eval()
    if setting == "default":
        def call(x):
            with torch.no_grad():
                return model(x)
        return model, call
    if setting == "fast":
        fast = optimize(model, inplace=False)
        return fast, fast
    model = model.to(memory_format=torch.channels_last)

    def call_equal(x):
        if isinstance(x, torch.Tensor):
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return model(x)

    return model, call_equal


def measure(calls: dict[str, Callable[[], Any]], *, warmup: int, iters: int, device: torch.device = CPU) -> dict[str, list[float]]:
    """Interleaved timing: every call once per round; milliseconds per call (CUDA events on a GPU)."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in calls}
    for _ in range(iters):
        for k, fn in calls.items():
            times[k].append(timed_call(fn, device)[0])
    return times


def row(label: str, params: int, flops: int, times: list[float]) -> dict[str, Any]:
    med = statistics.median(times)
    return {"model": label, "params_m": params / 1e6, "gflops": flops / 1e9, "median_ms": med,
            "mean_ms": statistics.fmean(times), "ips": 1000 / med, "times_ms": times}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=None, help="segzoo recipe names of the pairs to run")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (the GPU run of benchmarks/gpu.sh)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    command = "python benchmarks/compare_peers.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        equal_label = f"channels_last + {str(dtype).replace('torch.', '')} autocast (GPU)"
    else:
        bf16 = cpu_supports_bf16()
        dtype = torch.bfloat16 if bf16 else torch.float32
        equal_label = "channels_last + bf16 autocast" if bf16 else "channels_last + float32 (this CPU has no AVX512-BF16/AMX)"
    g = torch.Generator().manual_seed(0)
    unit = torch.rand(1, 3, args.size, args.size, generator=g).to(device)  # the image, 0-1
    normalised = (unit - MEAN.to(device)) / STD.to(device)
    results = []
    for pair in peers():
        if args.only and pair["segzoo"] not in args.only:
            continue
        print(f"== {pair['segzoo']} vs {pair['peer']} (load {load_average()})", flush=True)
        torch.manual_seed(0)
        ours = segzoo.build(pair["segzoo"], **({} if pair["input"] == "unit" else {"num_classes": NUM_CLASSES})).eval().to(device)
        theirs = pair["build"]().eval().to(device)
        x_ours = normalised
        x_theirs = [unit[0]] if pair["input"] == "unit" else normalised
        flops_ours, flops_theirs = count_flops(ours, x_ours), count_flops(theirs, x_theirs)
        p_ours = sum(p.numel() for p in ours.parameters())
        p_theirs = sum(p.numel() for p in theirs.parameters())
        entry: dict[str, Any] = {"segzoo": pair["segzoo"], "peer": pair["peer"], "architecture": pair["arch"],
                                 "flops_ratio": flops_ours / flops_theirs}  # fmt: skip
        # Table 1: defaults (+ segzoo's fast path).
        m_eager, c_eager = prepare(ours, "default", dtype, device)
        m_fast, c_fast = prepare(ours, "fast", dtype, device)
        m_peer, c_peer = prepare(theirs, "default", dtype, device)
        t = measure({"eager": lambda: c_eager(x_ours), "fast": lambda: c_fast(x_ours), "peer": lambda: c_peer(x_theirs)},
                    warmup=args.warmup, iters=args.iters, device=device)  # fmt: skip
        entry["defaults"] = {
            "segzoo_eager": row(pair["segzoo"], p_ours, flops_ours, t["eager"]),
            "segzoo_fast": row(pair["segzoo"], p_ours, flops_ours, t["fast"]) | {"optimize": m_fast.segzoo_optimize.as_dict()},
            "peer": row(pair["peer"], p_theirs, flops_theirs, t["peer"]),
        }
        del m_fast, c_fast
        # Table 2: equal settings.
        m_ours, c_ours = prepare(ours, "equal", dtype, device)
        m_theirs, c_theirs = prepare(theirs, "equal", dtype, device)
        t = measure({"segzoo": lambda: c_ours(x_ours), "peer": lambda: c_theirs(x_theirs)}, warmup=args.warmup, iters=args.iters,
                    device=device)  # fmt: skip
        entry["equal"] = {"segzoo": row(pair["segzoo"], p_ours, flops_ours, t["segzoo"]),
                          "peer": row(pair["peer"], p_theirs, flops_theirs, t["peer"])}  # fmt: skip
        entry["load_average"] = load_average()
        d, e = entry["defaults"], entry["equal"]
        print(f"   defaults: eager {d['segzoo_eager']['median_ms']:.0f} ms, fast {d['segzoo_fast']['median_ms']:.0f} ms, "
              f"peer {d['peer']['median_ms']:.0f} ms | equal: segzoo {e['segzoo']['median_ms']:.0f} ms, peer "
              f"{e['peer']['median_ms']:.0f} ms | GFLOPs {flops_ours / 1e9:.1f} vs {flops_theirs / 1e9:.1f}", flush=True)  # fmt: skip
        results.append(entry)
        del ours, theirs, m_eager, m_peer, m_ours, m_theirs

    fp = fingerprint()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"command": command, "fingerprint": fp, "equal_settings": equal_label, "threads": args.threads,
               "size": args.size, "warmup": args.warmup, "iters": args.iters, "pairs": results}  # fmt: skip
    (out / "compare_peers.json").write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    md = markdown(payload)
    (out / "compare_peers.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


def markdown(payload: dict[str, Any]) -> str:
    pairs = payload["pairs"]
    lines = [
        "# segzoo vs torchvision / segmentation_models_pytorch", "", "```", payload["command"], "```", "",
        f"{payload['size']}x{payload['size']}, batch 1, {payload['threads']} torch threads, median of {payload['iters']} "
        f"interleaved runs after {payload['warmup']} warm-up. Machine:", "",
        *[f"- {line}" for line in fingerprint_lines(payload["fingerprint"]) if not line.startswith("cpu_flags")], "",
        "## 1. Each library with its default settings", "",
        "Peers and segzoo eager: `model.eval()` + `torch.no_grad()`, contiguous float32. segzoo fast: "
        "`segzoo.optimize(model)` defaults (BatchNorm folded, channels-last, inference mode; float32 here).", "",
        "Throughput ratios compare the same work only where the FLOP ratio (table 3) is 1.00; for the other",
        "pairs (marked *) the networks differ and the GFLOP/s ratio (achieved FLOPs per second, segzoo fast /",
        "peer) is the fairer speed comparison.", "",
        "| segzoo recipe | peer | segzoo eager ms | segzoo fast ms | peer ms | fast / peer throughput | eager / peer | fast / peer GFLOP/s | agreement (fast) | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    def mark(p):
        return "" if abs(p["flops_ratio"] - 1) < 0.01 else " *"

    def per_flop(ours, theirs, ratio):
        return ours["ips"] / theirs["ips"] * ratio  # (FLOPs_ours / t_ours) / (FLOPs_peer / t_peer)

    for p in pairs:
        d = p["defaults"]
        lines.append(
            f"| {p['segzoo']}{mark(p)} | {p['peer']} | {d['segzoo_eager']['median_ms']:.0f} | {d['segzoo_fast']['median_ms']:.0f} | "
            f"{d['peer']['median_ms']:.0f} | {d['segzoo_fast']['ips'] / d['peer']['ips']:.2f}x | "
            f"{d['segzoo_eager']['ips'] / d['peer']['ips']:.2f}x | {per_flop(d['segzoo_fast'], d['peer'], p['flops_ratio']):.2f}x | "
            f"{100 * d['segzoo_fast']['optimize']['agreement']:.2f}% | "
            f"{p['load_average'][0] if p['load_average'] else '-'} |"
        )
    lines += ["", f"## 2. Equal settings: {payload['equal_settings']}, inference mode, no BatchNorm folding", "",
              "| segzoo recipe | peer | segzoo ms | peer ms | segzoo / peer throughput | segzoo / peer GFLOP/s | load |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for p in pairs:
        e = p["equal"]
        lines.append(
            f"| {p['segzoo']}{mark(p)} | {p['peer']} | {e['segzoo']['median_ms']:.0f} | {e['peer']['median_ms']:.0f} | "
            f"{e['segzoo']['ips'] / e['peer']['ips']:.2f}x | {per_flop(e['segzoo'], e['peer'], p['flops_ratio']):.2f}x | "
            f"{p['load_average'][0] if p['load_average'] else '-'} |"
        )
    lines += ["", "## 3. Same network, same work? (FLOPs counted by FlopCounterMode: FLOPs, not MACs)", "",
              "| segzoo recipe | GFLOPs | params (M) | peer | GFLOPs | params (M) | FLOP ratio | architecture |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for p in pairs:
        s, q = p["defaults"]["segzoo_eager"], p["defaults"]["peer"]
        lines.append(
            f"| {p['segzoo']} | {s['gflops']:.1f} | {s['params_m']:.1f} | {p['peer']} | {q['gflops']:.1f} | "
            f"{q['params_m']:.1f} | {p['flops_ratio']:.3f} | {p['architecture']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
