"""Loading a backbone's ImageNet weights from a local file, for machines without network.

Shared by the timm backbones (ResNet, arXiv:1512.03385; HRNet, arXiv:1908.07919; ...) and
VGG16 LargeFOV (arXiv:1412.7062). A file is either safetensors or a PyTorch state dict
(read with ``torch.load(weights_only=True)``). Two layouts are accepted:

* the upstream classification checkpoint (timm's ``model.safetensors`` from the Hugging
  Face hub, torchvision's ``vgg16-397923af.pth``): keys under top-level modules the
  backbone doesn't have (``fc.*``, ``classifier.*``, ``conv_head.*``, HRNet's
  ``incre_modules.*`` ...) belong to the classification head and are dropped;
* the state dict of the segzoo backbone itself (``backbone.state_dict()``).

Everything else is strict: missing, unexpected and mis-shaped keys are reported together.
A 3-channel stem is adapted to other ``in_chans`` like timm's ``adapt_input_conv`` (sum
for one channel, repeat and rescale for more).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Mapping

import torch
from torch import nn

from .errors import BackboneWeightsError

__all__ = ["read_state_dict", "load_local_weights", "load_state"]

logger = logging.getLogger(__name__)

_SHOW = 8  # keys listed per kind in error messages


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a safetensors file or a PyTorch state dict into a ``{name: tensor}`` dict on CPU.

    A missing file raises ``FileNotFoundError`` naming it; an unreadable one raises
    :class:`BackboneWeightsError` naming it.
    """
    file = Path(os.fspath(path)).expanduser()
    if not file.is_file():
        raise FileNotFoundError(
            f"Backbone weights file not found: '{file}'. Pass the path of an existing "
            f".safetensors file or a .pth state dict (torch.save(model.state_dict(), path))."
        )
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: object = load_file(str(file), device="cpu")
        else:
            obj = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated or not a weights file at all
        raise BackboneWeightsError(
            f"Could not read backbone weights file '{file}' ({type(e).__name__}: {e}). Expected a "
            f"safetensors file (*.safetensors) or a PyTorch state dict saved with torch.save(state_dict, path)."
        ) from e
    return _as_state_dict(obj, file)


def _as_state_dict(obj: object, file: Path) -> dict[str, torch.Tensor]:
    # Training checkpoints often wrap the weights: {"state_dict": {...}, "epoch": ...}.
    if isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise BackboneWeightsError(
            f"Weights file '{file}' does not hold a state dict (a non-empty mapping of names to tensors, "
            f"possibly under 'state_dict' or 'model'); found {type(obj).__name__}."
        )
    return dict(obj)


def load_local_weights(
    module: nn.Module,
    path: str | os.PathLike,
    *,
    backbone: str,
    stem_key: str | None = None,
    strip_prefix: str = "",
    optional: Iterable[str] = (),
) -> None:
    """Load the weights in the file ``path`` into ``module``; see :func:`load_state`."""
    load_state(
        module,
        read_state_dict(path),
        backbone=backbone,
        source=f"Weights file '{os.fspath(path)}'",
        stem_key=stem_key,
        strip_prefix=strip_prefix,
        optional=optional,
    )


def load_state(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    backbone: str,
    source: str,
    stem_key: str | None = None,
    strip_prefix: str = "",
    optional: Iterable[str] = (),
) -> None:
    """Load ``state`` into ``module`` (in place), strictly apart from classifier keys.

    Args:
        module: the module whose ``state_dict`` keys ``state`` must provide.
        state: the weights, e.g. from :func:`read_state_dict`.
        backbone: registry name, for error messages.
        source: what ``state`` came from, for error messages (``"Weights file '...'"``).
        stem_key: name of the first conv's weight; a 3-channel weight is adapted to the
            module's input channels.
        strip_prefix: removed from every key when all keys carry it (a file saved from a
            wrapper whose ``module`` is an attribute, e.g. ``"model."``).
        optional: key prefixes that may be absent from ``state`` (left as initialised).
    """
    state = dict(state)
    if strip_prefix and all(k.startswith(strip_prefix) for k in state):
        state = {k[len(strip_prefix) :]: v for k, v in state.items()}
    own = module.state_dict()
    optional = tuple(optional)

    # Keys under a top-level name the module has no weights under are the classifier's.
    own_roots = {k.split(".", 1)[0] for k in own}
    dropped = sorted(k for k in state if k not in own and k.split(".", 1)[0] not in own_roots)
    unexpected = sorted(k for k in state if k not in own and k not in dropped)
    # BatchNorm's step counter is not a weight; many published checkpoints omit it.
    missing = sorted(
        k for k in own if k not in state and not k.endswith("num_batches_tracked") and not k.startswith(optional)
    )

    if stem_key is not None and stem_key in state and stem_key in own:
        have, want = state[stem_key], own[stem_key]
        if have.ndim == 4 and want.ndim == 4 and have.shape[1] == 3 and want.shape[1] != 3:
            from timm.models import adapt_input_conv

            state[stem_key] = adapt_input_conv(want.shape[1], have)
    mismatched = sorted(
        f"{k}: given {tuple(state[k].shape)} vs backbone {tuple(own[k].shape)}"
        for k in state
        if k in own and state[k].shape != own[k].shape
    )

    if missing or unexpected or mismatched:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mismatched)):
            if keys:
                more = f", ... ({len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
                parts.append(f"{len(keys)} {label}: {', '.join(keys[:_SHOW])}{more}")
        raise BackboneWeightsError(
            f"{source} does not match backbone {backbone!r} "
            f"({len(own)} keys expected, {len(state)} given). " + "; ".join(parts) + ". "
            f"Pass the ImageNet checkpoint of the same architecture (timm / torchvision layout) "
            f"or a state dict saved from create_backbone({backbone!r}, ...)."
        )
    if dropped:
        roots = sorted({k.split(".", 1)[0] for k in dropped})
        logger.info("%s: ignoring %d classifier keys under %s", backbone, len(dropped), ", ".join(roots))
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
