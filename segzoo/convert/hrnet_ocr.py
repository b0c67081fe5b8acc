"""HRNet-Semantic-Segmentation's HRNet + OCR (Yuan et al., "Object-Contextual Representations for Semantic
Segmentation", arXiv:1909.11065; branch ``HRNet-OCR``, ``seg_hrnet_ocr``) -> segzoo's ``ocrnet_hrnet_w48``
(or ``_w18``) on the ``hrnet_w48_seg`` trunk with ``align_corners=True`` (the ``hrnet_*`` tags set them).

Its checkpoints are what its trainer saves, ``FullModel.state_dict()``: the network under ``model.``
and the loss's class weights under ``loss.`` (a training setting, not part of the network: dropped
with a note). What is renamed or folded (each exact in eval):

- the trunk (``conv1``, ``bn1``, ``layer1``, ``transition*``, ``stage*``) has timm's HRNet names;
- ``conv3x3_ocr`` (3x3 conv with a bias, BN, ReLU) -> the OCR head's ``bottleneck`` and ``aux_head``
  (1x1 conv with a bias, BN, ReLU, 1x1 classifier) -> ``aux_conv`` / ``aux_classifier``: segzoo's
  convs before a BatchNorm have no bias, so the bias is folded into the BatchNorm's running mean
  (``BN(Wx + b) = BN'(Wx)`` with ``mean' = mean - b``);
- ``ocr_distri_head.object_context_block.f_pixel/f_object/f_down/f_up`` -> ``ocr.pixel_proj/object_proj/
  object_down/context_up`` and ``conv_bn_dropout`` -> ``ocr.fuse``; ``cls_head`` -> ``classifier``.
"""

from __future__ import annotations

import re
from typing import Mapping

import torch

from .core import Converted, parts_left_as_built, register_converter, rename_keys

__all__ = ["convert_hrnet_ocr", "rename_hrnet_ocr", "fold_conv_bias"]

_OCR = {"f_pixel": "pixel_proj", "f_object": "object_proj"}


def _detect(state: Mapping[str, torch.Tensor]) -> bool:
    """HRNet-OCR's keys, without a scale-attention head (that is NVIDIA's HMSA: ``nvidia_hmsa``)."""
    keys = list(state)
    return (
        any(k.endswith("ocr_distri_head.object_context_block.f_pixel.0.weight") for k in keys)
        and any(k.endswith("conv3x3_ocr.0.weight") for k in keys)
        and not any("scale_attn." in k for k in keys)
    )


def rename_hrnet_ocr(key: str) -> str | None:
    """An HRNet + OCR key (no ``model.`` prefix) -> segzoo's OCRNet key, or None. Also reads NVIDIA's
    layout of the same head (BatchNorms inside ``BNReLU`` sequences: ``conv3x3_ocr.1.0``; the auxiliary
    classifier at ``aux_head.2``)."""
    if re.fullmatch(r"(conv[12]|bn[12]|layer1|transition\d|stage\d)\..+", key):
        return f"backbone.model.{key}"
    if m := re.fullmatch(r"conv3x3_ocr\.([01])\.(?:0\.)?(.+)", key):
        return f"decode_head.bottleneck.{m[1]}.{m[2]}"
    if m := re.fullmatch(r"aux_head\.([01])\.(?:0\.)?(.+)", key):
        return f"decode_head.aux_conv.{m[1]}.{m[2]}"
    if m := re.fullmatch(r"aux_head\.[23]\.(weight|bias)", key):
        return f"decode_head.aux_classifier.{m[1]}"
    if m := re.fullmatch(r"cls_head\.(weight|bias)", key):
        return f"decode_head.classifier.{m[1]}"
    block = r"ocr_distri_head\.object_context_block"
    if m := re.fullmatch(block + r"\.(f_pixel|f_object)\.([0-3])\.(?:0\.)?(.+)", key):  # conv, BNReLU, conv, BNReLU
        index = int(m[2])
        return f"decode_head.ocr.{_OCR[m[1]]}.{index // 2}.{index % 2}.{m[3]}"
    if m := re.fullmatch(block + r"\.(f_down|f_up)\.([01])\.(?:0\.)?(.+)", key):
        return f"decode_head.ocr.{'object_down' if m[1] == 'f_down' else 'context_up'}.{m[2]}.{m[3]}"
    if m := re.fullmatch(r"ocr_distri_head\.conv_bn_dropout\.([01])\.(?:0\.)?(.+)", key):
        return f"decode_head.ocr.fuse.0.{m[1]}.{m[2]}"
    return None


def fold_conv_bias(out: dict[str, torch.Tensor], prefix: str) -> bool:
    """``prefix.0`` (conv with a bias) then ``prefix.1`` (BatchNorm): the bias moves into the running mean."""
    bias = out.pop(f"{prefix}.0.bias", None)
    if bias is None:
        return False
    out[f"{prefix}.1.running_mean"] = out[f"{prefix}.1.running_mean"] - bias
    return True


@register_converter(
    "hrnet_ocr", detect=_detect, source="HRNet-Semantic-Segmentation (branch HRNet-OCR) seg_hrnet_ocr checkpoints (.pth)"
)
def convert_hrnet_ocr(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> Converted:
    """A ``seg_hrnet_ocr`` state dict (``model.``-prefixed or not) -> ``ocrnet_hrnet_w48`` on ``hrnet_w48_seg``."""
    notes: list[str] = []
    dropped = [k for k in state if k.startswith("loss.")]
    if dropped:
        notes.append(f"dropped the loss's {', '.join(dropped)} (a training setting, not part of the network)")
    network = {k: v for k, v in state.items() if k not in dropped}
    out, unused = rename_keys(network, lambda k: rename_hrnet_ocr(k[len("model.") :] if k.startswith("model.") else k))
    folded = [p for p in ("decode_head.bottleneck", "decode_head.aux_conv") if fold_conv_bias(out, p)]
    if folded:
        notes.append(f"folded the conv biases of {', '.join(folded)} into their BatchNorm's running mean")
    return Converted(state=out, unused=unused, notes=notes, initialised=parts_left_as_built(target, out))
