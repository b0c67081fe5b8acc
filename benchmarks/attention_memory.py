"""Peak memory and time of segzoo's pixel attention against plain implementations.

Position attention (DANet, arXiv:1809.02983), channel attention and the non-local block
(arXiv:1711.07971) at feature maps from 32x64 to 128x256 (1/8 of 256x512 .. 1024x2048),
batch 1, C = 512, on the CPU. The plain ("naive") implementations materialise the
(HW x HW) affinity, as the papers' reference code does. Each measurement runs in a fresh
process so its peak resident memory (ru_maxrss) is its own.

    python benchmarks/attention_memory.py            # full table (a few minutes on 2 cores)
    python benchmarks/attention_memory.py --quick    # sizes up to 64x128
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import torch

from segzoo.layers import ChannelAttention, NonLocal2d, PositionAttention
from segzoo.layers.attention import attend_reference

CHANNELS = 512


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _naive_position(module: PositionAttention, x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    q = module.query(x).flatten(2).transpose(1, 2)
    k = module.key(x).flatten(2).transpose(1, 2)
    v = module.value(x).flatten(2).transpose(1, 2)
    return module.gamma * attend_reference(q, k, v).transpose(1, 2).reshape(b, c, h, w) + x


def _naive_nonlocal(module: NonLocal2d, x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    q = module.theta(x).flatten(2).transpose(1, 2)
    k = module.phi(x).flatten(2).transpose(1, 2)
    v = module.g(x).flatten(2).transpose(1, 2)
    y = attend_reference(q, k, v).transpose(1, 2).reshape(b, -1, h, w)
    return module.norm(module.out(y)) + x


def _measure(block: str, impl: str, h: int, w: int, queue: mp.Queue) -> None:
    torch.manual_seed(0)
    module = {"position": PositionAttention, "channel": ChannelAttention, "nonlocal": NonLocal2d}[block](CHANNELS).eval()
    x = torch.randn(1, CHANNELS, h, w)
    run = {
        ("position", "naive"): lambda: _naive_position(module, x),
        ("nonlocal", "naive"): lambda: _naive_nonlocal(module, x),
    }.get((block, impl), lambda: module(x))
    with torch.inference_mode():
        before = _rss_mib()
        start = time.perf_counter()
        out = run()
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, peak - before, float(out.float().abs().sum())))


def measure(block: str, impl: str, h: int, w: int) -> tuple[float, float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(block, impl, h, w, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the two smaller sizes")
    args = parser.parse_args()
    sizes = [(32, 64), (64, 128)] + ([] if args.quick else [(128, 256)])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 1, C={CHANNELS}, fp32, CPU\n")
    print("| block | feature map | positions | impl | time (s) | peak memory growth (MiB) | same output |")
    print("|---|---|---|---|---|---|---|")
    for block in ("position", "channel", "nonlocal"):
        for h, w in sizes:
            ours = measure(block, "segzoo", h, w)
            naive = measure(block, "naive", h, w) if block != "channel" else None
            rows = [("segzoo", ours)] + ([("naive", naive)] if naive else [])
            for impl, (seconds, mib, checksum) in rows:
                same = "" if naive is None else ("yes" if abs(checksum - ours[2]) <= 1e-4 * abs(ours[2]) else "NO")
                print(f"| {block} | {h}x{w} | {h * w} | {impl} | {seconds:.2f} | {mib:.0f} | {same} |", flush=True)


if __name__ == "__main__":
    main()
