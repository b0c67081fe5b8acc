"""DeepLabV3's ASPP convolutions under CPU bf16: oneDNN's kernel against ``segzoo.bench.dilated``'s
per-tap products, with float32 for reference.

The three dilated 3x3 convolutions of DeepLabV3's ASPP at output stride 8 for a 512x512 image
(2048 -> 256 channels on a 64x64 map, rates 12, 24, 36), channels-last, batch 1: oneDNN in
float32, oneDNN under bf16 autocast, and :class:`segzoo.bench.dilated.TapSumConv2d` under bf16
autocast (what ``segzoo.optimize`` runs on a CPU with native bf16). Medians of ``--iters`` runs,
interleaved; the largest difference to float32 relative to float32's largest value.

    python benchmarks/dilated_conv.py [--iters 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

from segzoo.bench import fingerprint
from segzoo.bench.dilated import TapSumConv2d
from segzoo.bench.fingerprint import cpu_supports_bf16
from segzoo.bench.report import fingerprint_lines
from segzoo.bench.timing import timed_call

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=64, help="feature map side (64: a 512x512 image at output stride 8)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    command = "python benchmarks/dilated_conv.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    torch.set_num_threads(args.threads)
    if not cpu_supports_bf16():
        print("This CPU has no native bf16 (AVX512-BF16/AMX): the bf16 rows would measure emulation.")
    torch.manual_seed(0)
    x = torch.randn(1, 2048, args.size, args.size).contiguous(memory_format=torch.channels_last)
    rows = ["| rate | oneDNN fp32 ms | oneDNN bf16 ms | per-tap bf16 ms | per-tap vs oneDNN bf16 | max rel. diff to fp32 |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for rate in (12, 24, 36):
        conv = nn.Conv2d(2048, 256, 3, padding=rate, dilation=rate).eval().to(memory_format=torch.channels_last)
        taps = TapSumConv2d(conv)

        def bf16(module: nn.Module):
            def call():
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return module(x)

            return call

        calls = {"fp32": lambda: conv(x), "onednn": bf16(conv), "taps": bf16(taps)}
        times: dict[str, list[float]] = {k: [] for k in calls}
        with torch.inference_mode():
            reference = conv(x)
            diff = (calls["taps"]().float() - reference).abs().max().item() / reference.abs().max().item()
            for _ in range(args.iters):
                for key, call in calls.items():
                    times[key].append(timed_call(call, torch.device("cpu"))[0])
        m = {k: statistics.median(v) for k, v in times.items()}
        rows.append(f"| {rate} | {m['fp32']:.0f} | {m['onednn']:.0f} | {m['taps']:.0f} | {m['onednn'] / m['taps']:.2f}x | {diff:.1e} |")
        print(rows[-1], flush=True)
    lines = ["# DeepLabV3's ASPP convolutions under CPU bf16: oneDNN vs per-tap products", "", "```", command.strip(), "```", "",
             f"2048 -> 256 channels, {args.size}x{args.size} map, batch 1, channels-last, {args.threads} threads, median of "
             f"{args.iters} interleaved runs. Machine:", "", *fingerprint_lines(fingerprint()), "", *rows, ""]  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "dilated_conv.md").write_text("\n".join(lines))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
