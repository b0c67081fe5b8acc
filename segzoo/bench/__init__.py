"""Benchmarks: the ``segzoo bench`` runner, the fast inference path and the synthetic accuracy benchmark.

>>> from segzoo.bench import optimize, run_benchmark, BenchConfig
>>> fast = optimize(model)                                   # BN folded, channels-last, autocast, verified
>>> fast.segzoo_optimize.agreement                           # argmax agreement with the fp32 model
>>> result = run_benchmark(BenchConfig(models=["fcn_r50"], sizes=[(512, 1024)]))

The command line is ``segzoo bench`` (:mod:`segzoo.cli.bench`; also ``python -m segzoo.bench``).
"""

from .defaults import DEFAULT_MODELS, parse_size
from .fingerprint import cpu_supports_bf16, fingerprint
from .flops import count_flops, gemm_peak
from .optimize import OptimizeReport, optimize
from .report import markdown_table, write_reports
from .runner import COLUMNS, BenchConfig, BenchResult, run_benchmark

__all__ = [
    "BenchConfig",
    "BenchResult",
    "COLUMNS",
    "DEFAULT_MODELS",
    "OptimizeReport",
    "count_flops",
    "cpu_supports_bf16",
    "fingerprint",
    "gemm_peak",
    "markdown_table",
    "optimize",
    "parse_size",
    "run_benchmark",
    "write_reports",
]
