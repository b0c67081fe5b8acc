"""Run logs: a JSON-lines file of per-step metrics, one voice per distributed run, and graceful interruption.

``metrics.jsonl`` holds one JSON object per line, ``{"type": "train" | "eval", "step": ...,
...}``, the format TensorBoard-free tools (pandas ``read_json(lines=True)``) plot directly;
it is the same idea as Detectron2's ``JSONWriter``. On resume, records past the restored
step are dropped so the file stays one consistent history.

:class:`GracefulInterrupt` turns the first SIGINT / SIGTERM into a flag the training loop
checks between iterations (it then writes a checkpoint and stops); a second signal
interrupts at once.

Every process of a distributed run executes the same code, so each would log each line
(``torchrun --nproc_per_node=2`` printed every evaluation twice): :func:`quiet_other_ranks`
keeps warnings and errors only on the processes other than rank 0 (Detectron2's
``setup_logger`` likewise prints on rank 0 only); rank 0 also writes every file (see
:class:`segzoo.engine.Trainer`).
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
from pathlib import Path
from typing import Any

__all__ = ["JsonlWriter", "GracefulInterrupt", "quiet_other_ranks"]

log = logging.getLogger(__name__)


def _clean(value: Any) -> Any:
    """JSON-safe values: NaN/Inf become None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def quiet_other_ranks(rank: int) -> None:
    """On a process of rank other than 0, segzoo's loggers keep warnings and errors only (rank 0 speaks for all).

    The level of the ``segzoo`` logger is only raised, never lowered: a quieter setting stays.
    """
    if rank == 0:
        return
    logger = logging.getLogger("segzoo")
    if logger.level < logging.WARNING:  # NOTSET (0) included: the root logger's level would apply
        logger.setLevel(logging.WARNING)


class JsonlWriter:
    """Appends records to a ``.jsonl`` file (a no-op writer when ``path`` is None)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None

    def truncate_after(self, step: int) -> None:
        """Drop the records of steps after ``step`` (left over from an interrupted run)."""
        if self.path is None or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except ValueError:  # a line cut short by the interruption
                continue
        self.path.write_text("".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(_clean(record), sort_keys=False) + "\n")


class GracefulInterrupt:
    """Context manager: while active, SIGINT/SIGTERM set ``requested`` instead of stopping the process."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:
        if self.requested:  # second signal: stop now
            raise KeyboardInterrupt
        self.requested = True
        log.warning("Interrupt received: stopping after this iteration and writing a checkpoint (again to force).")

    def __enter__(self) -> "GracefulInterrupt":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
