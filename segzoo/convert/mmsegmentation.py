"""MMSegmentation's R50/R101-D8 segmentors -> segzoo's recipes on the ``resnet50_v1c``/``resnet101_v1c``
trunk (the ``mmseg_*`` tags set it and the head options): PSPNet (Zhao et al., arXiv:1612.01105;
``configs/pspnet``) -> ``pspnet_r50``; FCN (Long et al., arXiv:1411.4038; ``configs/fcn``, its head
with two convs and the input concatenated) -> ``fcn_r50`` with ``head_convs=2, concat_input=True``;
DeepLabV3 (Chen et al., arXiv:1706.05587; ``configs/deeplabv3``, ``ASPPHead``) -> ``deeplabv3_r50``
with ``head_layout="mmseg"``; DANet (Fu et al., arXiv:1809.02983; ``configs/danet``, ``DAHead``) ->
``danet_r50`` (the same head); Non-local (Wang et al., arXiv:1711.07971; ``configs/nonlocal_net``,
``NLHead``) -> ``nonlocal_r50`` with ``scaled_affinity=True``; DeepLabV3+ (Chen et al., arXiv:1802.02611;
``configs/deeplabv3plus``, ``DepthwiseSeparableASPPHead``) -> ``deeplabv3p_r50`` with
``head_layout="mmseg", output_stride=8``; OCRNet (Yuan et al., arXiv:1909.11065; ``configs/ocrnet``, HRNet
with a cascade of an FCN head and ``OCRHead``) -> ``ocrnet_hrnet_w18``/``_w48`` on the ``*_bilinear`` trunk
(its HRNet upsamples bilinearly without ``align_corners``; the keys have timm's names).

MMSegmentation's checkpoints are ``{"meta": ..., "state_dict": ...}`` ``.pth`` files (read with
``torch.load(weights_only=True)``). What is renamed or folded (each exact in eval):

- ``backbone.stem.{0,1,3,4,6,7}`` (ResNetV1c's deep stem: three conv-BN-ReLU) -> timm's
  ``conv1.{0,1,3,4,6}`` and ``bn1``; the stages' names (``layerN.M.conv*/bn*/downsample``) are
  timm's already. MMSegmentation's D8 trunk (dilations 2 and 4 with the first block of each
  contracted to 1 and 2) is timm's ``output_stride=8``.
- ``decode_head.psp_modules.{i}.1`` (1x1 conv + BN + ReLU per pooling bin) -> segzoo's
  ``ppm.stages.{i}``. segzoo's bin-1 branch has a biased conv and no BatchNorm (BatchNorm over one
  value per channel can't train with one image per batch): MMSegmentation's BatchNorm is folded
  into that conv. ``bottleneck`` -> ``bottleneck``, ``conv_seg`` -> ``classifier``.
- FCN: ``decode_head.convs.{i}`` / ``conv_cat`` -> ``convs.{i}`` / ``concat``.
- DeepLabV3: ``decode_head.image_pool.1`` (1x1 conv + BN + ReLU on the pooled map) -> segzoo's
  ``aspp.image_pool``, a biased conv without norm (same reason as the bin-1 branch): BatchNorm
  folded; ``aspp_modules.{i}`` -> ``aspp.branches.{i}``; ``bottleneck`` -> ``bottleneck``.
- DANet: ``pam_in_conv``/``pam``/``pam_out_conv`` and ``cam_*`` -> segzoo's ``attention.position_*`` and
  ``attention.channel_*`` (PAM's ``query/key/value_project`` -> ``query/key/value``, the ``gamma.scale``
  of PAM and CAM -> ``gamma``/``beta``); ``pam_conv_seg``/``cam_conv_seg`` -> ``position_classifier``/
  ``channel_classifier``.
- DeepLabV3+: as DeepLabV3, plus the separable convs' ``depthwise_conv``/``pointwise_conv`` -> segzoo's
  ``SeparableConvNormAct`` ``0``/``1`` (ASPP branches and the decoder's ``sep_bottleneck``), and
  ``c1_bottleneck`` -> ``low_level``.
- Non-local: ``convs.0``/``nl_block``/``convs.1``/``conv_cat`` -> ``conv_in``/``nonlocal_block``/
  ``conv_out``/``fuse`` (mmcv's ``g/theta/phi`` and ``conv_out`` conv + BN -> ``g/theta/phi``,
  ``out`` and ``norm``).
- ``auxiliary_head.convs.0`` / ``conv_seg`` -> segzoo's auxiliary FCN head ``convs.0`` / ``classifier``.
"""

from __future__ import annotations

import re
from typing import Mapping

import torch

from .core import Converted, fold_batchnorm, parts_left_as_built, register_converter, rename_keys

__all__ = ["convert_mmsegmentation"]

_STEM = {"0": "conv1.0", "1": "conv1.1", "3": "conv1.3", "4": "conv1.4", "6": "conv1.6", "7": "bn1"}
_CONV_MODULE = {"conv": "0", "bn": "1"}  # MMSegmentation's ConvModule(conv, bn) -> segzoo's ConvNormAct
_DA_BRANCH = {"pam": "position", "cam": "channel"}


def _detect(state: Mapping[str, torch.Tensor]) -> bool:
    resnet_v1c = "backbone.stem.0.weight" in state and "decode_head.conv_seg.weight" in state
    return resnet_v1c or "decode_head.1.object_context_block.query_project.0.conv.weight" in state  # OCRNet on HRNet


_NONLOCAL = {"convs.0": "conv_in", "convs.1": "conv_out", "conv_cat": "fuse"}
_OCR_BLOCK = {"query_project": "pixel_proj", "key_project": "object_proj"}


def _rename_ocrnet(key: str) -> str | None:
    """OCRNet's cascade: ``decode_head.0`` (FCN head: the soft regions) and ``decode_head.1`` (OCR head)."""
    if m := re.fullmatch(r"decode_head\.0\.convs\.0\.(conv|bn)\.(.+)", key):
        return f"decode_head.aux_conv.{_CONV_MODULE[m[1]]}.{m[2]}"
    if m := re.fullmatch(r"decode_head\.([01])\.conv_seg\.(weight|bias)", key):
        return f"decode_head.{'aux_classifier' if m[1] == '0' else 'classifier'}.{m[2]}"
    if m := re.fullmatch(r"decode_head\.1\.bottleneck\.(conv|bn)\.(.+)", key):
        return f"decode_head.bottleneck.{_CONV_MODULE[m[1]]}.{m[2]}"
    block = r"decode_head\.1\.object_context_block"
    if m := re.fullmatch(block + r"\.(query_project|key_project)\.([01])\.(conv|bn)\.(.+)", key):
        return f"decode_head.ocr.{_OCR_BLOCK[m[1]]}.{m[2]}.{_CONV_MODULE[m[3]]}.{m[4]}"
    if m := re.fullmatch(block + r"\.(value_project|out_project)\.(conv|bn)\.(.+)", key):
        return f"decode_head.ocr.{'object_down' if m[1] == 'value_project' else 'context_up'}.{_CONV_MODULE[m[2]]}.{m[3]}"
    if m := re.fullmatch(block + r"\.bottleneck\.(conv|bn)\.(.+)", key):
        return f"decode_head.ocr.fuse.0.{_CONV_MODULE[m[1]]}.{m[2]}"
    if re.fullmatch(r"backbone\.(conv[12]|bn[12]|layer1|transition\d|stage\d)\..+", key):  # MMSegmentation's HRNet
        return f"backbone.model.{key[len('backbone.'):]}"
    return None


def _rename_nonlocal(key: str) -> str | None:
    """NLHead's names (its FCN-style ``convs`` wrap the non-local block)."""
    if m := re.fullmatch(r"decode_head\.(convs\.[01]|conv_cat)\.(conv|bn)\.(.+)", key):
        return f"decode_head.{_NONLOCAL[m[1]]}.{_CONV_MODULE[m[2]]}.{m[3]}"
    if m := re.fullmatch(r"decode_head\.nl_block\.(g|theta|phi)\.conv\.(weight|bias)", key):
        return f"decode_head.nonlocal_block.{m[1]}.{m[2]}"
    if m := re.fullmatch(r"decode_head\.nl_block\.conv_out\.(conv|bn)\.(.+)", key):
        return f"decode_head.nonlocal_block.{'out' if m[1] == 'conv' else 'norm'}.{m[2]}"
    return _rename(key)


def _rename(key: str) -> str | None:
    if m := re.fullmatch(r"backbone\.stem\.(\d)\.(.+)", key):
        return f"backbone.model.{_STEM[m[1]]}.{m[2]}" if m[1] in _STEM else None
    if m := re.fullmatch(r"backbone\.(layer\d\..+)", key):
        return f"backbone.model.{m[1]}"
    if m := re.fullmatch(r"decode_head\.psp_modules\.(\d+)\.1\.(conv|bn)\.(.+)", key):
        return f"decode_head.ppm.stages.{m[1]}.{_CONV_MODULE[m[2]]}.{m[3]}"
    if m := re.fullmatch(r"decode_head\.bottleneck\.(conv|bn)\.(.+)", key):
        return f"decode_head.bottleneck.{_CONV_MODULE[m[1]]}.{m[2]}"
    if m := re.fullmatch(r"decode_head\.convs\.(\d+)\.(conv|bn)\.(.+)", key):
        return f"decode_head.convs.{m[1]}.{_CONV_MODULE[m[2]]}.{m[3]}"
    if m := re.fullmatch(r"decode_head\.conv_cat\.(conv|bn)\.(.+)", key):
        return f"decode_head.concat.{_CONV_MODULE[m[1]]}.{m[2]}"
    if m := re.fullmatch(r"decode_head\.image_pool\.1\.(conv|bn)\.(.+)", key):
        return f"decode_head.aspp.image_pool.{_CONV_MODULE[m[1]]}.{m[2]}"
    if m := re.fullmatch(r"decode_head\.(aspp_modules|sep_bottleneck)\.(\d+)\.(depthwise|pointwise)_conv\.(conv|bn)\.(.+)", key):
        part = "aspp.branches" if m[1] == "aspp_modules" else "decoder"
        return f"decode_head.{part}.{m[2]}.{0 if m[3] == 'depthwise' else 1}.{_CONV_MODULE[m[4]]}.{m[5]}"
    if m := re.fullmatch(r"decode_head\.c1_bottleneck\.(conv|bn)\.(.+)", key):
        return f"decode_head.low_level.{_CONV_MODULE[m[1]]}.{m[2]}"
    if m := re.fullmatch(r"decode_head\.aspp_modules\.(\d+)\.(conv|bn)\.(.+)", key):
        return f"decode_head.aspp.branches.{m[1]}.{_CONV_MODULE[m[2]]}.{m[3]}"
    if m := re.fullmatch(r"auxiliary_head\.convs\.(\d+)\.(conv|bn)\.(.+)", key):
        return f"aux_head.convs.{m[1]}.{_CONV_MODULE[m[2]]}.{m[3]}"
    if m := re.fullmatch(r"decode_head\.(pam|cam)_(in|out)_conv\.(conv|bn)\.(.+)", key):
        return f"decode_head.attention.{_DA_BRANCH[m[1]]}_{m[2]}.{_CONV_MODULE[m[3]]}.{m[4]}"
    if m := re.fullmatch(r"decode_head\.pam\.(query|key|value)_project\.(weight|bias)", key):
        return f"decode_head.attention.position.{m[1]}.{m[2]}"
    if m := re.fullmatch(r"decode_head\.(pam|cam)\.gamma\.scale", key):
        return "decode_head.attention.position.gamma" if m[1] == "pam" else "decode_head.attention.channel.beta"
    if m := re.fullmatch(r"decode_head\.(pam|cam)_conv_seg\.(weight|bias)", key):
        return f"decode_head.{_DA_BRANCH[m[1]]}_classifier.{m[2]}"
    if m := re.fullmatch(r"(decode_head|auxiliary_head)\.conv_seg\.(weight|bias)", key):
        return f"{'aux_head' if m[1] == 'auxiliary_head' else 'decode_head'}.classifier.{m[2]}"
    return None


def _fold_bn(out: dict[str, torch.Tensor], prefix: str, conv: str) -> None:
    """Fold ``prefix.1`` (BatchNorm) into the bias-free conv ``prefix.0``, giving it a bias (eval mode)."""
    bn = {k: out.pop(f"{prefix}.1.{k}") for k in ("weight", "bias", "running_mean", "running_var")}
    out.pop(f"{prefix}.1.num_batches_tracked", None)
    out[f"{conv}.weight"], out[f"{conv}.bias"] = fold_batchnorm(out.pop(f"{prefix}.0.weight"), bn)


@register_converter("mmseg", detect=_detect, source="MMSegmentation configs/{pspnet,fcn,deeplabv3,deeplabv3plus,danet,nonlocal_net}/*_r*-d8_*, ocrnet/ocrnet_hr* (.pth)")
def convert_mmsegmentation(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> Converted:
    """An MMSegmentation PSPNet/FCN/DeepLabV3/DANet/Non-local R50/R101-D8 state dict -> the recipe on the v1c trunk."""
    notes: list[str] = []
    rename = _rename_nonlocal if "decode_head.nl_block.g.conv.weight" in state else _rename
    if "decode_head.1.object_context_block.query_project.0.conv.weight" in state:
        rename = _rename_ocrnet
    out, unused = rename_keys(state, rename)
    for key in [k for k in out if k.endswith((".position.gamma", ".channel.beta"))]:
        out[key] = out[key].reshape(1)  # mmcv's Scale holds a 0-d parameter, segzoo's attention a (1,) one
    # segzoo's bin-1 branch: a biased conv, no norm (see segzoo.layers.PyramidPooling).
    folded = [
        i for i in range(8)
        if f"decode_head.ppm.stages.{i}.1.running_var" in out and f"decode_head.ppm.stages.{i}.0.bias" in target
    ]  # fmt: skip
    for i in folded:
        _fold_bn(out, f"decode_head.ppm.stages.{i}", f"decode_head.ppm.stages.{i}.0")
    if folded:
        notes.append(f"folded the BatchNorm of pooling branch(es) {folded} into their conv (segzoo's bin-1 branch has none)")
    if "decode_head.aspp.image_pool.1.running_var" in out:
        _fold_bn(out, "decode_head.aspp.image_pool", "decode_head.aspp.image_pool.0")
        notes.append("folded the BatchNorm of the ASPP image-pooling branch into its conv (segzoo's has none)")
    initialised = parts_left_as_built(target, out)
    return Converted(state=out, unused=unused, notes=notes, initialised=initialised)
