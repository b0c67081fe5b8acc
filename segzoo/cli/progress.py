"""The progress bar rule of every command: tqdm on stderr, off with ``--no-progress`` or when
stdout is not a terminal (piped or redirected output stays clean)."""

from __future__ import annotations

import sys
from typing import Any, Iterable

__all__ = ["progress_enabled", "progress"]


def progress_enabled(no_progress: bool) -> bool:
    """Whether to show a bar: not disabled and stdout is a terminal."""
    return not no_progress and sys.stdout.isatty()


def progress(iterable: Iterable, *, enabled: bool, total: int | None = None, desc: str = "", unit: str = "it") -> Any:
    """``tqdm(iterable)`` when ``enabled``, else the iterable itself."""
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True)
