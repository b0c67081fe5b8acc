"""torchvision's Mask R-CNN (He et al., arXiv:1703.06870; ``maskrcnn_resnet50_fpn``, v1) -> the
instance branch of segzoo's panoptic recipes (Panoptic FPN, arXiv:1901.02446, is Mask R-CNN
plus a semantic head).

segzoo's detector is built from the same torchvision parts (FPN, RPN, RoI heads), so the keys
map by prefix: ``backbone.body`` -> ``backbone.model`` (torchvision's ResNet and timm's have the
same names), ``backbone.fpn`` -> ``neck.fpn``, ``rpn`` and ``roi_heads`` unchanged. Two things differ:

- torchvision's backbone uses FrozenBatchNorm2d (no ``num_batches_tracked``): the counters are
  filled with 0 (they are not weights; eval mode does not read them).
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

from typing import Mapping

import torch

from ..coco_categories import COCO_PANOPTIC_CATEGORIES
from .core import Converted, parts_left_as_built, register_converter

__all__ = ["convert_torchvision_maskrcnn", "COCO_THING_CATEGORY_IDS"]

# The 80 COCO thing category ids in id order (the thing train ids 0..79 of segzoo's COCO panoptic
# recipes). The other 11 of 1..90 are unused.
COCO_THING_CATEGORY_IDS = tuple(i for i, _, isthing in COCO_PANOPTIC_CATEGORIES if isthing)
PREFIXES = {"backbone.body.": "backbone.model.", "backbone.fpn.": "neck.fpn.", "rpn.": "rpn.", "roi_heads.": "roi_heads."}
CLASS_ROWS = {  # key -> rows per class
    "roi_heads.box_predictor.cls_score.weight": 1, "roi_heads.box_predictor.cls_score.bias": 1,
    "roi_heads.box_predictor.bbox_pred.weight": 4, "roi_heads.box_predictor.bbox_pred.bias": 4,
    "roi_heads.mask_predictor.mask_fcn_logits.weight": 1, "roi_heads.mask_predictor.mask_fcn_logits.bias": 1,
}  # fmt: skip


def _detect(state: Mapping[str, torch.Tensor]) -> bool:
    return "backbone.body.conv1.weight" in state and "roi_heads.mask_predictor.mask_fcn_logits.weight" in state


def _select_rows(value: torch.Tensor, per_class: int, classes: list[int]) -> torch.Tensor:
    rows = torch.tensor([c * per_class + k for c in classes for k in range(per_class)])
    return value[rows]


@register_converter("torchvision_maskrcnn", detect=_detect, source="torchvision.models.detection.maskrcnn_resnet50_fpn")
def convert_torchvision_maskrcnn(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> Converted:
    """``maskrcnn_resnet50_fpn`` state dict -> a panoptic recipe's instance branch."""
    out: dict[str, torch.Tensor] = {}
    unused, notes = [], []
    for key, value in state.items():
        prefix = next((p for p in PREFIXES if key.startswith(p)), None)
        if prefix is None:
            unused.append(key)
            continue
        new = PREFIXES[prefix] + key[len(prefix) :]
        out[new] = value
        if prefix == "backbone.body." and key.endswith(".running_mean"):
            counter = new[: -len("running_mean")] + "num_batches_tracked"
            if counter in target and counter not in out:
                out[counter] = torch.zeros((), dtype=torch.long)  # FrozenBatchNorm2d has none
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
