"""Detectron2's Panoptic FPN (Kirillov et al., arXiv:1901.02446; ``COCO-PanopticSegmentation/
panoptic_fpn_R_*``) and Mask R-CNN (``COCO-InstanceSegmentation/mask_rcnn_R_*_FPN``) checkpoints ->
segzoo's panoptic recipes built with Detectron2's conventions (the ``d2_*`` tags set them:
``backbone="resnet50_msra"``, ``exact_anchors=True``, ``roi_align="v2"``, ``mask_paste="sample"``).

What is renamed or reshaped (each exact in eval):

- the MSRA ResNet (``backbone.bottom_up``: ``stem.conv1``, ``res2..res5``, ``conv*.norm``,
  ``shortcut``) -> timm's names (``conv1``/``bn1``, ``layer1..4``, ``bn*``, ``downsample``); the
  frozen BN statistics load into BatchNorm (equal in eval; counters filled with 0);
- the stem conv's input channels are reversed: Detectron2 reads BGR, segzoo RGB (the tag's
  preprocessing moves the mean to RGB order and keeps the 0-255 scale with std 1);
- FPN ``fpn_lateral{2..5}``/``fpn_output{2..5}`` -> torchvision's ``inner_blocks``/``layer_blocks``;
- RPN ``conv``/``objectness_logits``/``anchor_deltas`` -> ``conv``/``cls_logits``/``bbox_pred``;
- box head ``fc1``/``fc2`` -> ``fc6``/``fc7``; the classifier's background row moves from last
  (Detectron2) to first (torchvision) and the class-specific box regression gets four zero rows
  for the background (never read: detections skip the background column);
- mask head ``mask_fcn{1..4}``/``deconv``/``predictor`` -> torchvision's ``mask_head.{0..3}``/
  ``conv5_mask``/``mask_fcn_logits``, with a zero background row;
- semantic head ``p{2..5}.{0,2,4}`` (conv + GN, each followed by a 2x upsample) -> segzoo's
  ``SemanticFPNHead`` levels; its predictor has the stuff classes plus one "things" class (row
  0): the things row is repeated for every thing class of segzoo's layout (thing train ids
  first, then the stuff ids). The argmax then lands on a thing class exactly where Detectron2's
  lands on "things", and the panoptic fusion fills stuff only from stuff classes, so the fused
  output is Detectron2's.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping

import torch

from .core import Converted, parts_left_as_built, register_converter, rename_keys

__all__ = ["convert_detectron2_panoptic_fpn"]

Rule = tuple[re.Pattern, Callable[[re.Match], str]]


def _rule(pattern: str, target: Callable[[re.Match], str]) -> Rule:
    return re.compile(pattern + r"$"), target


_LEVEL = {"2": 0, "3": 1, "4": 2, "5": 3}
_RULES: list[Rule] = [
    _rule(r"backbone\.bottom_up\.stem\.conv1\.weight", lambda m: "backbone.model.conv1.weight"),
    _rule(r"backbone\.bottom_up\.stem\.conv1\.norm\.(\w+)", lambda m: f"backbone.model.bn1.{m[1]}"),
    _rule(
        r"backbone\.bottom_up\.res([2-5])\.(\d+)\.conv([1-3])\.weight",
        lambda m: f"backbone.model.layer{int(m[1]) - 1}.{m[2]}.conv{m[3]}.weight",
    ),
    _rule(
        r"backbone\.bottom_up\.res([2-5])\.(\d+)\.conv([1-3])\.norm\.(\w+)",
        lambda m: f"backbone.model.layer{int(m[1]) - 1}.{m[2]}.bn{m[3]}.{m[4]}",
    ),
    _rule(
        r"backbone\.bottom_up\.res([2-5])\.(\d+)\.shortcut\.weight",
        lambda m: f"backbone.model.layer{int(m[1]) - 1}.{m[2]}.downsample.0.weight",
    ),
    _rule(
        r"backbone\.bottom_up\.res([2-5])\.(\d+)\.shortcut\.norm\.(\w+)",
        lambda m: f"backbone.model.layer{int(m[1]) - 1}.{m[2]}.downsample.1.{m[3]}",
    ),
    _rule(r"backbone\.fpn_lateral([2-5])\.(weight|bias)", lambda m: f"neck.fpn.inner_blocks.{_LEVEL[m[1]]}.0.{m[2]}"),
    _rule(r"backbone\.fpn_output([2-5])\.(weight|bias)", lambda m: f"neck.fpn.layer_blocks.{_LEVEL[m[1]]}.0.{m[2]}"),
    _rule(r"proposal_generator\.rpn_head\.conv\.(weight|bias)", lambda m: f"rpn.head.conv.0.0.{m[1]}"),
    _rule(r"proposal_generator\.rpn_head\.objectness_logits\.(weight|bias)", lambda m: f"rpn.head.cls_logits.{m[1]}"),
    _rule(r"proposal_generator\.rpn_head\.anchor_deltas\.(weight|bias)", lambda m: f"rpn.head.bbox_pred.{m[1]}"),
    _rule(r"roi_heads\.box_head\.fc1\.(weight|bias)", lambda m: f"roi_heads.box_head.fc6.{m[1]}"),
    _rule(r"roi_heads\.box_head\.fc2\.(weight|bias)", lambda m: f"roi_heads.box_head.fc7.{m[1]}"),
    _rule(r"roi_heads\.box_predictor\.(cls_score|bbox_pred)\.(weight|bias)", lambda m: f"roi_heads.box_predictor.{m[1]}.{m[2]}"),
    _rule(r"roi_heads\.mask_head\.mask_fcn([1-4])\.(weight|bias)", lambda m: f"roi_heads.mask_head.{int(m[1]) - 1}.0.{m[2]}"),
    _rule(r"roi_heads\.mask_head\.deconv\.(weight|bias)", lambda m: f"roi_heads.mask_predictor.conv5_mask.{m[1]}"),
    _rule(r"roi_heads\.mask_head\.predictor\.(weight|bias)", lambda m: f"roi_heads.mask_predictor.mask_fcn_logits.{m[1]}"),
    _rule(
        r"sem_seg_head\.p([2-5])\.(\d+)\.weight",
        lambda m: f"semantic_head.levels.{_LEVEL[m[1]]}.{int(m[2]) // 2}.0.weight",
    ),
    _rule(
        r"sem_seg_head\.p([2-5])\.(\d+)\.norm\.(weight|bias)",
        lambda m: f"semantic_head.levels.{_LEVEL[m[1]]}.{int(m[2]) // 2}.1.{m[3]}",
    ),
    _rule(r"sem_seg_head\.predictor\.(weight|bias)", lambda m: f"semantic_head.classifier.{m[1]}"),
]


def _detect(state: Mapping[str, torch.Tensor]) -> bool:
    return "backbone.bottom_up.stem.conv1.weight" in state and "roi_heads.box_predictor.cls_score.weight" in state


def _rename(key: str) -> str | None:
    for pattern, target in _RULES:
        match = pattern.match(key)
        if match:
            return target(match)
    return None


def _background_first(out: dict[str, torch.Tensor], things: int) -> None:
    """Detectron2's class layout (things, then background; box regression and masks without a
    background row) -> torchvision's (background first, a row for it everywhere)."""
    for name in ("weight", "bias"):
        key = f"roi_heads.box_predictor.cls_score.{name}"
        value = out[key]
        out[key] = torch.cat([value[things:], value[:things]])
        key = f"roi_heads.box_predictor.bbox_pred.{name}"
        if out[key].shape[0] != 4 * things:
            raise ValueError(
                f"Detectron2's box regression has {out[key].shape[0]} rows for {things} classes; only class-specific "
                "regression (CLS_AGNOSTIC_BBOX_REG: False, 4 rows per class) converts."
            )
        out[key] = torch.cat([out[key].new_zeros((4, *out[key].shape[1:])), out[key]])
        key = f"roi_heads.mask_predictor.mask_fcn_logits.{name}"
        if key in out:
            if out[key].shape[0] != things:
                raise ValueError(
                    f"Detectron2's mask predictor has {out[key].shape[0]} rows for {things} classes; only class-specific "
                    "masks (CLS_AGNOSTIC_MASK: False) convert."
                )
            out[key] = torch.cat([out[key].new_zeros((1, *out[key].shape[1:])), out[key]])


def _semantic_rows(out: dict[str, torch.Tensor], target: Mapping[str, torch.Tensor], things: int) -> str:
    """Detectron2's ``["things", stuff...]`` rows -> segzoo's ``[thing x T, stuff...]``."""
    key = "semantic_head.classifier.weight"
    source, wanted = int(out[key].shape[0]), int(target[key].shape[0]) if key in target else None
    if wanted is None:
        return ""
    if wanted != things + source - 1:
        raise ValueError(
            f"Detectron2's semantic head predicts {source - 1} stuff classes + 'things', and its detector {things} thing "
            f"classes; the model has {wanted} semantic classes, not {things + source - 1}. Build the recipe with "
            f"num_classes={things + source - 1} (thing train ids first, then the stuff ids)."
        )
    rows = torch.tensor([0] * things + list(range(1, source)))
    for name in ("weight", "bias"):
        out[f"semantic_head.classifier.{name}"] = out[f"semantic_head.classifier.{name}"][rows]
    return f"repeated the semantic 'things' row for the {things} thing classes ({source} -> {wanted} rows)"


@register_converter(
    "detectron2_panoptic_fpn", detect=_detect, source="Detectron2 COCO-PanopticSegmentation/panoptic_fpn_R_* (.pkl)"
)
def convert_detectron2_panoptic_fpn(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> Converted:
    """A Detectron2 Panoptic FPN (or Mask R-CNN FPN) state dict -> a panoptic recipe with Detectron2's conventions."""
    notes: list[str] = []
    out, unused = rename_keys(state, _rename)
    out = {k: v.float() if v.is_floating_point() else v for k, v in out.items()}  # the .pkl holds float32 or float64
    stem = out.get("backbone.model.conv1.weight")
    if stem is not None and stem.shape[1] == 3:
        out["backbone.model.conv1.weight"] = stem.flip(1)
        notes.append("reversed the stem conv's input channels (Detectron2 reads BGR, segzoo RGB)")
    for key in [k for k in out if k.startswith("backbone.model.") and k.endswith(".running_mean")]:
        counter = key[: -len("running_mean")] + "num_batches_tracked"
        if counter in target:
            out[counter] = torch.zeros((), dtype=torch.long)  # frozen BN has no counter
    if "roi_heads.box_predictor.cls_score.weight" in out:
        things = int(out["roi_heads.box_predictor.cls_score.weight"].shape[0]) - 1
        _background_first(out, things)
        notes.append("moved the background row first and added background rows to box regression and masks")
        if "semantic_head.classifier.weight" in out:
            note = _semantic_rows(out, target, things)
            if note:
                notes.append(note)
    initialised = parts_left_as_built(target, out)
    if initialised:
        roots = sorted({k.split(".")[0] for k in initialised})
        notes.append(f"no upstream part for {', '.join(roots)}: left as built ({len(initialised)} tensors)")
    return Converted(state=out, unused=unused, notes=notes, initialised=initialised)
