"""Cost of multi-scale inference: HMSA at 1, 2 and 3 scales and 7-scale + flip TTA, against
the sum of the single-scale passes they are made of, in one run on this machine.

    python benchmarks/multiscale_cost.py [--model hmsa_deeplabv3p_mobilenetv2] [--size 256 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

import segzoo
from segzoo.postprocess import AINNOSEG_SCALES, TTA


def best_time(fn, x: torch.Tensor, repeats: int) -> float:
    fn(x)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return min(times)


def resized(h: int, w: int, s: float) -> torch.Tensor:
    return torch.randn(1, 3, max(1, int(h * s + 0.5)), max(1, int(w * s + 0.5)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="hmsa_deeplabv3p_mobilenetv2")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 512))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    h, w = args.size
    model = segzoo.build(args.model, num_classes=19).eval()
    base = model.model
    x = torch.randn(1, 3, h, w)
    print(f"{args.model} at {h}x{w}, batch 1, fp32, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| setting | time (ms) | sum of single-scale passes (ms) | overhead |")
    print("|---|---|---|---|")
    with torch.inference_mode():
        single = {s: best_time(base, resized(h, w, s), args.repeats) for s in (*AINNOSEG_SCALES, 0.5, 1.0, 2.0)}
        for scales in [(1.0,), (0.5, 1.0), (0.5, 1.0, 2.0)]:
            model.scales = scales
            t = best_time(model, x, args.repeats)
            parts = sum(single[s] for s in scales)
            print(f"| HMSA scales {scales} | {t * 1e3:.0f} | {parts * 1e3:.0f} | {t / parts - 1:+.0%} |", flush=True)
        tta = TTA(base, scales=AINNOSEG_SCALES, flip=True)
        t = best_time(tta, x, args.repeats)
        parts = 2 * sum(single[s] for s in AINNOSEG_SCALES)
        print(f"| TTA 7 scales + flip | {t * 1e3:.0f} | {parts * 1e3:.0f} (x2 for flips) | {t / parts - 1:+.0%} |")


if __name__ == "__main__":
    main()
