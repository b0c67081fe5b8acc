"""The base class of the segzoo datasets: category metadata, indexing and transforms.

A subclass implements ``load(index) -> (image, target)`` (the untransformed sample);
``__getitem__`` applies ``transforms(image, target)`` on top. See :mod:`segzoo.data` for
the target format.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import torch
from torch.utils.data import Dataset

from .panoptic_utils import IGNORE_INDEX, CategoryMap

__all__ = ["SegmentationDataset", "Transform"]

Transform = Callable[[torch.Tensor, dict], "tuple[torch.Tensor, dict]"]


class SegmentationDataset(Dataset):
    """Category metadata and transform handling shared by every reader and synthetic set.

    Attributes:
        task: ``"semantic"`` (target ``{"sem_seg", "image_id"}``) or ``"panoptic"``.
        classes: category names in train-id order.
        categories: dicts ``{id, name, isthing, color, train_id}`` in train-id order
            (``id`` is the dataset's original category id).
        thing_ids / stuff_ids: train ids of the thing / stuff categories.
        ignore_index: the ``sem_seg`` label of void / ignored pixels (255).
        transforms: ``None`` or a callable ``(image, target) -> (image, target)``.
    """

    task: ClassVar[str] = "semantic"
    ignore_index: int = IGNORE_INDEX

    def __init__(self, *, category_map: CategoryMap, transforms: Transform | None = None) -> None:
        if transforms is not None and not callable(transforms):
            raise TypeError(
                f"transforms must be callable as transforms(image, target), got {type(transforms).__name__}."
            )
        self.category_map = category_map
        self.transforms = transforms

    @property
    def classes(self) -> list[str]:
        return self.category_map.names

    @property
    def num_classes(self) -> int:
        return len(self.category_map)

    @property
    def categories(self) -> list[dict[str, Any]]:
        return self.category_map.categories

    @property
    def thing_ids(self) -> list[int]:
        return self.category_map.thing_ids

    @property
    def stuff_ids(self) -> list[int]:
        return self.category_map.stuff_ids

    def __len__(self) -> int:
        raise NotImplementedError

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """The untransformed sample ``index`` (non-negative, in range)."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of {n} samples.")
        image, target = self.load(index % n)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} samples, {self.num_classes} classes, task={self.task!r})"
