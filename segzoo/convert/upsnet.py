"""UPSNet's checkpoints (Xiong et al., arXiv:1901.03784; uber-research/UPSNet,
``upsnet_resnet_50_coco_90000.pth``) -> ``upsnet_r50`` built as its ``upsnet_coco`` tag sets it
(``backbone="resnet50_msra"``, ``fpn_context=True``; the recipe's default semantic head is
already UPSNet's shared deformable subnet).

What is renamed or reshaped (each exact in eval):

- the Caffe ResNet (``resnet_backbone.conv1.{conv1,bn1}``, ``res{2..5}.layers.N``; the stride in
  the first 1x1 conv) -> timm's names; the stem conv's input channels are reversed (UPSNet reads
  BGR, segzoo RGB; the tag's preprocessing keeps UPSNet's 0-255 scale, mean and std 1);
- FPN ``fpn_p{2..5}_1x1``/``fpn_p{2..5}`` -> torchvision's ``inner_blocks``/``layer_blocks``;
  ``fpn_gap`` (the linear map of C5's global average added to the P5 lateral) -> the top
  lateral's ``context``;
- RPN ``conv_proposal.0``/``cls_score``/``bbox_pred`` -> ``conv``/``cls_logits``/``bbox_pred``
  (same anchor-major channel layout, sigmoid objectness);
- box head ``fc6.0``/``fc7.0``/``cls_score``/``bbox_pred`` and mask branch ``mask_conv{1..4}``/
  ``mask_deconv1``/``mask_score`` -> torchvision's; both already put the background first;
- FCN head ``fcn_subnet.conv.N.0.{conv_offset,conv}`` -> the semantic subnet's
  ``offset``/``conv`` (UPSNet's deformable kernel reads offsets as ``[dy, dx]`` per kernel
  position, as torchvision's does); its score conv's rows go from UPSNet's order (stuff, then
  things) to segzoo's (thing train ids first, then stuff).

UPSNet's code and weights are under the Uber Non-Commercial License: the tag records it and
``segzoo.build`` prints it when the weights load.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping

import torch

from .core import Converted, parts_left_as_built, register_converter, rename_keys

__all__ = ["convert_upsnet"]

Rule = tuple[re.Pattern, Callable[[re.Match], str]]


def _rule(pattern: str, target: Callable[[re.Match], str]) -> Rule:
    return re.compile(pattern + r"$"), target


_LEVEL = {"2": 0, "3": 1, "4": 2, "5": 3}
_BACKBONE = r"(?:module\.)?resnet_backbone\."
_RULES: list[Rule] = [
    _rule(_BACKBONE + r"conv1\.conv1\.weight", lambda m: "backbone.model.conv1.weight"),
    _rule(_BACKBONE + r"conv1\.bn1\.(\w+)", lambda m: f"backbone.model.bn1.{m[1]}"),
    _rule(_BACKBONE + r"res([2-5])\.layers\.(\d+)\.(conv[1-3]|bn[1-3]|downsample\.[01])\.(\w+)",
          lambda m: f"backbone.model.layer{int(m[1]) - 1}.{m[2]}.{m[3]}.{m[4]}"),  # fmt: skip
    _rule(r"fpn\.fpn_p([2-4])_1x1\.(weight|bias)", lambda m: f"neck.fpn.inner_blocks.{_LEVEL[m[1]]}.0.{m[2]}"),
    _rule(r"fpn\.fpn_p5_1x1\.(weight|bias)", lambda m: f"neck.fpn.inner_blocks.3.lateral.0.{m[1]}"),
    _rule(r"fpn\.fpn_gap\.(weight|bias)", lambda m: f"neck.fpn.inner_blocks.3.context.{m[1]}"),
    _rule(r"fpn\.fpn_p([2-5])\.(weight|bias)", lambda m: f"neck.fpn.layer_blocks.{_LEVEL[m[1]]}.0.{m[2]}"),
    _rule(r"rpn\.conv_proposal\.0\.(weight|bias)", lambda m: f"rpn.head.conv.0.0.{m[1]}"),
    _rule(r"rpn\.cls_score\.(weight|bias)", lambda m: f"rpn.head.cls_logits.{m[1]}"),
    _rule(r"rpn\.bbox_pred\.(weight|bias)", lambda m: f"rpn.head.bbox_pred.{m[1]}"),
    _rule(r"rcnn\.fc([67])\.0\.(weight|bias)", lambda m: f"roi_heads.box_head.fc{m[1]}.{m[2]}"),
    _rule(r"rcnn\.(cls_score|bbox_pred)\.(weight|bias)", lambda m: f"roi_heads.box_predictor.{m[1]}.{m[2]}"),
    _rule(r"mask_branch\.mask_conv([1-4])\.0\.(weight|bias)", lambda m: f"roi_heads.mask_head.{int(m[1]) - 1}.0.{m[2]}"),
    _rule(r"mask_branch\.mask_deconv1\.0\.(weight|bias)", lambda m: f"roi_heads.mask_predictor.conv5_mask.{m[1]}"),
    _rule(r"mask_branch\.mask_score\.(weight|bias)", lambda m: f"roi_heads.mask_predictor.mask_fcn_logits.{m[1]}"),
    _rule(r"fcn_head\.fcn_subnet\.conv\.(\d+)\.0\.conv_offset\.(weight|bias)",
          lambda m: f"semantic_head.subnets.0.{m[1]}.0.offset.{m[2]}"),  # fmt: skip
    _rule(r"fcn_head\.fcn_subnet\.conv\.(\d+)\.0\.conv\.(weight|bias)", lambda m: f"semantic_head.subnets.0.{m[1]}.0.conv.{m[2]}"),
    _rule(r"fcn_head\.score\.(weight|bias)", lambda m: f"semantic_head.classifier.{m[1]}"),
]


def _detect(state: Mapping[str, torch.Tensor]) -> bool:
    keys = {k[len("module.") :] if k.startswith("module.") else k for k in state}
    return "resnet_backbone.conv1.conv1.weight" in keys and "fcn_head.score.weight" in keys


def _rename(key: str) -> str | None:
    key = key[len("module.") :] if key.startswith("module.") else key
    for pattern, target in _RULES:
        match = pattern.match(key)
        if match:
            return target(match)
    return None


def _things_first(out: dict[str, torch.Tensor], things: int) -> str:
    """UPSNet's semantic rows (stuff, then things) -> segzoo's (things, then stuff)."""
    key = "semantic_head.classifier.weight"
    total = int(out[key].shape[0])
    stuff = total - things
    if stuff < 0:
        raise ValueError(
            f"UPSNet's semantic head has {total} classes but its detector {things} thing classes; a UPSNet checkpoint "
            "predicts every stuff class and then every thing class."
        )
    rows = torch.tensor(list(range(stuff, total)) + list(range(stuff)))
    for name in ("weight", "bias"):
        out[f"semantic_head.classifier.{name}"] = out[f"semantic_head.classifier.{name}"][rows]
    return f"moved the semantic head's {things} thing rows before its {stuff} stuff rows (UPSNet puts stuff first)"


@register_converter("upsnet", detect=_detect, source="UPSNet (uber-research/UPSNet) resnet_50_upsnet checkpoints (.pth)")
def convert_upsnet(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> Converted:
    """A UPSNet state dict -> ``upsnet_r50`` with ``backbone="resnet50_msra"`` and ``fpn_context=True``."""
    notes: list[str] = []
    out, unused = rename_keys(state, _rename)
    stem = out.get("backbone.model.conv1.weight")
    if stem is not None and stem.shape[1] == 3:
        out["backbone.model.conv1.weight"] = stem.flip(1)
        notes.append("reversed the stem conv's input channels (UPSNet reads BGR, segzoo RGB)")
    if "neck.fpn.inner_blocks.3.context.weight" in out and "neck.fpn.inner_blocks.3.context.weight" not in target:
        raise ValueError(
            "This UPSNet checkpoint has fpn_gap (a global-context term in its FPN), which the model lacks; "
            "build it with fpn_context=True (the upsnet_coco tag sets it)."
        )
    if "roi_heads.box_predictor.cls_score.weight" in out and "semantic_head.classifier.weight" in out:
        things = int(out["roi_heads.box_predictor.cls_score.weight"].shape[0]) - 1
        notes.append(_things_first(out, things))
    initialised = parts_left_as_built(target, out)
    if initialised:
        roots = sorted({k.split(".")[0] for k in initialised})
        notes.append(f"no upstream part for {', '.join(roots)}: left as built ({len(initialised)} tensors)")
    return Converted(state=out, unused=unused, notes=notes, initialised=initialised)
