"""torchvision's Mask R-CNN -> the instance branch of segzoo's panoptic recipes (Panoptic FPN,
arXiv:1901.02446, is Mask R-CNN plus a semantic head). Two torchvision layouts, one converter each:

- ``torchvision_maskrcnn``: ``maskrcnn_resnet50_fpn`` (He et al., "Mask R-CNN", arXiv:1703.06870),
  segzoo's default detector layout.
- ``torchvision_maskrcnn_v2``: ``maskrcnn_resnet50_fpn_v2``, the improved Mask R-CNN of Li et al.,
  "Benchmarking Detection Transfer Learning with Vision Transformers", arXiv:2111.11429: BatchNorm
  in the FPN's convs, two convs in the RPN head, a "4conv1fc" box head and the mask head's convs
  with BatchNorm. The model must be built with that layout (``fpn_norm="bn", rpn_convs=2,
  box_head="4conv1fc", head_norm="bn"``; the tag ``panoptic_fpn_r50.tv_maskrcnn_v2_coco`` sets it),
  else the converter says which options to pass.

segzoo's detector is built from the same torchvision parts (FPN, RPN, RoI heads), so the keys
map by prefix: ``backbone.body`` -> ``backbone.model`` (torchvision's ResNet and timm's have the
same names), ``backbone.fpn`` -> ``neck.fpn``, ``rpn`` and ``roi_heads`` unchanged. What differs:

- v1's backbone uses FrozenBatchNorm2d (no ``num_batches_tracked``): the counters are filled
  with 0 (they are not weights; eval mode does not read them). v2's backbone has BatchNorm2d
  (equal to the frozen one in eval mode) with its counters: nothing to fill.
- key names of torchvision before 0.13 (``rpn.head.conv.weight``, ``backbone.fpn.inner_blocks.0.weight``,
  ``roi_heads.mask_head.mask_fcn1.weight``; v1's COCO file predates the change) are renamed to the
  current ones (``rpn.head.conv.0.0.weight``, ...), as torchvision's own ``load_state_dict`` does.
- class rows: torchvision's COCO heads have 91 rows (index = COCO category id, 0 = background,
  11 unused ids). A segzoo detector with 91 classes (``thing_ids`` = 90 train ids) keeps them
  as they are, and its detections equal torchvision's. The COCO panoptic recipes have 81 rows
  (background + the 80 thing categories in id order): the rows of those 80 category ids are
  selected. Scores then differ from torchvision's by the softmax share of the 10 unused rows
  (tiny for trained weights, which never predict them); boxes of a kept detection do not.

The semantic head (and seed parts such as prototypes or the ranking module) have no upstream
counterpart: they stay as built and are listed in ``Converted.initialised`` (train them).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch

from ..coco_categories import COCO_PANOPTIC_CATEGORIES
from .core import Converted, parts_left_as_built, register_converter

__all__ = ["convert_torchvision_maskrcnn", "convert_torchvision_maskrcnn_v2", "COCO_THING_CATEGORY_IDS", "LAYOUTS"]

# The 80 COCO thing category ids in id order (the thing train ids 0..79 of segzoo's COCO panoptic
# recipes). The other 11 of 1..90 are unused.
COCO_THING_CATEGORY_IDS = tuple(i for i, _, isthing in COCO_PANOPTIC_CATEGORIES if isthing)
PREFIXES = {"backbone.body.": "backbone.model.", "backbone.fpn.": "neck.fpn.", "rpn.": "rpn.", "roi_heads.": "roi_heads."}
CLASS_ROWS = {  # key -> rows per class
    "roi_heads.box_predictor.cls_score.weight": 1, "roi_heads.box_predictor.cls_score.bias": 1,
    "roi_heads.box_predictor.bbox_pred.weight": 4, "roi_heads.box_predictor.bbox_pred.bias": 4,
    "roi_heads.mask_predictor.mask_fcn_logits.weight": 1, "roi_heads.mask_predictor.mask_fcn_logits.bias": 1,
}  # fmt: skip
# torchvision < 0.13 key names -> current ones (the renames of its RPNHead, FeaturePyramidNetwork and
# MaskRCNNHeads ``_load_from_state_dict``: their convs became ``Conv2dNormActivation`` blocks).
LEGACY_KEYS = (
    (re.compile(r"rpn\.head\.conv\.(weight|bias)"), lambda m: f"rpn.head.conv.0.0.{m[1]}"),
    (re.compile(r"backbone\.fpn\.(inner|layer)_blocks\.(\d+)\.(weight|bias)"),
     lambda m: f"backbone.fpn.{m[1]}_blocks.{m[2]}.0.{m[3]}"),
    (re.compile(r"roi_heads\.mask_head\.mask_fcn(\d+)\.(weight|bias)"),
     lambda m: f"roi_heads.mask_head.{int(m[1]) - 1}.0.{m[2]}"),
)  # fmt: skip
# The panoptic recipes' detector options (segzoo.models.options.PanopticOptions) of each torchvision layout.
LAYOUTS: dict[str, dict[str, Any]] = {
    "maskrcnn_resnet50_fpn": {"fpn_norm": None, "rpn_convs": 1, "box_head": "2fc", "head_norm": None},
    "maskrcnn_resnet50_fpn_v2": {"fpn_norm": "bn", "rpn_convs": 2, "box_head": "4conv1fc", "head_norm": "bn"},
}


def _is_maskrcnn(state: Mapping[str, torch.Tensor]) -> bool:
    return "backbone.body.conv1.weight" in state and "roi_heads.mask_predictor.mask_fcn_logits.weight" in state


def _detect(state: Mapping[str, torch.Tensor]) -> bool:  # v1: two FC layers in the box head
    return _is_maskrcnn(state) and "roi_heads.box_head.fc6.weight" in state


def _detect_v2(state: Mapping[str, torch.Tensor]) -> bool:  # v2: a conv (+ BatchNorm) first in the box head
    return _is_maskrcnn(state) and "roi_heads.box_head.0.0.weight" in state


def _current_keys(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
    """``state`` with torchvision's pre-0.13 key names renamed, and how many were."""
    out, renamed = {}, 0
    for key, value in state.items():
        for pattern, new in LEGACY_KEYS:
            match = pattern.fullmatch(key)
            if match:
                key, renamed = new(match), renamed + 1
                break
        out[key] = value
    return out, renamed


def _norm(keys: Mapping[str, Any], block: str) -> str | None:
    """The norm after the conv of a torchvision ``Conv2dNormActivation`` block (``block.0`` conv, ``block.1`` norm)."""
    if f"{block}.1.running_mean" in keys:
        return "bn"
    return "gn" if f"{block}.1.weight" in keys else None


def _layout(keys: Mapping[str, Any], fpn: str = "backbone.fpn.") -> dict[str, Any]:
    """The detector options a state dict's keys show (torchvision's key names, the FPN under ``fpn``)."""
    rpn_convs = 0
    while f"rpn.head.conv.{rpn_convs}.0.weight" in keys:
        rpn_convs += 1
    return {
        "fpn_norm": _norm(keys, f"{fpn}inner_blocks.0"),
        "rpn_convs": rpn_convs,
        "box_head": "4conv1fc" if "roi_heads.box_head.0.0.weight" in keys else "2fc",
        "head_norm": _norm(keys, "roi_heads.mask_head.0"),
    }


def _check_layout(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], upstream: str) -> list[str]:
    """Raise when the model was built with another detector layout than the file's; notes on the layout.
    (A model without an RPN is not checked: the loader names its missing and unexpected keys.)"""
    layout = _layout(state)
    if "rpn.head.cls_logits.weight" in target:
        built = _layout(target, fpn="neck.fpn.")
        wrong = [k for k, v in layout.items() if built[k] != v]
        if wrong:
            options = ", ".join(f"{k}={v!r}" for k, v in layout.items())
            raise ValueError(
                f"the file has torchvision's {upstream} detector layout ({options}) and the model was built with "
                f"{', '.join(f'{k}={built[k]!r}' for k in wrong)}. Build the recipe with {options} "
                "(the tags of docs/pretrained.md set them)."
            )
    if layout == LAYOUTS[upstream]:
        return [f"{upstream} layout: " + ", ".join(f"{k}={v!r}" for k, v in layout.items())]
    return [f"a {upstream} variant with " + ", ".join(f"{k}={v!r}" for k, v in layout.items())]


def _select_rows(value: torch.Tensor, per_class: int, classes: list[int]) -> torch.Tensor:
    rows = torch.tensor([c * per_class + k for c in classes for k in range(per_class)])
    return value[rows]


@register_converter("torchvision_maskrcnn", detect=_detect, source="torchvision.models.detection.maskrcnn_resnet50_fpn")
def convert_torchvision_maskrcnn(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> Converted:
    """``maskrcnn_resnet50_fpn`` state dict -> a panoptic recipe's instance branch."""
    return _convert(state, target, "maskrcnn_resnet50_fpn")


@register_converter(
    "torchvision_maskrcnn_v2", detect=_detect_v2, source="torchvision.models.detection.maskrcnn_resnet50_fpn_v2"
)
def convert_torchvision_maskrcnn_v2(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> Converted:
    """``maskrcnn_resnet50_fpn_v2`` state dict -> the instance branch of a panoptic recipe built with
    ``fpn_norm="bn", rpn_convs=2, box_head="4conv1fc", head_norm="bn"``."""
    return _convert(state, target, "maskrcnn_resnet50_fpn_v2")


def _convert(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], upstream: str) -> Converted:
    if "roi_heads.box_predictor.cls_score.weight" not in state:
        raise ValueError(f"no roi_heads.box_predictor.cls_score.weight: not a torchvision {upstream} state dict.")
    state, renamed = _current_keys(state)
    notes = _check_layout(state, target, upstream)
    if renamed:
        notes.append(f"renamed {renamed} keys of torchvision < 0.13 (rpn.head.conv, FPN blocks, mask_fcn1-4)")
    out: dict[str, torch.Tensor] = {}
    unused, counters = [], 0
    for key, value in state.items():
        prefix = next((p for p in PREFIXES if key.startswith(p)), None)
        if prefix is None:
            unused.append(key)
            continue
        new = PREFIXES[prefix] + key[len(prefix) :]
        out[new] = value
        if key.endswith(".running_mean") and key[: -len("running_mean")] + "num_batches_tracked" not in state:
            counter = new[: -len("running_mean")] + "num_batches_tracked"
            if counter in target:
                out[counter] = torch.zeros((), dtype=torch.long)  # FrozenBatchNorm2d has none
                counters += 1
    if counters:
        notes.append(f"filled {counters} BatchNorm counters (num_batches_tracked) with 0: FrozenBatchNorm2d has none")
    source_rows = int(state["roi_heads.box_predictor.cls_score.weight"].shape[0])
    target_rows = int(target["roi_heads.box_predictor.cls_score.weight"].shape[0]) if target else source_rows
    if target_rows != source_rows:
        if (source_rows, target_rows) != (91, 81):
            raise ValueError(
                f"torchvision's heads have {source_rows} class rows and the model's {target_rows}; only 91 (COCO ids) "
                "-> 81 (COCO panoptic things) is mapped. Build the recipe with the COCO panoptic classes."
            )
        classes = [0, *COCO_THING_CATEGORY_IDS]
        for key, per_class in CLASS_ROWS.items():
            out[key] = _select_rows(out[key], per_class, classes)
        notes.append("selected the class rows of background + the 80 COCO thing category ids (91 -> 81)")
    initialised = parts_left_as_built(target, out)
    if initialised:
        roots = sorted({".".join(k.split(".")[:1]) for k in initialised})
        notes.append(f"no upstream part for {', '.join(roots)}: left as built ({len(initialised)} tensors)")
    return Converted(state=out, unused=unused, notes=notes, initialised=initialised)
