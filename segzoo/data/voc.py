"""Pascal VOC 2012 segmentation reader (Everingham et al., "The Pascal Visual Object Classes
(VOC) Challenge", IJCV 2010), with the SBD augmented training set (Hariharan et al.,
"Semantic Contours from Inverse Detectors", ICCV 2011).

21 classes (background + 20 objects). ``SegmentationClass`` PNGs are palette images whose
indices are the labels (the palette only colours them); 255 marks the object boundaries
and difficult regions, ignored. The augmented set ("train_aug", 10582 images) is the
usual DeepLab setup: SBD's masks converted to ``SegmentationClassAug`` PNGs (indices,
8-bit or palette) with the list ``train_aug.txt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._io import check_same_size, read_image, read_label, require_layout
from .base import SegmentationDataset, Transform
from .panoptic_utils import IGNORE_INDEX, CategoryMap, colormap

__all__ = ["VOCSegmentation", "VOC_CLASSES"]

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

_LAYOUT = """  ROOT/JPEGImages/*.jpg
  ROOT/SegmentationClass/*.png                       (palette PNGs)
  ROOT/ImageSets/Segmentation/{train,val,trainval}.txt
  for split="train_aug" also: ROOT/SegmentationClassAug/*.png and
  ROOT/ImageSets/Segmentation/train_aug.txt (or ROOT/ImageSets/SegmentationAug/train_aug.txt)
  (ROOT is VOCdevkit/VOC2012)"""


class VOCSegmentation(SegmentationDataset):
    """Pascal VOC 2012 semantic segmentation, optionally with the SBD augmented training list.

    Args:
        root: the ``VOC2012`` folder (or ``VOCdevkit`` holding it).
        split: ``"train"``, ``"val"``, ``"trainval"`` (lists in ``ImageSets/Segmentation``,
            labels in ``SegmentationClass``) or ``"train_aug"`` (``train_aug.txt``, labels in
            ``SegmentationClassAug``).
        transforms: optional callable ``(image, target) -> (image, target)``.

    Samples: ``(3, H, W)`` uint8 image, ``{"sem_seg": (H, W) int64, "image_id": name}``.
    Background and the 20 objects are categories 0..20 (objects ``isthing=1``).
    """

    task = "semantic"

    def __init__(self, root: str | Path, *, split: str = "train", transforms: Transform | None = None) -> None:
        palette = colormap(len(VOC_CLASSES))
        categories = [
            {"id": i, "name": name, "isthing": int(i > 0), "color": palette[i]} for i, name in enumerate(VOC_CLASSES)
        ]
        super().__init__(category_map=CategoryMap(categories), transforms=transforms)
        root = Path(root)
        if not (root / "JPEGImages").is_dir() and (root / "VOC2012").is_dir():
            root = root / "VOC2012"
        self.root, self.split = root, split
        aug = split == "train_aug"
        label_dir = "SegmentationClassAug" if aug else "SegmentationClass"
        require_layout(root, ["JPEGImages", label_dir, "ImageSets"], dataset="Pascal VOC 2012", layout=_LAYOUT)
        candidates = [root / "ImageSets" / "Segmentation" / f"{split}.txt"]
        if aug:
            candidates.append(root / "ImageSets" / "SegmentationAug" / "train_aug.txt")
        list_file = next((c for c in candidates if c.is_file()), None)
        if list_file is None:
            available = sorted(p.stem for p in root.glob("ImageSets/Segmentation*/*.txt"))
            raise FileNotFoundError(
                f"Pascal VOC: no list for split {split!r} (looked for {[str(c) for c in candidates]}); "
                f"available lists: {available}. Expected layout:\n{_LAYOUT}"
            )
        names = [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]
        if not names:
            raise ValueError(f"Pascal VOC: the list {list_file} is empty.")
        self.samples = [(root / "JPEGImages" / f"{n}.jpg", root / label_dir / f"{n}.png") for n in names]
        missing = [str(p) for pair in self.samples for p in pair if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"Pascal VOC {split}: {len(missing)} file(s) listed in {list_file} are missing, e.g. {missing[:5]}."
            )
        # Stored index -> label: 0..20 kept, anything else (255 boundary) ignored.
        self._lut = np.full(256, IGNORE_INDEX, dtype=np.int64)
        self._lut[: len(VOC_CLASSES)] = np.arange(len(VOC_CLASSES))

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image_path, label_path = self.samples[index]
        image = read_image(image_path)
        label = read_label(label_path)
        check_same_size(image, label, image_path, label_path)
        sem_seg = torch.from_numpy(self._lut[np.clip(label, 0, 255)])
        return image, {"sem_seg": sem_seg, "image_id": image_path.stem}
