"""Atomic file writes: a temporary file beside the target, fsync, then rename.

Every file segzoo writes (weights, configs, checkpoints, predictions, reports) goes through
:func:`atomic_write`, so an interrupted or failed write (Ctrl-C, a full disk, an exception
in the writer) leaves the previous file intact and no half-written file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        # After the writer: mkstemp makes owner-only files and some writers (safetensors' save_file)
        # replace the file they are given, so the mode is set on what was written. Saved outputs are
        # ordinary files (0o666 minus the umask).
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
