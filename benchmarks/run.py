"""The benchmark runner of ``segzoo bench`` (same code: ``segzoo.bench.main``), writing to
``benchmarks/results/`` unless ``--out`` says otherwise.

    python benchmarks/run.py                                   # the default table (7 recipes, 512x512, batch 1)
    python benchmarks/run.py fcn_r50 'deeplab*' --size 512x1024,1024x2048 --batch 1,2 --plot
    python benchmarks/run.py fcn_r50 --set backbone=tiny --size 64x64 --iters 2
    python benchmarks/run.py --accuracy --quick               # synthetic accuracy benchmark

See ``python benchmarks/run.py --help`` and docs/benchmarks.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from segzoo.cli.bench import main

RESULTS = Path(__file__).resolve().parent / "results"

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        argv += ["--out", os.path.relpath(RESULTS)]  # relative: the recorded command stays portable
    sys.exit(main(argv, prog="python benchmarks/run.py"))
