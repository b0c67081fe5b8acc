"""ADE20K SceneParsing reader (Zhou et al., "Semantic Understanding of Scenes through the
ADE20K Dataset", arXiv:1608.05442; the MIT Scene Parsing Benchmark, ADEChallengeData2016).

150 classes. Label PNGs store 0 for "other objects" (not evaluated) and 1..150 for the
classes; with ``reduce_zero_label=True`` (the benchmark's protocol, MMSegmentation's
default) 0 becomes 255 (ignored) and k becomes k-1. With ``reduce_zero_label=False`` the
stored values are kept and "other" is class 0 (151 classes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..dataset_classes import ADE20K_CLASSES
from ._io import check_same_size, pair_by_stem, read_image, read_label, require_layout
from .base import SegmentationDataset, Transform
from .panoptic_utils import CategoryMap

__all__ = ["ADE20K", "ADE20K_CLASSES"]


_SPLITS = {"training": "training", "train": "training", "validation": "validation", "val": "validation"}
_LAYOUT = """  ROOT/images/training/*.jpg        ROOT/annotations/training/*.png
  ROOT/images/validation/*.jpg      ROOT/annotations/validation/*.png
  (ROOT is the unzipped ADEChallengeData2016 folder)"""


class ADE20K(SegmentationDataset):
    """ADE20K SceneParsing (ADEChallengeData2016), semantic targets.

    Args:
        root: the ``ADEChallengeData2016`` folder (or its parent).
        split: ``"training"`` / ``"validation"`` (``"train"`` / ``"val"`` also accepted).
        reduce_zero_label: map 0 ("other") to 255 and k to k-1 (150 classes); else keep the
            stored values (151 classes, "other" = 0).
        transforms: optional callable ``(image, target) -> (image, target)``.

    Samples: ``(3, H, W)`` uint8 image, ``{"sem_seg": (H, W) int64, "image_id": file stem}``.
    """

    task = "semantic"

    def __init__(
        self,
        root: str | Path,
        *,
        split: str = "training",
        reduce_zero_label: bool = True,
        transforms: Transform | None = None,
    ) -> None:
        if split not in _SPLITS:
            raise ValueError(f"ADE20K split must be one of {sorted(_SPLITS)}, got {split!r}.")
        root = Path(root)
        if not (root / "images").is_dir() and (root / "ADEChallengeData2016").is_dir():
            root = root / "ADEChallengeData2016"
        self.root, self.split = root, _SPLITS[split]
        require_layout(root, [f"images/{self.split}", f"annotations/{self.split}"], dataset="ADE20K", layout=_LAYOUT)
        self.reduce_zero_label = reduce_zero_label
        names = ADE20K_CLASSES if reduce_zero_label else ("other",) + ADE20K_CLASSES
        first = 1 if reduce_zero_label else 0
        super().__init__(
            category_map=CategoryMap({"id": first + i, "name": n} for i, n in enumerate(names)),
            transforms=transforms,
        )
        # Stored value -> train id: with reduce_zero_label 0 -> 255, k -> k - 1; values > 150 -> 255.
        self._lut = np.full(256, self.ignore_index, dtype=np.int64)
        self._lut[first : 151] = np.arange(151 - first)
        images = [p for p in (root / "images" / self.split).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
        labels = (root / "annotations" / self.split).glob("*.png")
        self.samples = pair_by_stem(images, labels, dataset=f"ADE20K {self.split}")
        if not self.samples:
            raise FileNotFoundError(f"ADE20K: no images in {root / 'images' / self.split}. Expected layout:\n{_LAYOUT}")

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image_path, label_path = self.samples[index]
        image = read_image(image_path)
        label = read_label(label_path)
        check_same_size(image, label, image_path, label_path)
        sem_seg = torch.from_numpy(self._lut[np.clip(label, 0, 255)])
        return image, {"sem_seg": sem_seg, "image_id": image_path.stem}
