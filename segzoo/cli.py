"""The ``segzoo`` command line: list, info, train, eval, predict, export, pseudo-label, bench.

Conventions of the usual CLIs (argparse, git-style subcommands): every subcommand has a
``--help``; bad arguments (unknown model or option, missing data, unwritable output) print
one ``segzoo <command>: error: ...`` line on stderr and exit with status 2; a training run
stopped by NaN losses exits with 1, an interrupted one with 130 after writing a checkpoint.
Model options are ``--set key=value`` (values read as JSON when they parse: ``--set
rpn_top_n=[60,30]``, ``--set pretrained_backbone=true``; ``a,b`` is a list); ``train`` also
takes ``--config run.json`` with the same keys (``{"model": ..., "data": ..., "set": {...}}``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

__all__ = ["main", "build_parser", "parse_value", "CLIError"]

ARG_ERRORS = (KeyError, ValueError, TypeError, FileNotFoundError, NotADirectoryError, PermissionError)


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``segzoo train: error: ... (see segzoo train --help)``)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_value(text: str) -> Any:
    """``--set`` values: JSON when it parses (numbers, true/false/null, lists), ``a,b`` -> list, else the string."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if "," in text:
        return [parse_value(part) for part in text.split(",") if part != ""]
    return text


def _key_values(pairs: Sequence[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CLIError(f"{what} takes key=value, got {pair!r}.")
        out[key.strip().replace("-", "_")] = parse_value(value)
    return out


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _writable_dir(path: str | Path) -> Path:
    """Create ``path`` and check a file can be written there."""
    import tempfile

    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".segzoo-write-test"):
            pass
    except OSError as err:
        raise CLIError(f"cannot write to the output directory {str(path)!r}: {err.strerror or err}.") from None
    return path


# ---- model loading shared by eval / predict / export / pseudo-label ---------------------------


def _load_model(args: argparse.Namespace, dataset: Any = None):
    """``--weights DIR`` (segzoo.save folder) alone, or ``--model NAME`` [+ ``--weights FILE``] [+ ``--set``]."""
    import segzoo

    from .engine.datasets import model_for_dataset

    overrides = _key_values(args.set, "--set")
    weights = Path(args.weights) if args.weights else None
    if weights is not None and not weights.exists():
        raise CLIError(f"weights {str(weights)!r} not found.")
    if weights is not None and weights.is_dir() and (weights / "config.json").is_file() and not overrides:
        model = segzoo.load(weights)
        if args.model and model.segzoo_config["name"] != args.model:
            raise CLIError(f"{weights} holds a {model.segzoo_config['name']!r} model, not {args.model!r}.")
        return model
    if not args.model:
        raise CLIError("pass --model NAME (or --weights DIR written by segzoo.save / segzoo train).")
    if weights is None:
        logging.getLogger("segzoo").warning("No --weights given: %s is randomly initialised.", args.model)
    return model_for_dataset(args.model, overrides, dataset, weights=str(weights) if weights else None)


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ---- commands ---------------------------------------------------------------------------------


def _cmd_list(args: argparse.Namespace) -> int:
    from .factory import list_models, model_info

    names = list_models(args.pattern, task=args.task)
    if not names:
        print(f"No model matches {args.pattern!r}" + (f" for task {args.task!r}" if args.task else "") + ".")
        return 1
    width = max(len(n) for n in names)
    for name in names:
        info = model_info(name)
        print(f"{name:<{width}}  {info['task']:<9}  {info['description']}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .factory import model_info

    print(json.dumps(model_info(args.name), indent=2, default=repr))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .engine.commands import run_train

    return run_train(args)


def _cmd_eval(args: argparse.Namespace) -> int:
    from .engine.commands import run_eval

    return run_eval(args)


def _cmd_predict(args: argparse.Namespace) -> int:
    from .engine.commands import run_predict

    return run_predict(args)


def _cmd_export(args: argparse.Namespace) -> int:
    from .engine.commands import run_export

    return run_export(args)


def _cmd_pseudo_label(args: argparse.Namespace) -> int:
    from .engine.commands import run_pseudo_label

    return run_pseudo_label(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    import shlex

    from .bench.command import run_from_args

    return run_from_args(args, command=" ".join(["segzoo", *map(shlex.quote, sys.argv[1:])]))


def _model_args(p: argparse.ArgumentParser, *, weights_help: str) -> None:
    p.add_argument("--model", help="registered recipe (segzoo list); optional with --weights DIR")
    p.add_argument("--weights", help=weights_help)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option override (repeatable)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default)")


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model", description="Train a model with segzoo's Trainer (docs/training.md).")
    p.add_argument("--config", help="JSON file with any of these options as keys (flags given here win)")
    p.add_argument("--model", help="registered recipe (segzoo list)")
    p.add_argument("--data", help="training data KIND:ROOT, KIND in synthetic[:N], synthetic-panoptic[:N], "
                   "coco-panoptic, ade20k, cityscapes, voc, folder")
    p.add_argument("--val", help="validation data KIND:ROOT (default: the val split of --data; none for folder)")
    p.add_argument("--no-val", action="store_true", help="train without evaluation")
    p.add_argument("--train-split", help="dataset split for training (default per dataset)")
    p.add_argument("--val-split", help="dataset split for validation (default per dataset)")
    p.add_argument("--out", default="runs/segzoo", help="output directory (checkpoints, metrics.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last if it exists")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option, e.g. --set backbone=tiny (repeatable)")
    p.add_argument("--train-opt", action="append", metavar="KEY=VALUE", help="any TrainConfig field, e.g. --train-opt power=1.0")
    p.add_argument("--weights", help="initial weights (file or segzoo.save folder), e.g. for fine-tuning")
    p.add_argument("--iters", type=int, help="iterations (optimiser steps); default 1000")
    p.add_argument("--batch-size", type=int, help="images per step and process; default 8")
    p.add_argument("--optimizer", choices=["sgd", "adamw"])
    p.add_argument("--lr", type=float, help="base learning rate (head: x --head-lr-mult)")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--head-lr-mult", type=float)
    p.add_argument("--schedule", choices=["poly", "step", "cosine", "constant"])
    p.add_argument("--step-size", type=int, help="iterations between x0.1 drops (step schedule)")
    p.add_argument("--warmup-iters", type=int)
    p.add_argument("--amp", choices=["bf16", "fp16"], help="mixed precision (CPU and CUDA)")
    p.add_argument("--clip-grad", type=float, help="clip the gradient norm to this")
    p.add_argument("--accumulate", type=int, help="batches per optimiser step")
    p.add_argument("--ema", type=float, metavar="DECAY", help="keep an EMA of the weights (evaluated and saved)")
    p.add_argument("--batch-scales", type=_floats, metavar="LOW,HIGH", help="rescale each batch by a random factor in this range")
    p.add_argument("--crop", type=_ints, metavar="H[,W]", help="random crop size (default per dataset; none for synthetic)")
    p.add_argument("--scale-range", type=_floats, metavar="LOW,HIGH",
                   help="per-image random resize range (default 0.5,2.0; none for synthetic)")
    p.add_argument("--base-size", type=int, help="short side at scale 1 for the random resize")
    p.add_argument("--synthetic-size", type=int, default=96, help="image size of the synthetic sets (default 96)")
    p.add_argument("--eval-every", type=int, help="evaluate every N iterations (default: at the end)")
    p.add_argument("--checkpoint-every", type=int, help="write OUT/last every N iterations (default 500)")
    p.add_argument("--log-every", type=int, help="metrics.jsonl record every N iterations (default 1)")
    p.add_argument("--best-metric", help="metric that picks OUT/best (default mIoU, PQ for panoptic)")
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int, help="data loader worker processes (default 0)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm under torchrun on GPUs")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default; under torchrun cuda:LOCAL_RANK)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    from .version import __version__

    parser = _Parser(prog="segzoo", description="segzoo: segmentation model zoo.")
    parser.add_argument("--version", action="version", version=f"segzoo {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p_list = sub.add_parser("list", help="list registered models")
    p_list.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'deeplab*'")
    p_list.add_argument("--task", choices=["semantic", "panoptic"], default=None)
    p_list.set_defaults(func=_cmd_list)
    p_info = sub.add_parser("info", help="show a model's defaults, paper and weights")
    p_info.add_argument("name")
    p_info.set_defaults(func=_cmd_info)
    _train_parser(sub)

    p = sub.add_parser("eval", help="evaluate weights on a dataset", description="Evaluate a model; prints the metrics as JSON.")
    _model_args(p, weights_help="segzoo.save folder (e.g. runs/x/best) or weights file with --model")
    p.add_argument("--data", required=True, help="KIND:ROOT (its validation split unless --split)")
    p.add_argument("--split", help="dataset split (default: validation)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--tta-scales", type=_floats, metavar="S,S,...", help="test-time scales (semantic models)")
    p.add_argument("--flip", action="store_true", help="add flipped copies to the test-time augmentation")
    p.add_argument("--amp", choices=["bf16", "fp16"])
    p.add_argument("--synthetic-size", type=int, default=96)
    p.add_argument("--out", help="also write the metrics to this JSON file")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("predict", help="segment images", description="Write label PNGs (panoptic: COCO PNG + JSON) and overlays.")
    _model_args(p, weights_help="segzoo.save folder, or weights file with --model")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--tta-scales", type=_floats, metavar="S,S,...", help="test-time scales (semantic labels)")
    p.add_argument("--flip", action="store_true", help="add flipped copies to the test-time augmentation")
    p.add_argument("--palette", default=None, help="voc, cityscapes, ade20k, coco, synthetic (default: by task)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity")
    p.add_argument("--no-overlay", action="store_true", help="skip the overlay images")
    p.add_argument("--attention", action="store_true", help="also write the scale fuser's attention maps (multi-scale models)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("export", help="export a model",
                       description="Export with segzoo.export (TorchScript, ONNX, torch.export).")
    _model_args(p, weights_help="segzoo.save folder, or weights file with --model")
    p.add_argument("--format", required=True, choices=["torchscript", "onnx", "torch-export"])
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--size", type=_ints, default=(512, 512), metavar="H,W", help="example input size (default 512,512)")
    p.add_argument("--allow-undeclared", action="store_true", help="try a format the model does not declare (unverified)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("pseudo-label", help="label images with a teacher",
                       description="Write pseudo labels (images/ + masks/) with TTA.")
    _model_args(p, weights_help="segzoo.save folder, or weights file with --model")
    p.add_argument("images", nargs="*", help="image files or folders (or use --data)")
    p.add_argument("--data", help="KIND:ROOT to label instead of image files (its training split)")
    p.add_argument("--synthetic-size", type=int, default=96)
    p.add_argument("--out", required=True, help="output directory (gets images/ and masks/)")
    p.add_argument("--tta-scales", type=_floats, default=(1.0,), metavar="S,S,...")
    p.add_argument("--no-flip", action="store_true", help="no flipped copies")
    p.add_argument("--threshold", type=float, help="ignore (255) pixels whose top probability is below this")
    p.set_defaults(func=_cmd_pseudo_label)

    from .bench.command import add_bench_arguments

    p = sub.add_parser("bench", help="benchmark recipes (latency, FLOPs, memory; --accuracy)",
                       description="Time segzoo recipes (latency, throughput, FLOPs, memory, fraction of GEMM peak) and "
                       "write CSV/JSON/Markdown; --accuracy trains and evaluates on the synthetic benchmark. "
                       "See docs/benchmarks.md.")  # fmt: skip
    add_bench_arguments(p)
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``segzoo`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors (already printed)
        return int(stop.code or 0)
    if args.command not in ("list", "info"):
        logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    prog = f"segzoo {args.command}"
    try:
        return args.func(args)
    except CLIError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except ARG_ERRORS as err:
        if args.command not in ("list", "info", "bench"):  # the other commands sort user errors out during set-up
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: the commands import segzoo.cli,
    # and its CLIError must be the class main() catches.
    from segzoo.cli import main as _main

    sys.exit(_main())
