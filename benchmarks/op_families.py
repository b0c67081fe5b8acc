"""Where the time of each fast path goes, per op family, against the measured peak of its precision.

Issue 19 asks for the best segzoo path at >= 2x torchvision's channels_last + bf16 on the same
network, and for int8 at >= 1.5x segzoo's bf16. On compute-bound convolutions of equal FLOPs no int8
path can beat a bf16 path by more than the ratio of the two precisions' peaks, unless the bf16 path
runs far below its own. This script measures the peaks and how close each path's convolutions come:

- peaks, measured before each model's paths (the table keeps each precision's best): 2048^3
  products in float32 and bf16 (``torch.mm``, oneDNN) and in uint8 x int8 -> int32 through ONNX
  Runtime, as one 1x1 ``QLinearConv`` with symmetric per-channel weights (the kernels of the
  quantised models' convolutions) and as ``MatMulInteger`` (MLAS's QGEMM, which has an AMX kernel
  the convolutions don't use);
- per model and path (torchvision channels_last + bf16 autocast where torchvision has the network,
  ``segzoo.optimize(dtype="bf16")`` (fp32 on a CPU without native bf16), ONNX Runtime float32 and
  static int8 as ``optimize(backend="onnxruntime", quantize="int8")`` builds them): the median wall
  time of ``--iters`` interleaved runs, and from a profile of ``--iters`` more runs (torch.profiler's
  self time per aten op; ONNX Runtime's kernel time per node) the milliseconds per op family, the
  path's own convolution FLOPs (``optimize``'s DeepLabV3 ASPP taps read only the input they reach:
  fewer than the exported graph's) and their throughput as a share of their precision's peak.

Weights as in ``inference_paths.py`` (trained checkpoints when present; speed does not depend on the
values). int8 is calibrated on 8 synthetic scenes.

    python benchmarks/op_families.py [--models fcn_r50 deeplabv3_r50 pspnet_r50] [--iters 5]
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from inference_paths import PEERS, channels_last_bf16, load_model, measure, paths_parser, run_paths

from segzoo.bench import optimize
from segzoo.bench.fingerprint import cpu_supports_bf16, load_average
from segzoo.bench.flops import measure_gemm_peak
from segzoo.bench.report import fingerprint_lines
from segzoo.data import SyntheticSemantic

FAMILIES = {  # torch.profiler's aten op names and ONNX Runtime's op types -> family
    "convolution": ["mkldnn_convolution", "convolution", "_convolution", "conv2d", "Conv", "FusedConv", "QLinearConv",
                    "NhwcFusedConv", "ConvInteger"],
    "normalisation": ["native_batch_norm", "batch_norm", "_batch_norm_impl_index", "BatchNormalization"],
    "activation": ["clamp_min_", "clamp_min", "relu_", "relu", "Relu", "Clip"],
    "addition (residuals; ASPP tap sums)": ["add_", "add", "Add", "Sum", "QLinearAdd"],
    "pooling": ["max_pool2d_with_indices", "adaptive_avg_pool2d", "mean", "MaxPool", "NhwcMaxPool", "GlobalAveragePool",
                "AveragePool", "QLinearGlobalAveragePool", "QLinearAveragePool"],
    "resize": ["upsample_bilinear2d", "Resize", "Upsample"],
    "concatenation": ["cat", "Concat", "QLinearConcat"],
    "(de)quantize": ["QuantizeLinear", "DequantizeLinear"],
    "copy / cast / layout": ["copy_", "_to_copy", "to", "clone", "contiguous", "ReorderInput", "ReorderOutput",
                             "Transpose", "Cast"],
}  # fmt: skip
_FAMILY_OF = {op: name for name, ops in FAMILIES.items() for op in ops}
ORDER = [*FAMILIES, "other"]


def family(op: str) -> str:
    """The family of an aten op (``aten::add_``) or an ONNX Runtime op type (``QLinearAdd``); "other" if unlisted."""
    return _FAMILY_OF.get(op.removeprefix("aten::"), "other")


def _ort_session(model, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _best_seconds(session, feed: dict, repeats: int) -> float:
    for _ in range(3):
        session.run(None, feed)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - start)
    return best


def int8_peaks(size: int = 2048, repeats: int = 5, threads: int = 2) -> dict[str, float]:
    """Best GOP/s of a ``size``^3 uint8 x int8 -> int32 product in ONNX Runtime, two ways:

    - ``int8``: a ``QLinearConv`` 1x1, ``size`` -> ``size`` channels over ``size`` pixels with
      symmetric per-channel int8 weights, as the quantised models' convolutions are (MLAS's
      symmetric convolution kernels, the ones those convolutions run on);
    - ``int8 MatMulInteger``: the same product as ``MatMulInteger`` (MLAS's QGEMM, which has an AMX
      kernel the convolution kernels lack: on an AMX CPU this one can be far higher).
    """
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    weight = rng.integers(-127, 128, (size, size), dtype=np.int8)
    ops = 2.0 * size**3
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], "int8_gemm",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [size, size])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [size, size])],
        [helper.make_tensor("B", TensorProto.INT8, [size, size], weight.tobytes(), raw=True)],
    )  # fmt: skip
    gemm = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    gemm.ir_version = 8
    feed = {"A": rng.integers(0, 256, (size, size), dtype=np.uint8)}
    matmul = ops / _best_seconds(_ort_session(gemm, threads), feed, repeats) / 1e9
    h, w = 32, size // 32
    inits = [
        helper.make_tensor("xs", TensorProto.FLOAT, [], [0.05]), helper.make_tensor("xz", TensorProto.UINT8, [], [128]),
        helper.make_tensor("w", TensorProto.INT8, [size, size, 1, 1], weight.tobytes(), raw=True),
        helper.make_tensor("ws", TensorProto.FLOAT, [size], [0.01] * size),
        helper.make_tensor("wz", TensorProto.INT8, [size], [0] * size),
        helper.make_tensor("ys", TensorProto.FLOAT, [], [1.0]), helper.make_tensor("yz", TensorProto.UINT8, [], [128]),
    ]  # fmt: skip
    graph = helper.make_graph(
        [helper.make_node("QLinearConv", ["X", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["Y"])], "int8_conv",
        [helper.make_tensor_value_info("X", TensorProto.UINT8, [1, size, h, w])],
        [helper.make_tensor_value_info("Y", TensorProto.UINT8, [1, size, h, w])], inits,
    )  # fmt: skip
    conv = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    conv.ir_version = 8
    feed = {"X": rng.integers(0, 256, (1, size, h, w), dtype=np.uint8)}
    return {"int8": ops / _best_seconds(_ort_session(conv, threads), feed, repeats) / 1e9, "int8 MatMulInteger": matmul}


def peaks(threads: int) -> dict[str, float]:
    """float32 and bf16 (``torch.mm``, oneDNN; bf16 only on a CPU with native bf16) and int8 peaks."""
    out = {"float32": measure_gemm_peak("cpu", torch.float32, 2048, 5, threads, warmup=3)}
    if cpu_supports_bf16():
        out["bfloat16"] = measure_gemm_peak("cpu", torch.bfloat16, 2048, 5, threads, warmup=3)
    return {**out, **int8_peaks(threads=threads)}


def torch_profile(call: Callable[[], Any], runs: int) -> dict[str, float]:
    """Milliseconds per op family and run: torch.profiler's self CPU time of each aten op."""
    from torch.profiler import ProfilerActivity, profile

    call()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(runs):
            call()
    out: dict[str, float] = collections.Counter()
    for event in prof.key_averages():
        out[family(event.key)] += event.self_cpu_time_total / 1000 / runs
    return dict(out)


def ort_profile(path: Path, x: torch.Tensor, runs: int, threads: int) -> dict[str, float]:
    """Milliseconds per op family and run: ONNX Runtime's kernel time per node, over the last ``runs``
    of ``runs + 1`` runs of a session built as segzoo's (every graph optimisation)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = str(path.with_suffix(""))
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    for _ in range(runs + 1):
        session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    starts = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    out: dict[str, float] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= starts[1]:
            out[family(e["args"]["op_name"])] += e["dur"] / 1000 / runs
    return dict(out)


def conv_flops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """FLOPs of the convolutions of one forward (FlopCounterMode's convolution entries)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return float(sum(v for op, v in counter.get_flop_counts()["Global"].items() if "convolution" in str(op)))


def run_model(name: str, args: argparse.Namespace, images: torch.Tensor) -> dict[str, Any]:
    measured = peaks(args.threads)  # per model, just before its paths: the table keeps each precision's best
    print({k: round(v) for k, v in measured.items()}, flush=True)
    model, weights = load_model(name)
    x = model.normalize(images[:1].float() / 255)
    scenes = SyntheticSemantic(8, size=(args.size, args.size), seed=5)
    calibration = model.normalize(torch.stack([scenes[i][0] for i in range(8)]).float() / 255)
    dtype = torch.bfloat16 if cpu_supports_bf16() else torch.float32
    reduced = str(dtype).split(".")[-1]
    eager_flops = conv_flops(model, x)
    calls: dict[str, Callable[[], Any]] = {}
    precision: dict[str, str] = {}
    flops: dict[str, float] = {}
    if name in PEERS:
        peer = channels_last_bf16(PEERS[name]().eval(), dtype)
        key = "torchvision channels_last+autocast"
        calls[key], precision[key], flops[key] = (lambda: peer(x)), reduced, eager_flops
    with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="segzoo-op-families-") as scratch:
        warnings.simplefilter("ignore")
        workdir = Path(scratch)
        fast = optimize(model, sample=x, dtype="bf16" if dtype == torch.bfloat16 else "fp32")
        ort32 = optimize(load_model(name)[0], sample=x, backend="onnxruntime", workdir=workdir / "fp32")
        int8 = optimize(load_model(name)[0], sample=x, backend="onnxruntime", quantize="int8", calibration=calibration, workdir=workdir / "int8")  # fmt: skip
        key = f"segzoo optimize(dtype={'bf16' if dtype == torch.bfloat16 else 'fp32'})"
        # optimize's own convolutions: DeepLabV3's ASPP taps read only the input they reach (fewer FLOPs)
        calls[key], precision[key], flops[key] = (lambda: fast(x)), reduced, conv_flops(fast, x)
        files = {"segzoo onnxruntime fp32": workdir / "fp32" / "model.onnx", "segzoo onnxruntime int8": workdir / "int8" / "model.int8.onnx"}  # fmt: skip
        calls["segzoo onnxruntime fp32"], precision["segzoo onnxruntime fp32"] = (lambda: ort32(x)), "float32"
        calls["segzoo onnxruntime int8"], precision["segzoo onnxruntime int8"] = (lambda: int8(x)), "int8"
        flops["segzoo onnxruntime fp32"] = flops["segzoo onnxruntime int8"] = eager_flops  # exported from the eager model
        median = {k: statistics.median(v) for k, v in measure(calls, warmup=args.warmup, iters=args.iters).items()}
        profiles = {}
        with torch.inference_mode():
            for key, call in calls.items():
                if key in files:
                    profiles[key] = ort_profile(files[key], x, args.iters, args.threads)
                else:
                    profiles[key] = torch_profile(call, args.iters)
    return {"model": name, "weights": weights, "median_ms": median, "profile_ms": profiles, "precision": precision,
            "conv_gflop": {k: v / 1e9 for k, v in flops.items()}, "peaks": measured, "load_average": load_average()}  # fmt: skip


def best_peaks(payload: dict[str, Any]) -> dict[str, float]:
    """Each precision's best peak over the measurements (one before each model's paths)."""
    out: dict[str, float] = {}
    for r in payload["models"]:
        for k, v in r["peaks"].items():
            out[k] = max(out.get(k, 0.0), v)
    return out


def markdown(payload: dict[str, Any]) -> str:
    peak = best_peaks(payload)
    lines = ["# Op families: where each fast path's time goes", "", "```", payload["command"], "```", ""]
    lines += [f"{payload['size']}x{payload['size']}, batch 1, {payload['threads']} threads; wall: median of {payload['iters']} "
              f"interleaved runs; profile: {payload['iters']} more runs per path. Machine:", "", *fingerprint_lines(payload["fingerprint"]), ""]  # fmt: skip
    lines += ["## Peaks: 2048^3 products (GFLOP/s; GOP/s for int8)", "",
              "| measured before | " + " | ".join(peak) + " |", "|---" * (1 + len(peak)) + "|"]  # fmt: skip
    lines += [f"| {r['model']} | " + " | ".join(f"{r['peaks'].get(k, float('nan')):.0f}" for k in peak) + " |" for r in payload["models"]]
    lines += ["", "float32 and bf16: `torch.mm` (oneDNN); int8: one 1x1 `QLinearConv` with symmetric per-channel weights "
              "(the kernels of the quantised convolutions) and `MatMulInteger` (MLAS's QGEMM). The rates below are "
              "shares of each precision's best (the int8 rows: of the `QLinearConv` peak)."]  # fmt: skip
    if "bfloat16" in peak:
        lines += ["", f"int8 / bf16 peak ratio: **{peak['int8'] / peak['bfloat16']:.2f}x**, the most an int8 path can gain "
                  "over a bf16 path on compute-bound convolutions of equal FLOPs when both run at their peaks."]  # fmt: skip
    present = {f for r in payload["models"] for p in r["profile_ms"].values() for f in p}
    names = [f for f in ORDER if f in present]
    for r in payload["models"]:
        lines += ["", f"## {r['model']} ({r['weights']})", ""]
        lines += ["| path | precision | wall ms | profiled ms | " + " | ".join(names) + " | conv GFLOP | conv GFLOP/s | % of peak |",
                  "|---" * (7 + len(names)) + "|"]  # fmt: skip
        for key, wall in r["median_ms"].items():
            prof, gflop, dtype = r["profile_ms"][key], r["conv_gflop"][key], r["precision"][key]
            rate = gflop / prof.get("convolution", float("nan")) * 1000
            cells = " | ".join(f"{prof.get(f, 0.0):.1f}" for f in names)
            lines.append(f"| {key} | {dtype} | {wall:.0f} | {sum(prof.values()):.0f} | {cells} | {gflop:.0f} | {rate:.0f} | {100 * rate / peak[dtype]:.0f}% |")
    lines += ["", "Families are not like for like across backends: ONNX Runtime fuses the activation and the residual "
              "addition into its float32 convolutions (QLinearConv requantises in place), torch runs them as their own "
              "ops. 'copy / cast / layout' in the autocast rows is the per-call casts of the weights to bf16 and copies between layouts."]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = paths_parser(__doc__, ["fcn_r50", "deeplabv3_r50", "pspnet_r50"])
    args = parser.parse_args(argv)
    if args.iters < 1:
        parser.error("--iters must be at least 1")
    return run_paths(args, argv, "op_families", run_model, markdown)


if __name__ == "__main__":
    sys.exit(main())
