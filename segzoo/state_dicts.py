"""Weight files to state dicts, and state dicts into modules: the one loader of segzoo.

Whole models (``segzoo.load``, ``build(weights=...)``) and backbones (ImageNet checkpoints of
timm and torchvision, local files) read and load through these two functions, so every
weights error names the file and lists the missing, unexpected and mis-shaped keys the same way.

- :func:`read_state_dict`: a safetensors file (or, when allowed, a PyTorch state dict read with
  ``torch.load(weights_only=True)``, which can't run code) -> ``{name: tensor}`` on the CPU,
  with an optional sha256 check.
- :func:`load_state`: strict loading with the adaptations a user expects, each one opt-in:
  a key prefix stripped, the upstream classification head dropped (keys under top-level
  modules the target doesn't have), the classifier dropped on a class-count change (with a
  warning), the stem convolution adapted to another input-channel count (timm's
  ``adapt_input_conv``), optional key prefixes. Nothing is loaded when anything else differs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .errors import WeightsError

__all__ = ["read_state_dict", "as_state_dict", "load_state", "LoadReport", "sha256_of", "file_digest", "AUTO_STEM"]

log = logging.getLogger(__name__)

AUTO_STEM = "auto"  # stem_key: the module's first 4-D weight (the stem convolution of every segzoo model)
_SHOW = 10  # keys listed per kind in error messages


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    return file_digest(path, "sha256")


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    """Hex digest of a file with a ``hashlib`` algorithm (``"sha256"``, or ``"md5"`` for Detectron2's file names)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(
    path: str | os.PathLike,
    *,
    sha256: str | None = None,
    allow_pth: bool = False,
    error: type[WeightsError] = WeightsError,
    fix: str = "",
    cli_fix: str = "",
) -> dict[str, torch.Tensor]:
    """Read a weights file into a ``{name: tensor}`` dict on the CPU.

    Args:
        path: a ``.safetensors`` file; with ``allow_pth`` also a PyTorch state dict (``.pth``,
            ``.pt``, ``.bin``), possibly wrapped as ``{"state_dict": ...}`` or ``{"model": ...}``.
        sha256: the expected hex digest; a mismatch raises ``error``.
        error: the error class of the caller's layer (:class:`WeightsError` or a subclass).
        fix, cli_fix: advice for an unreadable file (Python and command line).

    A missing file raises ``FileNotFoundError`` naming it; a corrupt, truncated or foreign file
    raises ``error`` naming it and saying which formats are read.
    """
    file = Path(os.fspath(path)).expanduser()
    if not file.is_file():
        formats = "a .safetensors file or a .pth state dict" if allow_pth else "a .safetensors file"
        raise FileNotFoundError(f"No weights file at '{file}'; pass the path of {formats}.")
    if sha256 is not None:
        actual = sha256_of(file)
        if actual != sha256.lower():
            raise error(
                f"{file}: sha256 is {actual}, expected {sha256}. The file is corrupt or not the one published; "
                "delete it and download it again."
            )
    pickled = allow_pth and file.suffix != ".safetensors"
    try:
        if pickled:
            obj: object = torch.load(str(file), map_location="cpu", weights_only=True)
        else:
            from safetensors.torch import load_file

            obj = load_file(str(file), device="cpu")
    except Exception as err:  # safetensors and torch raise their own error types and OSError
        expected = "a safetensors file or a PyTorch state dict (torch.save(state_dict, path))" if allow_pth else (
            "a safetensors file; segzoo reads only safetensors"
        )  # fmt: skip
        raise error(
            f"{file}: not a readable {'weights' if allow_pth else 'safetensors'} file ({type(err).__name__}: {err}). It may be truncated or corrupt; "
            f"expected {expected}.",
            fix=fix,
            cli_fix=cli_fix,
        ) from err
    return as_state_dict(obj, file, error)


def as_state_dict(obj: object, file: Path, error: type[WeightsError] = WeightsError) -> dict[str, torch.Tensor]:
    """A loaded checkpoint's ``{name: tensor}`` dict, unwrapped from ``{"state_dict": ...}`` or
    ``{"model": ...}`` (training checkpoints, Detectron2's files); anything else raises ``error``."""
    if isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise error(
            f"Weights file '{file}' does not hold a state dict (a non-empty mapping of names to tensors, "
            f"possibly under 'state_dict' or 'model'); found {type(obj).__name__}."
        )
    return dict(obj)


@dataclass
class LoadReport:
    """What :func:`load_state` changed on the way: keys it did not load and keys it adapted."""

    dropped_heads: list[str] = field(default_factory=list)  # class-count change: left randomly initialised
    ignored: list[str] = field(default_factory=list)  # the upstream classification head (not in the target)
    adapted: list[str] = field(default_factory=list)  # stem weights adapted to another input-channel count


def _list(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    return shown + (f" ... ({len(keys) - _SHOW} more)" if len(keys) > _SHOW else "")


def _stem(own: Mapping[str, torch.Tensor], stem_key: str | None) -> str | None:
    if stem_key != AUTO_STEM:
        return stem_key
    return next((key for key, value in own.items() if value.ndim == 4), None)


def _is_head_key(key: str, head_names: tuple[str, ...]) -> bool:
    """Whether a parameter belongs to a class-producing layer (a module named ``*classifier`` or in ``head_names``)."""
    return any(part in head_names or part.endswith("classifier") for part in key.split(".")[:-1])


def load_state(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    target: str | None = None,
    strip_prefix: str = "",
    ignore_foreign_roots: bool = False,
    class_heads: Iterable[str] | None = None,
    stem_key: str | None = None,
    optional: Iterable[str] = (),
    allow_missing_counters: bool = False,
    warn_adapted: bool = True,
    error: type[WeightsError] = WeightsError,
    fix: str = "",
    cli_fix: str = "",
) -> LoadReport:
    """Load ``state`` into ``module`` in place, strictly apart from the adaptations asked for.

    Args:
        source: what ``state`` came from, for messages (``"Weights file '...'"``).
        target: what ``module`` is, for messages (default: its class name).
        strip_prefix: removed from every key when all keys carry it (a file saved from a
            wrapper whose ``module`` is an attribute, e.g. ``"model."``).
        ignore_foreign_roots: keys under a top-level name ``module`` has no weights under are
            an upstream classification head (``fc.*``, ``classifier.*``): ignored, logged.
        class_heads: names of class-producing modules (``*classifier`` always counts); their
            weights are dropped with a warning when only the class dimension differs.
        stem_key: the weight of the convolution reading the image (``AUTO_STEM``: the first
            4-D weight); a different input-channel count is adapted (summed for one channel,
            tiled and rescaled otherwise) with a warning.
        optional: key prefixes that may be missing from ``state`` (left as initialised).
        allow_missing_counters: BatchNorm's ``num_batches_tracked`` may be missing (it is not a
            weight; many published checkpoints omit it).
        warn_adapted: warn about an adapted stem (else it is logged).
        error, fix, cli_fix: the error class of the caller's layer and its advice.

    Raises ``error`` listing every missing, unexpected and mis-shaped key when any is found.
    """
    from timm.models import adapt_input_conv

    state = dict(state)
    if strip_prefix and all(k.startswith(strip_prefix) for k in state):
        state = {k[len(strip_prefix) :]: v for k, v in state.items()}
    own = module.state_dict()
    report = LoadReport()
    if ignore_foreign_roots:
        roots = {k.split(".", 1)[0] for k in own}
        report.ignored = sorted(k for k in state if k not in own and k.split(".", 1)[0] not in roots)
        for key in report.ignored:
            del state[key]
    heads = None if class_heads is None else tuple(class_heads)
    stem = _stem(own, stem_key)
    misshaped = []
    for key, value in list(state.items()):
        if key not in own or own[key].shape == value.shape:
            continue
        want = own[key].shape
        if heads is not None and _is_head_key(key, heads) and value.ndim == len(want) and value.shape[1:] == want[1:]:
            report.dropped_heads.append(key)
            del state[key]
        elif key == stem and value.ndim == 4 and value.shape[0] == want[0] and value.shape[2:] == want[2:]:
            state[key] = adapt_input_conv(want[1], value, base_chans=value.shape[1])
            report.adapted.append(key)
        else:
            misshaped.append(f"{key} (file {tuple(value.shape)}, model {tuple(want)})")
    optional = tuple(optional)
    missing = [
        k for k in own
        if k not in state and k not in report.dropped_heads and not (optional and k.startswith(optional))
        and not (allow_missing_counters and k.endswith("num_batches_tracked"))
    ]  # fmt: skip
    unexpected = [k for k in state if k not in own]
    if missing or unexpected or misshaped:
        parts = [
            f"{label} keys: {_list(keys)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
            if keys
        ]
        what = target or type(module).__name__
        raise error(
            f"{source} does not match {what} ({len(own)} keys expected, {len(state)} given): {'; '.join(parts)}.",
            fix=fix,
            cli_fix=cli_fix,
        )
    if report.dropped_heads:
        warnings.warn(
            f"{source}: the class count differs, so the classifier weights were not loaded and stay "
            f"randomly initialised: {_list(report.dropped_heads)}. Fine-tune the model for the new classes.",
            stacklevel=3,
        )
    if report.adapted:
        message = f"{source}: input-channel weights adapted to the model's in_chans: {_list(report.adapted)}."
        warnings.warn(message, stacklevel=3) if warn_adapted else log.info(message)
    if report.ignored:
        roots = sorted({k.split(".", 1)[0] for k in report.ignored})
        log.info("%s: ignoring %d classification-head keys under %s", source, len(report.ignored), ", ".join(roots))
    module.load_state_dict(state, strict=False)
    return report
