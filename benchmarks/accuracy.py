"""The synthetic accuracy benchmark (``segzoo.bench.accuracy``; also ``segzoo bench --accuracy``).

Trains small recipes (tiny trunk, ResNet-18 / SE-ResNet-18) for a fixed budget on the seeded
synthetic scenes and evaluates them on unseen scenes: semantic baselines, SE vs no SE,
single scale vs avg/max/attention-to-scale/refine-multiscale/HMSA fusion, TTA and dense CRF,
and heuristic vs spatial-ranking vs UPSNet panoptic fusion on one trained model. Writes
``benchmarks/results/accuracy_<budget>.json`` and ``.md`` with the fingerprint and this command.

    python benchmarks/accuracy.py --quick        # a few minutes
    python benchmarks/accuracy.py                # the default budget (well under an hour on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from segzoo.cli.bench import run_synthetic_accuracy

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the few-minute budget")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: small models on a shared machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    command = "python benchmarks/accuracy.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    return run_synthetic_accuracy(args, command=command.strip())


if __name__ == "__main__":
    sys.exit(main())
