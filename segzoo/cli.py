"""The ``segzoo`` command line: ``segzoo list`` and ``segzoo info`` (more subcommands to come)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

__all__ = ["main"]


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    from .version import __version__

    parser = argparse.ArgumentParser(prog="segzoo", description="segzoo: segmentation model zoo.")
    parser.add_argument("--version", action="version", version=f"segzoo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list registered models")
    p_list.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'deeplab*'")
    p_list.add_argument("--task", choices=["semantic", "panoptic"], default=None)
    p_list.set_defaults(func=_cmd_list)
    p_info = sub.add_parser("info", help="show a model's defaults, paper and weights")
    p_info.add_argument("name")
    p_info.set_defaults(func=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``segzoo`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, TypeError) as err:
        print(f"segzoo: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
