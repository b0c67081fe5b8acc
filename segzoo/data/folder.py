"""A generic folder of images and index masks, for semantic segmentation on one's own data.

Layout: ``ROOT/images/<name>.<jpg|png|...>`` and ``ROOT/masks/<name>.png`` with matching
names; a mask is a single-channel PNG (8/16-bit or palette) of class indices 0..K-1, with
an optional value meaning "ignore" that becomes 255 in the targets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ._io import IMAGE_EXTENSIONS, check_same_size, pair_by_stem, read_image, read_label, require_layout
from .base import SegmentationDataset, Transform
from .panoptic_utils import IGNORE_INDEX, CategoryMap

__all__ = ["SegmentationFolder"]


class SegmentationFolder(SegmentationDataset):
    """Images and index masks with matching names.

    Args:
        root: the folder holding ``image_dir`` and ``mask_dir``.
        num_classes: K; mask values must be in 0..K-1 or ``ignore_index``.
        classes: K class names (default ``"class_0"``, ...).
        ignore_index: the mask value meaning "ignore" (mapped to 255); ``None`` if the masks
            have none.
        image_dir, mask_dir: sub-folder names.
        transforms: optional callable ``(image, target) -> (image, target)``.

    Samples: ``(3, H, W)`` uint8 image, ``{"sem_seg": (H, W) int64, "image_id": name}``.
    A mask value outside ``0..K-1`` that is not ``ignore_index`` raises ``ValueError``
    naming the file.
    """

    task = "semantic"

    def __init__(
        self,
        root: str | Path,
        *,
        num_classes: int,
        classes: Sequence[str] | None = None,
        ignore_index: int | None = 255,
        image_dir: str = "images",
        mask_dir: str = "masks",
        transforms: Transform | None = None,
    ) -> None:
        if not isinstance(num_classes, int) or not 1 <= num_classes <= IGNORE_INDEX:
            raise ValueError(f"num_classes must be an int in 1..{IGNORE_INDEX}, got {num_classes!r}.")
        if classes is None:
            classes = [f"class_{i}" for i in range(num_classes)]
        if len(classes) != num_classes:
            raise ValueError(f"classes has {len(classes)} names but num_classes is {num_classes}.")
        if ignore_index is not None and 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index {ignore_index} is a class index (num_classes={num_classes}); "
                f"use a value >= {num_classes} or None."
            )
        super().__init__(
            category_map=CategoryMap({"id": i, "name": n} for i, n in enumerate(classes)), transforms=transforms
        )
        self.root = Path(root)
        self.file_ignore_index = ignore_index
        layout = f"  ROOT/{image_dir}/<name>.jpg|png|...\n  ROOT/{mask_dir}/<name>.png   (same <name>)"
        require_layout(self.root, [image_dir, mask_dir], dataset="SegmentationFolder", layout=layout)
        images = [p for p in (self.root / image_dir).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
        masks = (self.root / mask_dir).glob("*.png")
        self.samples = pair_by_stem(images, masks, dataset=f"SegmentationFolder {self.root}")
        if not self.samples:
            raise FileNotFoundError(
                f"SegmentationFolder: no images ({', '.join(IMAGE_EXTENSIONS)}) in {self.root / image_dir}."
            )

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image_path, mask_path = self.samples[index]
        image = read_image(image_path)
        mask = read_label(mask_path)
        check_same_size(image, mask, image_path, mask_path)
        ignored = mask == self.file_ignore_index if self.file_ignore_index is not None else np.zeros(mask.shape, bool)
        bad = ~ignored & ((mask < 0) | (mask >= self.num_classes))
        if bad.any():
            values = np.unique(mask[bad])[:10].tolist()
            raise ValueError(
                f"Mask {mask_path} has values {values} outside 0..{self.num_classes - 1} "
                f"(num_classes={self.num_classes}, ignore_index={self.file_ignore_index}). "
                "Pass the right num_classes / ignore_index, or fix the mask."
            )
        sem_seg = np.where(ignored, IGNORE_INDEX, mask)
        return image, {"sem_seg": torch.from_numpy(sem_seg), "image_id": image_path.stem}
