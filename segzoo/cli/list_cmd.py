"""``segzoo list [PATTERN] [--task T]``: every recipe with its task and first sentence (no torch import)."""

from __future__ import annotations

import argparse

from ..catalog import find_recipe, list_recipes

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list registered models", description="List the recipes (segzoo info NAME for one).")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'deeplab*'")
    p.add_argument("--task", choices=["semantic", "panoptic"], default=None)
    p.add_argument("--pretrained", action="store_true", help="only recipes with published weights")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    names = list_recipes(args.pattern, task=args.task)
    if args.pretrained:
        names = [n for n in names if find_recipe(n).weights]
    if not names:
        what = " with published weights" if args.pretrained else ""
        print(f"No model{what} matches {args.pattern!r}" + (f" for task {args.task!r}" if args.task else "") + ".")
        return 1
    width = max(len(n) for n in names)
    for name in names:  # one line per recipe (grep-able), the whole first sentence: never cut
        record = find_recipe(name)
        weights = f" [weights: {', '.join(record.weights)}]" if record.weights else ""
        print(f"{name:<{width}}  {record.task:<9}  {record.description}{weights}")
    return 0
