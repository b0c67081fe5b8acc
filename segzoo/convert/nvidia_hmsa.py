"""NVIDIA semantic-segmentation's ``ocrnet.HRNet_Mscale`` (hierarchical multi-scale attention on HRNet-OCR,
Tao et al., arXiv:2005.10821) -> segzoo's ``hmsa_ocrnet_hrnet_w48`` on the ``hrnet_w48_bilinear`` trunk with
``fuse_at_input=True`` (the ``nvidia_*`` tags set them).

Its checkpoints are ``{"state_dict": ...}`` with DataParallel's ``module.`` prefix (plus training state
such as ``epoch`` and the optimizer, not read). What is renamed or folded (each exact in eval):

- ``backbone.*`` (its ``hrnetv2``: timm's HRNet names) -> ``model.backbone.model.*``;
- ``ocr.*`` (the same OCR block as HRNet-OCR's, its BatchNorms inside ``BNReLU`` sequences) ->
  ``model.decode_head.*`` as :mod:`segzoo.convert.hrnet_ocr` maps it, conv biases before a BatchNorm
  folded into its running mean;
- ``scale_attn.conv0/bn0/conv1/bn1/conv2`` (the attention head: two 3x3 conv-BN-ReLU, a bias-free 1x1
  conv, sigmoid) -> ``fuser.attention.0/1/2``; segzoo's last conv has a bias, set to 0.
"""

from __future__ import annotations

import re
from typing import Mapping

import torch

from .core import Converted, parts_left_as_built, register_converter, rename_keys
from .hrnet_ocr import fold_conv_bias, rename_hrnet_ocr

__all__ = ["convert_nvidia_hmsa"]

_ATTENTION = {"conv0": "0.0", "bn0": "0.1", "conv1": "1.0", "bn1": "1.1", "conv2": "2"}


def _strip(key: str) -> str:
    return key[len("module.") :] if key.startswith("module.") else key


def _detect(state: Mapping[str, torch.Tensor]) -> bool:
    keys = {_strip(k) for k in state}
    return "scale_attn.conv0.weight" in keys and "ocr.conv3x3_ocr.0.weight" in keys


def _rename(key: str) -> str | None:
    if key.startswith("backbone."):
        return f"model.backbone.model.{key[len('backbone.'):]}"
    if key.startswith("ocr."):
        new = rename_hrnet_ocr(key[len("ocr.") :])
        return None if new is None else f"model.{new}"
    if m := re.fullmatch(r"scale_attn\.(conv[012]|bn[01])\.(.+)", key):
        return f"fuser.attention.{_ATTENTION[m[1]]}.{m[2]}"
    return None


@register_converter("nvidia_hmsa", detect=_detect, source="NVIDIA semantic-segmentation ocrnet.HRNet_Mscale checkpoints (.pth)")
def convert_nvidia_hmsa(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> Converted:
    """An ``HRNet_Mscale`` state dict -> ``hmsa_ocrnet_hrnet_w48`` with ``fuse_at_input=True``."""
    notes: list[str] = []
    out, unused = rename_keys(state, lambda k: _rename(_strip(k)))
    folded = [p for p in ("model.decode_head.bottleneck", "model.decode_head.aux_conv") if fold_conv_bias(out, p)]
    if folded:
        notes.append(f"folded the conv biases of {', '.join(folded)} into their BatchNorm's running mean")
    weight = out.get("fuser.attention.2.weight")
    if weight is not None and "fuser.attention.2.bias" in target:
        out["fuser.attention.2.bias"] = weight.new_zeros(weight.shape[0])
        notes.append("set the attention's last conv bias to 0 (the upstream conv has none)")
    return Converted(state=out, unused=unused, notes=notes, initialised=parts_left_as_built(target, out))
