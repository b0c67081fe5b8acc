"""The ``segzoo`` command line: list, info, train, eval, predict, export, pseudo-label, bench.

Conventions of the usual CLIs (argparse, git-style subcommands): every subcommand has a
``--help``; every error a user can cause (unknown model or option, missing or mismatched
weights, an unavailable device, no network, unreadable images or data, an unwritable output
folder) prints one ``segzoo <command>: error: ...`` line on stderr that says how to fix it
and exits with status 2; Ctrl-C exits with 130 and leaves no partial output file; a training
run stopped by NaN losses exits with 1.

One file per command (``list_cmd``, ``info``, ``train``, ``evaluate``, ``predict``,
``export``, ``pseudo_label``, ``bench``), each with ``add_parser(subparsers)`` and
``run(args)``; ``app`` builds the parser and maps errors to exit codes. Nothing here imports
torch at import time: ``segzoo --help``, ``list`` and ``info`` answer at once, the commands
that run a model import it when they start.
"""

from .app import build_parser, main
from .errors import CLIError
from .options import parse_value

__all__ = ["main", "build_parser", "parse_value", "CLIError"]
