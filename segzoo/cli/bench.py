"""``segzoo bench``: time recipes (or, with ``--accuracy``, train and evaluate them) and write reports.

``add_parser`` adds the subcommand, ``add_bench_arguments(parser)`` its options to any argparse
parser; ``main(argv)`` is the whole command on its own (``python -m segzoo.bench`` and
``benchmarks/run.py`` call it). Output: the Markdown table on stdout, CSV/JSON/Markdown (and
``--plot`` PNG) files in ``--out``. Exit status 0, 1 when a row failed, 2 for a bad argument
(one ``segzoo bench: error: ...`` line on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from typing import Sequence

from .errors import EXIT_USAGE, CLIError, message_of, user_errors
from .options import Parser, key_values

__all__ = ["add_parser", "add_bench_arguments", "config_from_args", "main", "run", "run_from_args", "run_synthetic_accuracy"]

DEFAULT_MODELS_HELP = "segzoo.bench.DEFAULT_MODELS: 7 representative recipes, see docs/benchmarks.md"


def _sizes(text: str) -> list[tuple[int, int]]:
    from ..bench.defaults import parse_size  # the bench command needs torch anyway; --help does not

    try:
        return [parse_size(v) for v in text.split(",") if v]
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _csv(kind):
    def parse(text: str):
        try:
            return [kind(v) for v in text.split(",") if v]
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return parse


def add_bench_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``segzoo bench`` options to ``parser`` (returned for chaining)."""
    parser.add_argument(
        "models", nargs="*", default=None, metavar="MODEL",
        help=f"recipe names or wildcards (quote them: 'deeplab*'); default: {DEFAULT_MODELS_HELP}",
    )  # fmt: skip
    g = parser.add_argument_group("what to run")
    g.add_argument("--size", type=_sizes, action="extend", dest="sizes", metavar="HxW[,HxW]",
                   help="input sizes, e.g. 512x512,512x1024,1024x2048 (default 512x512)")  # fmt: skip
    g.add_argument("--batch", type=_csv(int), action="extend", dest="batch_sizes", metavar="N[,N]",
                   help="batch sizes (default 1)")  # fmt: skip
    g.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    g.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="autocast dtype; auto = bf16 on CUDA or a CPU with AVX512-BF16/AMX, else fp32")  # fmt: skip
    g.add_argument("--memory-format", default="channels_last", choices=("channels_last", "contiguous"))
    g.add_argument("--eager", action="store_true",
                   help="time the eager model (no BatchNorm folding) instead of segzoo.optimize's fast path")  # fmt: skip
    g.add_argument("--compile", action="store_true", help="torch.compile the model (first call compiles)")
    g.add_argument("--warmup", type=int, default=1, help="untimed iterations per row (default 1)")
    g.add_argument("--iters", type=int, default=3, help="timed iterations per row (default 3)")
    g.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's, one per core)")  # fmt: skip
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="recipe option for every model, e.g. --set backbone=tiny (values read as JSON)")  # fmt: skip
    g.add_argument("--num-classes", type=int, default=None, help="classes (default: each recipe's)")
    g.add_argument("--seed", type=int, default=0, help="seed of the weights and the input")
    g.add_argument("--gemm-size", type=int, default=2048, help="side of the square matmul that measures the GEMM peak")
    p = parser.add_argument_group("post-processing")
    p.add_argument("--tta", type=_csv(float), default=None, metavar="S[,S]",
                   help="also time test-time augmentation at these scales, e.g. 0.5,1,2")  # fmt: skip
    p.add_argument("--flip", action="store_true", help="TTA with horizontal flips")
    p.add_argument("--crf", action="store_true", help="also time a dense CRF (5 iterations) on the output")
    o = parser.add_argument_group("output")
    o.add_argument("--out", default="segzoo-bench", help="directory for the reports (default ./segzoo-bench)")
    o.add_argument("--name", default="bench", help="file stem of the reports (default bench)")
    o.add_argument("--format", type=_csv(str), default=["csv", "json", "md"], help="report formats (csv,json,md)")
    o.add_argument("--plot", action="store_true", help="also write a PNG of latency vs. parameters (and vs. accuracy with --metrics)")
    o.add_argument("--metrics", default=None, metavar="FILE.json",
                   help='known accuracy per model for the plot and the rows: {"fcn_r50": {"mIoU": 0.72}, ...}')  # fmt: skip
    o.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    a = parser.add_argument_group("accuracy")
    a.add_argument("--accuracy", action="store_true",
                   help="run the synthetic accuracy benchmark (train + evaluate small recipes) instead of timing")  # fmt: skip
    a.add_argument("--quick", action="store_true", help="with --accuracy: the few-minute budget")
    a.add_argument("--data", default=None, metavar="KIND:ROOT",
                   help="with --accuracy: train and evaluate the MODELs on a real dataset (coco-panoptic, ade20k, "
                        "cityscapes, voc, folder) instead of the synthetic benchmark; --set applies (e.g. backbone=resnet50)")  # fmt: skip
    a.add_argument("--train-iters", type=int, default=2000, help="with --data: training iterations per recipe (default 2000)")
    a.add_argument("--train-batch", type=int, default=8, help="with --data: training batch size (default 8)")
    a.add_argument("--lr", type=float, default=1e-3, help="with --data: AdamW learning rate (default 0.001)")
    return parser


def config_from_args(args: argparse.Namespace):
    """A :class:`~segzoo.bench.runner.BenchConfig` from parsed ``segzoo bench`` arguments."""
    from ..bench.runner import BenchConfig

    overrides = key_values(args.set, "--set")
    models = {"models": args.models} if args.models else {}
    return BenchConfig(
        **models,
        sizes=args.sizes or [(512, 512)],
        batch_sizes=args.batch_sizes or [1],
        device=args.device,
        precision=args.precision,
        memory_format=args.memory_format,
        fast=not args.eager,
        compile=args.compile,
        warmup=args.warmup,
        iters=args.iters,
        threads=args.threads,
        overrides=overrides,
        num_classes=args.num_classes,
        tta_scales=args.tta or (),
        tta_flip=args.flip,
        crf=args.crf,
        seed=args.seed,
        gemm_size=args.gemm_size,
    )


def load_metrics(path: str) -> dict[str, tuple[str, float]]:
    """``{"model": {"mIoU": 0.72}}`` (or ``{"model": 0.72}``) -> ``{model: (name, value)}``."""
    try:
        data = json.loads(open(path, encoding="utf-8").read())
    except FileNotFoundError:
        raise FileNotFoundError(f"--metrics file {path!r} does not exist") from None
    except ValueError as err:
        raise ValueError(f"--metrics file {path!r} is not JSON: {err}") from None
    out = {}
    for model, value in (data.items() if isinstance(data, dict) else ()):
        if isinstance(value, dict) and len(value) == 1:
            (name, v), = value.items()
        elif isinstance(value, (int, float)):
            name, v = "metric", value
        else:
            v = None
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ValueError(f'--metrics expects {{"model": {{"mIoU": 0.72}}}} or {{"model": 0.72}}; got {model!r}: {value!r}')
        out[str(model)] = (str(name), float(v))
    if not isinstance(data, dict):
        raise ValueError(f'--metrics expects a JSON object {{"model": {{"mIoU": 0.72}}}}, got {type(data).__name__}')
    return out


def run_from_args(args: argparse.Namespace, *, command: str) -> int:
    """Run ``segzoo bench`` for parsed arguments (what the ``segzoo`` CLI's subcommand calls)."""
    if getattr(args, "data", None) and not args.accuracy:
        raise ValueError("--data goes with --accuracy (segzoo bench --accuracy --data KIND:ROOT MODEL ...)")
    if args.accuracy and getattr(args, "data", None):
        import torch

        from ..bench.accuracy_data import data_accuracy_markdown, run_accuracy_on_data, write_data_accuracy
        from ..bench.fingerprint import fingerprint
        from ..bench.runner import DEFAULT_MODELS

        if args.threads:
            torch.set_num_threads(args.threads)
        result = run_accuracy_on_data(
            args.data, models=args.models or list(DEFAULT_MODELS), overrides=key_values(args.set, "--set"), iters=args.train_iters,
            batch_size=args.train_batch, lr=args.lr, device=args.device, seed=args.seed, progress=not args.no_progress,
        )  # fmt: skip
        paths = write_data_accuracy(result, args.out, command=command)
        print(data_accuracy_markdown(result, command=command, fp=fingerprint()))
        print("wrote " + ", ".join(str(p) for p in paths))
        return 0
    if args.accuracy:
        return run_synthetic_accuracy(args, command=command)
    from ..bench.report import markdown_table, write_reports
    from ..bench.runner import run_benchmark

    config = config_from_args(args)
    metrics = load_metrics(args.metrics) if getattr(args, "metrics", None) else {}
    result = run_benchmark(config, progress=not args.no_progress, command=command)
    for row in result.rows:
        if row["model"] in metrics:
            row["metric_name"], row["metric"] = metrics[row["model"]]
    print(markdown_table(result.rows))
    paths = write_reports(result, args.out, stem=args.name, formats=args.format, plot=args.plot)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 1 if any(r.get("error") for r in result.rows) else 0


def run_synthetic_accuracy(args: argparse.Namespace, *, command: str) -> int:
    """``segzoo bench --accuracy [--quick]`` (also ``benchmarks/accuracy.py``): run the synthetic accuracy
    benchmark, print its Markdown, write JSON + Markdown to ``--out``."""
    import dataclasses

    import torch

    from ..bench.accuracy import DEFAULT, QUICK, accuracy_markdown, run_accuracy, write_accuracy
    from ..bench.fingerprint import fingerprint

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    budget = QUICK if args.quick else DEFAULT
    if getattr(args, "seed", 0):
        budget = dataclasses.replace(budget, seed=args.seed)
    result = run_accuracy(budget)
    paths = write_accuracy(result, args.out, command=command)
    print(accuracy_markdown(result, command=command, fp=fingerprint()))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="benchmark recipes (latency, FLOPs, memory; --accuracy)",
                       description="Time segzoo recipes (latency, throughput, FLOPs, memory, fraction of GEMM peak) and "
                       "write CSV/JSON/Markdown; --accuracy trains and evaluates on the synthetic benchmark. "
                       "See docs/benchmarks.md.")  # fmt: skip
    add_bench_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The ``bench`` subcommand: user errors (unknown model or option, bad --metrics) are one line, exit 2."""
    with user_errors():
        return run_from_args(args, command=" ".join(["segzoo", *map(shlex.quote, sys.argv[1:])]))


def main(argv: Sequence[str] | None = None, *, prog: str = "segzoo bench") -> int:
    """``segzoo bench [MODEL ...] [options]`` on its own; returns the exit status."""
    parser = Parser(prog=prog, description="Time segzoo recipes (latency, throughput, FLOPs, memory) and write "
                    "CSV/JSON/Markdown.")  # fmt: skip
    add_bench_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        with user_errors():
            return run_from_args(args, command=" ".join([prog, *map(shlex.quote, argv)]))
    except CLIError as err:
        print(f"{prog}: error: {message_of(err)}", file=sys.stderr)
        return EXIT_USAGE
