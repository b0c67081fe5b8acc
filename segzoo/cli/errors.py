"""How the CLI reports errors: one line on stderr and exit status 2 for anything a user can fix.

:func:`user_errors` turns the exceptions of bad input into :class:`CLIError` with the advice in
command-line terms (``--weights PATH``, ``--set backbone_weights=PATH``, ``segzoo list``);
``segzoo.cli.app.main`` prints them as ``segzoo <command>: error: ...``.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from ..errors import SegzooError
from ..registry import UnknownNameError

__all__ = ["CLIError", "user_errors", "ARG_ERRORS", "EXIT_USAGE", "EXIT_INTERRUPTED"]

EXIT_USAGE = 2  # a user error (argparse's convention)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
ARG_ERRORS = (KeyError, ValueError, TypeError)  # file errors are OSError, handled on their own


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def message_of(err: BaseException) -> str:
    """The one-line message of a user error, with command-line advice where the error has it."""
    if isinstance(err, SegzooError):
        return _one_line(err.cli_message())
    if isinstance(err, UnknownNameError):
        return _one_line(str(err).replace("segzoo.list_models()", "segzoo list"))
    if isinstance(err, KeyError) and err.args:
        return _one_line(err.args[0])
    if isinstance(err, OSError) and err.filename is not None and str(err.filename) not in str(err.strerror or ""):
        return _one_line(f"{err.strerror or err}: {err.filename}")
    return _one_line(str(err) or type(err).__name__)


@contextlib.contextmanager
def user_errors(*, setup: bool = True) -> Iterator[None]:
    """Turn the errors of bad user input into :class:`CLIError`.

    ``setup=True`` (reading options, data, weights): value and type errors are the user's too.
    ``setup=False`` (while running): only files, weights and network (``OSError``, segzoo's own
    errors); any other exception is a real failure and keeps its traceback.
    """
    try:
        yield
    except CLIError:
        raise
    except SegzooError as err:
        raise CLIError(message_of(err)) from None
    except OSError as err:  # unreadable or missing files the user named, a full disk, ...
        raise CLIError(message_of(err)) from None
    except ARG_ERRORS as err:
        if not setup:
            raise
        raise CLIError(message_of(err)) from None
