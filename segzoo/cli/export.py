"""``segzoo export``: a model to TorchScript, ONNX or torch.export through ``segzoo.export``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import user_errors
from .models import add_model_arguments, load_model, resolve_device
from .options import ints, pair, writable_dir

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a model", description="Export with segzoo.export (TorchScript, ONNX, torch.export).")
    add_model_arguments(p, weights_help="segzoo.save folder, or weights file with --model")
    p.add_argument("--format", required=True, choices=["torchscript", "onnx", "torch-export"])
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--size", type=ints, default=(512, 512), metavar="H,W", help="example input size (default 512,512)")
    p.add_argument("--allow-undeclared", action="store_true", help="try a format the model does not declare (unverified)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with user_errors():
        size = pair(args.size, "--size")
        out = Path(args.out)
        writable_dir(out.parent)
    from ..export import export

    with user_errors():
        model = load_model(args).to(resolve_device(args.device)).eval()
    with user_errors():  # e.g. a format the model does not declare, or the export extra missing
        result = export(model, out, format=args.format, example_size=size, allow_undeclared=args.allow_undeclared)
    print(f"exported {args.format} to {result if isinstance(result, (str, Path)) else out}")
    return 0
