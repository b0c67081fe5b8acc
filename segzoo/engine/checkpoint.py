"""Training checkpoints: segzoo weights (safetensors + config.json) plus the trainer's state.

The usual contents of a resumable checkpoint (Detectron2's ``Checkpointer``, the PyTorch
"saving and loading a general checkpoint" recipe): model weights, optimiser, scheduler,
gradient-scaler and EMA state, the iteration and data position, and the RNG states. Layout
of one checkpoint directory::

    model.safetensors, config.json    segzoo.save(model): loadable with segzoo.load(dir)
    ema/                              segzoo.save(ema model), when EMA is on
    trainer.pt                        torch.save of the rest (loadable with weights_only=True)
    metrics.json                      the last evaluation, when there was one

A checkpoint is written to a temporary directory and swapped into place (old -> ``.<name>.old``,
new -> ``<name>``, old removed), so an interruption at any moment leaves a complete
checkpoint: :func:`find_checkpoint` falls back to the ``.old`` one if the swap was cut short.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..files import atomic_write
from ..weights import CONFIG_ATTR, CONFIG_FILE, WEIGHTS_FILE, load_weights_file, save

__all__ = ["TRAINER_FILE", "EMA_DIR", "save_checkpoint", "load_checkpoint", "find_checkpoint", "CheckpointError"]

TRAINER_FILE = "trainer.pt"
EMA_DIR = "ema"
METRICS_FILE = "metrics.json"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, incomplete, or written for another model."""


def save_checkpoint(
    directory: str | Path,
    *,
    model: nn.Module,
    state: dict[str, Any] | None = None,
    ema_model: nn.Module | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory (replacing an existing one only once the new one is complete).

    Args:
        directory: e.g. ``out/last`` or ``out/best``.
        model: a model made by ``segzoo.build`` (not a DDP wrapper).
        state: the trainer state for ``trainer.pt`` (tensors and plain Python values).
        ema_model: the averaged model, saved to ``ema/``.
        metrics: written to ``metrics.json``.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a checkpoint is an ordinary folder
    try:
        save(model, tmp)
        if ema_model is not None:
            save(ema_model, tmp / EMA_DIR)
        if state is not None:
            atomic_write(tmp / TRAINER_FILE, lambda path: torch.save(state, path))
        if metrics is not None:
            text = json.dumps(metrics, indent=2, sort_keys=True, default=float) + "\n"
            atomic_write(tmp / METRICS_FILE, lambda path: Path(path).write_text(text))
        old = directory.parent / f".{directory.name}.old"
        if old.exists():
            shutil.rmtree(old)
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def find_checkpoint(directory: str | Path) -> Path | None:
    """``directory`` if it holds a complete checkpoint, else its ``.old`` twin from a cut-short swap, else None."""
    directory = Path(directory)
    for candidate in (directory, directory.parent / f".{directory.name}.old"):
        if (candidate / WEIGHTS_FILE).is_file() and (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


def load_checkpoint(directory: str | Path, *, model: nn.Module, ema_model: nn.Module | None = None) -> dict[str, Any]:
    """Load the weights of a checkpoint into ``model`` (and ``ema_model``); return the trainer state.

    Raises :class:`CheckpointError` when there is no checkpoint, when it lacks the trainer
    state, or when it was written for another recipe or other options than ``model``'s.
    """
    found = find_checkpoint(directory)
    if found is None:
        raise CheckpointError(
            f"No checkpoint in {str(directory)!r} (expected {WEIGHTS_FILE} and {CONFIG_FILE}); "
            "start without resume, or point to the run's output directory."
        )
    config = json.loads((found / CONFIG_FILE).read_text())
    own = getattr(model, CONFIG_ATTR, None)
    if own is not None:
        written = {"name": config.get("name"), "overrides": config.get("overrides")}
        mine = json.loads(json.dumps({"name": own["name"], "overrides": own["overrides"]}))  # tuples -> lists
        if written != mine:
            raise CheckpointError(
                f"The checkpoint in {found} was written for {written['name']!r} with {written['overrides']}, but the "
                f"model to resume is {mine['name']!r} with {mine['overrides']}. Resume with the same model options, "
                "or use another output directory."
            )
    trainer_path = found / TRAINER_FILE
    if not trainer_path.is_file():
        raise CheckpointError(
            f"{found} has weights but no {TRAINER_FILE} (a best-model or exported directory?); resume needs the "
            "'last' checkpoint of a run. Load the weights alone with segzoo.load(dir)."
        )
    load_weights_file(model, found / WEIGHTS_FILE)
    if ema_model is not None:
        ema_dir = found / EMA_DIR
        if not (ema_dir / WEIGHTS_FILE).is_file():
            raise CheckpointError(f"{found} has no EMA weights ({EMA_DIR}/) but the trainer uses EMA; resume with ema off.")
        load_weights_file(ema_model, ema_dir / WEIGHTS_FILE)
    return torch.load(trainer_path, map_location="cpu", weights_only=True)
