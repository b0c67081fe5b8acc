"""Panoptic post-processing time against network time, with where the post-processing time goes.

For ``panoptic_fpn_r50`` (heuristic fusion), ``panoptic_se_r50`` (spatial ranking) and
``upsnet_r50`` (UPSNet's panoptic head) at 512x512, batch 1: the network forward through
``segzoo.optimize`` with its defaults, and ``model.postprocess`` on the network's semantic logits
(random weights: near-ties between classes everywhere, the worst case for ``UpsampledLogits``'
per-cell pruning) with the recipe's default detection count (100) of generated detections (random weights detect
nothing worth fusing: seeded boxes of 8-200 px, scores in 0.5-1, mask logits N(0, 3)). Medians of
``--iters`` runs; then one profiled post-processing run grouped by operator family. A second
post-processing column replaces the random network's semantic logits by those of a confident one
(:func:`confident_logits`: regions of one class that leads the others by 10, plus unit noise), as a
trained network's are: fewer channels compete per cell, so the semantic argmax costs less. The three
timings are interleaved, round by round, so that the machine's speed drift hits them alike.

    python benchmarks/panoptic_postprocess.py [--iters 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import torch

import segzoo
from segzoo.bench import fingerprint, optimize
from segzoo.bench.report import fingerprint_lines

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ["panoptic_fpn_r50", "panoptic_se_r50", "upsnet_r50"]
FAMILIES = {  # ATen operator -> family, for the profile
    "upsample_bilinear2d": "resize (semantic logits, masks)", "amax": "argmax", "argmax": "argmax", "eq": "argmax",
    "masked_fill_": "paste / argmax", "logsumexp": "stuff scores (softmax)", "exp": "stuff scores (softmax)",
    "sigmoid": "mask probabilities", "count_nonzero": "instance paste", "bitwise_and": "instance paste",
    "bitwise_or_": "instance paste", "bitwise_not": "instance paste", "any": "instance paste", "bincount": "areas",
    "index_add_": "stuff scores (softmax)", "zeros": "allocation", "new_zeros": "allocation", "full": "allocation",
    "copy_": "copies", "cat": "copies", "index": "copies", "gather": "copies", "where": "select", "ge": "compare",
    "gt": "compare", "fill_": "zeroed full-image tensors", "index_put_": "copies", "nonzero": "select",
    "index_select": "channel gathers, bilinear values", "take": "channel gathers, bilinear values",
    "lerp": "channel gathers, bilinear values", "maximum": "argmax", "minimum": "argmax", "topk": "argmax",
    "scatter_reduce": "ranking input (category channels)", "_upsample_bilinear2d_aa": "ranking input (category channels)",
    "mkldnn_convolution": "ranking module", "mul": "arithmetic", "sum": "arithmetic", "add": "arithmetic", "div": "arithmetic",
    "sub": "arithmetic",
}  # fmt: skip


def detections(n: int, size: tuple[int, int], num_things: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    h, w = size
    corner = torch.rand(n, 2, generator=g) * torch.tensor([w - 8, h - 8])
    extent = torch.rand(n, 2, generator=g) * 192 + 8
    boxes = torch.cat([corner, corner + extent], 1)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    return {"boxes": boxes, "scores": torch.rand(n, generator=g) * 0.5 + 0.5,
            "labels": torch.randint(0, num_things, (n,), generator=g), "mask_logits": torch.randn(n, 28, 28, generator=g) * 3}  # fmt: skip


def confident_logits(k: int, h: int, w: int, seed: int = 0, region: int = 8) -> torch.Tensor:
    """``(1, k, h, w)`` stride-4 logits of a confident network: ``region`` x ``region`` cells of one class
    leading the others by 10, plus unit noise."""
    g = torch.Generator().manual_seed(seed)
    classes = torch.randint(0, k, (-(-h // region), -(-w // region)), generator=g)
    labels = classes.repeat_interleave(region, 0).repeat_interleave(region, 1)[:h, :w]
    one_hot = torch.nn.functional.one_hot(labels, k).permute(2, 0, 1).float()
    return (one_hot * 10 + torch.randn(k, h, w, generator=g))[None]


def time_postprocess(fast, raw, x, iters: int) -> list[float]:
    times = []
    for _ in range(iters + 1):
        start = time.perf_counter()
        fast.postprocess(raw, x)
        times.append(1000 * (time.perf_counter() - start))
    return times


def markdown(payload: dict) -> str:
    """The results table of a run's JSON payload."""
    size, iters, rows = payload["size"], payload["iters"], payload["rows"]
    lines = ["# Panoptic post-processing vs network time", "", "```", payload["command"], "```", "", *fingerprint_lines(payload["fingerprint"]), "",
             f"{size}x{size}, batch 1, medians of {iters} interleaved rounds after one warm-up; post-processing on the recipe's "
             "default detection count of generated detections, with the random network's semantic logits (near-ties "
             "everywhere: the worst case) and with a confident network's (confident_logits).", "",
             "| model | fuser | network precision | network ms | post-processing ms | share | post-processing ms, confident logits | share | where the post-processing time goes (ms, profiled run, network logits) |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        where = ", ".join(f"{k} {v:.0f}" for k, v in r["profile_ms"].items() if v >= 1)
        lines.append(f"| {r['model']} | {r['fuser']} | {r['precision']} | {r['network_ms']:.0f} | {r['postprocess_ms']:.1f} | "
                     f"{100 * r['share']:.1f}% | {r['postprocess_confident_ms']:.1f} | {100 * r['share_confident']:.1f}% | {where} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=MODELS)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = "python benchmarks/panoptic_postprocess.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        model = segzoo.build(name).eval()
        x = torch.randn(1, 3, args.size, args.size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fast = optimize(model, sample=x)
        n = model.roi_heads.detections_per_img
        net, post, post_confident = [], [], []
        # interleaved (network, post-processing, post-processing of confident logits) so that the VM's speed
        # drift hits all three alike; the first round is a warm-up
        for _ in range(args.iters + 1):
            start = time.perf_counter()
            raw = fast(x)
            net.append(1000 * (time.perf_counter() - start))
            raw = raw._replace(detections=[detections(n, (args.size, args.size), len(model.thing_ids))])
            confident = raw._replace(sem_logits=confident_logits(*raw.sem_logits.shape[1:]))
            with torch.inference_mode():
                post += time_postprocess(fast, raw, x, 0)
                post_confident += time_postprocess(fast, confident, x, 0)
        with torch.inference_mode(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            fast.postprocess(raw, x)
        families: dict[str, float] = defaultdict(float)
        for event in prof.key_averages():
            op = event.key.replace("aten::", "")
            if event.key.startswith("aten::") and op in FAMILIES:
                families[FAMILIES[op]] += event.self_cpu_time_total / 1000
        net_ms, post_ms = statistics.median(net[1:]), statistics.median(post[1:])  # the first round warms up
        row = {"model": name, "detections": n, "fuser": type(model.fuser).__name__, "precision": fast.segzoo_optimize.dtype,
               "network_ms": net_ms, "postprocess_ms": post_ms, "share": post_ms / net_ms,
               "postprocess_confident_ms": statistics.median(post_confident[1:]),
               "share_confident": statistics.median(post_confident[1:]) / net_ms,
               "profile_ms": dict(sorted(families.items(), key=lambda kv: -kv[1]))}  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
    payload = {"command": command.strip(), "fingerprint": fingerprint(), "size": args.size, "iters": args.iters, "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "panoptic_postprocess.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    md = markdown(payload)
    (out / "panoptic_postprocess.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
