"""Option parsing shared by the commands: ``--set key=value``, number lists, output folders, images."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any, Sequence

from .errors import EXIT_USAGE, CLIError

__all__ = ["Parser", "parse_value", "key_values", "floats", "ints", "pair", "writable_dir", "image_files"]


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``segzoo train: error: ... (see segzoo train --help)``)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_value(text: str) -> Any:
    """``--set`` values: JSON when it parses (numbers, true/false/null, lists), ``a,b`` -> list, else the string."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if "," in text:
        return [parse_value(part) for part in text.split(",") if part != ""]
    return text


def key_values(pairs: Sequence[str] | None, what: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (dashes in keys become underscores)."""
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"{what} takes key=value, got {pair!r}.")
        out[key.strip().replace("-", "_")] = parse_value(value)
    return out


def floats(text: str) -> tuple[float, ...]:
    """argparse type: ``"0.5,1,2"`` -> ``(0.5, 1.0, 2.0)``."""
    try:
        return tuple(float(v) for v in text.split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def ints(text: str) -> tuple[int, ...]:
    """argparse type: ``"512,1024"`` -> ``(512, 1024)``."""
    try:
        return tuple(int(v) for v in text.split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def pair(values: Sequence[int] | None, flag: str) -> tuple[int, int] | None:
    """``(H,)`` or ``(H, W)`` -> ``(H, W)``; ``None`` stays ``None``."""
    if not values:
        return None
    if len(values) not in (1, 2) or min(values) <= 0:
        raise CLIError(f"{flag} takes H or H,W (positive), got {','.join(map(str, values))}.")
    return (values[0], values[-1])


def writable_dir(path: str | Path) -> Path:
    """Create ``path`` and check a file can be written there."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".segzoo-write-test"):
            pass
    except OSError as err:
        raise CLIError(f"cannot write to the output directory {str(path)!r}: {err.strerror or err}; pass another --out.") from None
    return path


def image_files(items: Sequence[str]) -> list[Path]:
    """Image files named directly or found (sorted) in the folders named; missing ones are an error."""
    from ..data import IMAGE_EXTENSIONS  # the readers' list (commands that read images import torch anyway)

    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS))
        elif path.is_file():
            files.append(path)
        else:
            raise CLIError(f"image {item!r} not found.")
    if not files:
        raise CLIError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {', '.join(items)}.")
    return files
