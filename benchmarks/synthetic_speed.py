"""Generation speed of the synthetic benchmarks (scene rendering and full samples).

    python benchmarks/synthetic_speed.py [--size 256 256] [--n 20]
"""

from __future__ import annotations

import argparse
import time

import torch

from segzoo.data import SyntheticPanoptic, SyntheticSemantic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256))
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)  # data loader workers run one thread each
    print(f"| what | ms per {args.size[0]}x{args.size[1]} image |\n|---|---|")
    for name, dataset, fn in [
        ("scene rendering", SyntheticPanoptic(args.n, size=tuple(args.size)), lambda d, i: d.render(i)),
        ("SyntheticSemantic sample", SyntheticSemantic(args.n, size=tuple(args.size)), lambda d, i: d[i]),
        ("SyntheticPanoptic sample", SyntheticPanoptic(args.n, size=tuple(args.size)), lambda d, i: d[i]),
    ]:
        fn(dataset, 0)
        start = time.perf_counter()
        for i in range(args.n):
            fn(dataset, i)
        print(f"| {name} | {(time.perf_counter() - start) / args.n * 1e3:.1f} |")


if __name__ == "__main__":
    main()
