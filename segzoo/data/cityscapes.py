"""Cityscapes reader (Cordts et al., "The Cityscapes Dataset for Semantic Urban Scene
Understanding", arXiv:1604.01685), semantic and panoptic targets from the gtFine PNGs.

Semantic: ``*_gtFine_labelIds.png`` (34 label ids) -> the 19 evaluated classes through the
official labelId -> trainId table (cityscapesScripts ``labels.py``); all other ids -> 255.

Panoptic: ``*_gtFine_instanceIds.png`` (16-bit). A value v >= 1000 is instance v % 1000 of
label id v // 1000; a value below 1000 is a label id (stuff, or a thing region drawn as a
group, e.g. "cars" far away: a crowd segment, as in cityscapesScripts' panoptic
conversion). The things are the 8 classes with instances: person, rider, car, truck, bus,
train, motorcycle, bicycle. Segment ids are the stored values (unique per image); pixels
of the non-evaluated classes are void (0). ``segments_info`` ``category_id`` is the label id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..dataset_classes import CITYSCAPES_TRAIN_TABLE
from ._io import check_same_size, pair_by_stem, read_image, read_label, require_layout
from .base import SegmentationDataset, Transform
from .panoptic_utils import IGNORE_INDEX, CategoryMap, panoptic_target

__all__ = ["Cityscapes", "CITYSCAPES_CATEGORIES"]

CITYSCAPES_CATEGORIES = [
    {"id": label_id, "name": name, "isthing": isthing, "color": list(color)}
    for label_id, _, name, isthing, color in CITYSCAPES_TRAIN_TABLE
]
OFFICIAL_TRAIN_IDS = {label_id: train_id for label_id, train_id, *_ in CITYSCAPES_TRAIN_TABLE}

_LAYOUT = """  ROOT/leftImg8bit/{split}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
  ROOT/gtFine/{split}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png     (semantic)
  ROOT/gtFine/{split}/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png  (panoptic)"""


class Cityscapes(SegmentationDataset):
    """Cityscapes fine annotations, 19 classes.

    Args:
        root: the folder holding ``leftImg8bit/`` and ``gtFine/``.
        split: ``"train"``, ``"val"`` (or any split folder present, e.g. ``"test"``).
        mode: ``"semantic"`` (target ``sem_seg``) or ``"panoptic"`` (the full panoptic
            target of :mod:`segzoo.data`).
        transforms: optional callable ``(image, target) -> (image, target)``.

    ``image_id`` is the file stem without suffix, e.g. ``"frankfurt_000000_000294"``.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        split: str = "train",
        mode: str = "semantic",
        transforms: Transform | None = None,
    ) -> None:
        if mode not in ("semantic", "panoptic"):
            raise ValueError(f"Cityscapes mode must be 'semantic' or 'panoptic', got {mode!r}.")
        super().__init__(category_map=CategoryMap(CITYSCAPES_CATEGORIES), transforms=transforms)
        self.root, self.split, self.mode = Path(root), split, mode
        self.task = mode  # instance attribute: the target format depends on the mode
        layout = _LAYOUT.replace("{split}", split)
        require_layout(self.root, [f"leftImg8bit/{split}", f"gtFine/{split}"], dataset="Cityscapes", layout=layout)
        kind = "labelIds" if mode == "semantic" else "instanceIds"
        images = sorted((self.root / "leftImg8bit" / split).glob("*/*_leftImg8bit.png"))
        labels = (self.root / "gtFine" / split).glob(f"*/*_gtFine_{kind}.png")
        self.samples = pair_by_stem(
            images, labels, dataset=f"Cityscapes {split}", image_suffix="_leftImg8bit", label_suffix=f"_gtFine_{kind}"
        )
        if not self.samples:
            raise FileNotFoundError(
                f"Cityscapes: no *_leftImg8bit.png under {self.root / 'leftImg8bit' / split}/<city>/. "
                f"Expected layout:\n{layout}"
            )

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image_path, label_path = self.samples[index]
        image_id = image_path.stem[: -len("_leftImg8bit")]
        image = read_image(image_path)
        label = read_label(label_path)
        check_same_size(image, label, image_path, label_path)
        if self.mode == "semantic":
            return image, {"sem_seg": torch.from_numpy(self.category_map.to_train_ids(label)), "image_id": image_id}
        label_ids = np.where(label >= 1000, label // 1000, label)
        evaluated = self.category_map.to_train_ids(label_ids) != IGNORE_INDEX
        panoptic = np.where(evaluated, label, 0)
        things = {c["id"] for c in self.categories if c["isthing"]}
        segments = []
        for v in np.unique(panoptic).tolist():
            if v != 0:
                label_id = v // 1000 if v >= 1000 else v
                # A thing class without an instance number is a group region: crowd.
                segments.append({"id": v, "category_id": label_id, "iscrowd": int(v < 1000 and label_id in things)})
        return image, panoptic_target(torch.from_numpy(panoptic), segments, self.category_map, image_id=image_id)
