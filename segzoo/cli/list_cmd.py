"""``segzoo list [PATTERN] [--task T] [--pretrained] [--backbones]``: every recipe with its task and first
sentence, or (``--backbones``) every backbone with its family and ImageNet weights (no torch import)."""

from __future__ import annotations

import argparse
import fnmatch

from ..catalog import backbone_catalog, find_recipe, list_recipes
from .errors import CLIError

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list registered models", description="List the recipes (segzoo info NAME for one).")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'deeplab*'")
    p.add_argument("--task", choices=["semantic", "panoptic"], default=None)
    p.add_argument("--pretrained", action="store_true", help="only recipes with published weights (with "
                   "--backbones: only backbones with ImageNet weights)")  # fmt: skip
    p.add_argument("--backbones", action="store_true", help="list the backbones (segzoo info NAME for one) instead "
                   "of the recipes")  # fmt: skip
    p.set_defaults(run=run)


def _run_backbones(args: argparse.Namespace) -> int:
    if args.task:
        raise CLIError("--task selects recipes; backbones have no task (drop --task or --backbones).")
    records = [r for n, r in backbone_catalog().items() if fnmatch.fnmatchcase(n, args.pattern)]
    if args.pretrained:
        records = [r for r in records if r.weights]
    if not records:
        what = " with ImageNet weights" if args.pretrained else ""
        print(f"No backbone{what} matches {args.pattern!r}.")
        return 1
    width = max(len(r.name) for r in records)
    family = max(len(r.family) for r in records)
    for r in records:  # one line per backbone, as for recipes; the ImageNet weights follow the description
        weights = f" [imagenet: {r.weights.name} ({r.weights.source})]" if r.weights else ""
        print(f"{r.name:<{width}}  {r.family:<{family}}  {r.description}{weights}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.backbones:
        return _run_backbones(args)
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
