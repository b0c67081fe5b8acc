"""The ``segzoo`` parser and ``main``: subcommands, logging, and errors mapped to exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from ..version import __version__
from . import bench, convert, evaluate, export, info, list_cmd, predict, pseudo_label, train
from .errors import EXIT_INTERRUPTED, EXIT_USAGE, CLIError, message_of
from .options import Parser

__all__ = ["main", "build_parser"]

COMMANDS = (list_cmd, info, train, evaluate, predict, export, convert, pseudo_label, bench)
QUIET_COMMANDS = ("list", "info")  # print only their answer: no logging set-up


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = Parser(prog="segzoo", description="segzoo: segmentation model zoo.")
    parser.add_argument("--version", action="version", version=f"segzoo {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``segzoo`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors (already printed)
        return int(stop.code or 0)
    if args.command not in QUIET_COMMANDS:
        logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    prog = f"segzoo {args.command}"
    try:
        return args.run(args)
    except CLIError as err:
        print(f"{prog}: error: {message_of(err)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; files already written are complete, none is left half-written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader closed the pipe (segzoo list | head): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes stdout
        return 0
