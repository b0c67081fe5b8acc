"""``segzoo convert``: a checkpoint another project published -> a segzoo weights folder with a model card."""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import user_errors
from .options import key_values, writable_dir

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser(
        "convert", help="convert a published checkpoint into segzoo weights",
        description="Convert a checkpoint of torchvision (and other supported projects) into a segzoo "
        "weights folder (model.safetensors, config.json, README.md model card).",
    )  # fmt: skip
    p.add_argument("source", help="the upstream checkpoint file (.pth or .safetensors)")
    p.add_argument("--to", required=True, metavar="RECIPE[.TAG]", help="the segzoo recipe, with the weights tag the file is")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe option (repeatable)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with user_errors():
        out = Path(args.out)
        writable_dir(out.parent if out.parent != Path("") else Path("."))
        overrides = key_values(args.set, "--set")
        if not Path(args.source).is_file():
            raise FileNotFoundError(f"No checkpoint file at '{args.source}'.")
    from ..engine.convert import convert_checkpoint

    with user_errors():
        result = convert_checkpoint(args.source, args.to, out, **overrides)
    print(f"converted {args.source} ({result.converter}) into {result.recipe} -> {result.out_dir}")
    return 0
