"""A backbone's ImageNet weights from a file or a downloaded state dict, through :mod:`segzoo.state_dicts`.

Shared by the timm backbones (ResNet, arXiv:1512.03385; HRNet, arXiv:1908.07919; ...) and
VGG16 LargeFOV (arXiv:1412.7062). The backbone policy on top of segzoo's one loader: a file is
safetensors or a PyTorch state dict (``torch.load(weights_only=True)``), in one of two layouts:

* the upstream classification checkpoint (timm's ``model.safetensors`` from the Hugging
  Face hub, torchvision's ``vgg16-397923af.pth``): keys under top-level modules the
  backbone doesn't have (``fc.*``, ``classifier.*``, ``conv_head.*``, HRNet's
  ``incre_modules.*`` ...) belong to the classification head and are ignored;
* the state dict of the segzoo backbone itself (``backbone.state_dict()``).

Everything else is strict: missing, unexpected and mis-shaped keys are reported together.
The stem is adapted to another ``in_chans`` like timm's ``adapt_input_conv`` (sum for one
channel, repeat and rescale for more).
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping

import torch
from torch import nn

from ..state_dicts import load_state, read_state_dict
from .errors import BackboneWeightsError

__all__ = ["read_backbone_file", "load_backbone_file", "load_backbone_state"]


def read_backbone_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A safetensors file or a PyTorch state dict -> ``{name: tensor}`` on the CPU (errors name the file)."""
    return read_state_dict(path, allow_pth=True, error=BackboneWeightsError)


def load_backbone_file(
    module: nn.Module, path: str | os.PathLike, *, backbone: str, stem_key: str | None = None,
    strip_prefix: str = "", optional: Iterable[str] = (),
) -> None:  # fmt: skip
    """Load the weights in the file ``path`` into ``module``; see :func:`load_backbone_state`."""
    load_backbone_state(module, read_backbone_file(path), backbone=backbone, source=f"Weights file '{os.fspath(path)}'",
                        stem_key=stem_key, strip_prefix=strip_prefix, optional=optional)  # fmt: skip


def load_backbone_state(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    backbone: str,
    source: str,
    stem_key: str | None = None,
    strip_prefix: str = "",
    optional: Iterable[str] = (),
) -> None:
    """Load ``state`` into the backbone ``module`` (in place), strictly apart from the upstream classifier.

    Args:
        backbone: registry name, for error messages.
        source: what ``state`` came from (``"Weights file '...'"``).
        stem_key: name of the first conv's weight (adapted to the module's input channels).
        strip_prefix: removed from every key when all keys carry it (e.g. ``"model."``).
        optional: key prefixes that may be absent from ``state`` (left as initialised).
    """
    load_state(
        module, state, source=source, target=f"backbone {backbone!r}", strip_prefix=strip_prefix,
        ignore_foreign_roots=True, stem_key=stem_key, optional=optional, allow_missing_counters=True,
        warn_adapted=False, error=BackboneWeightsError,
        fix=f"Pass the ImageNet checkpoint of the same architecture (timm / torchvision layout) "
        f"or a state dict saved from create_backbone({backbone!r}, ...).",
    )  # fmt: skip
