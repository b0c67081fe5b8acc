"""Mosaic augmentation (Bochkovskiy et al., "YOLOv4", arXiv:2004.10934; used by AinnoSeg, seed 001).

Four samples are stitched around a random centre into one image of the output size
(MMDetection/MMSegmentation ``RandomMosaic`` layout, with the canvas equal to the output):

    +---------+---------+
    |    0    |    1    |      sample 0's bottom-right corner, 1's bottom-left,
    |       (cx,cy)     |      2's top-right and 3's top-left corner touch the
    |    2    |    3    |      centre (cx, cy); what leaves the canvas is cut off
    +---------+---------+

Each sample is first resized, aspect kept, to fit the output size (times an optional random
factor). Canvas parts no sample covers are padding (image ``fill``, ``sem_seg`` 255,
``panoptic`` 0). The labels are stitched like the image; panoptic segment ids are renumbered
1..M so they stay unique; instances cut away entirely are dropped and boxes recomputed from
the cut masks. The result's ``image_id`` is the tuple of the four samples' ids.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch.utils.data import Dataset

from . import functional as F
from .panoptic_utils import IGNORE_INDEX
from .transforms import coin, make_generator, randint, size_pair, uniform

__all__ = ["Mosaic", "MosaicDataset"]

Sample = tuple[torch.Tensor, dict[str, Any]]
_DENSE = ("sem_seg", "panoptic", "masks")


class Mosaic:
    """Stitch four ``(image, target)`` samples into one of ``output_size`` (H, W).

    Args:
        output_size: (H, W) of the result (an int for a square).
        center_range: the centre is uniform in ``[lo, hi] * (H, W)``.
        scale_range: each sample's fit-to-output scale is multiplied by a factor uniform in
            this range (``(1, 1)``: plain fit, as MMDetection).
        fill: image padding value.
        generator: ``None`` (torch's global RNG), an int seed or a ``torch.Generator``.

    Call it with a sequence of four samples; they must have the same image dtype and the
    same target entries.
    """

    def __init__(
        self,
        output_size: int | Sequence[int],
        *,
        center_range: tuple[float, float] = (0.25, 0.75),
        scale_range: tuple[float, float] = (1.0, 1.0),
        fill: float = 0,
        generator: torch.Generator | int | None = None,
    ) -> None:
        self.output_size = size_pair(output_size, "output_size")
        if not 0 <= center_range[0] <= center_range[1] <= 1:
            raise ValueError(f"center_range must be (lo, hi) with 0 <= lo <= hi <= 1, got {center_range}.")
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must be (lo, hi) with 0 < lo <= hi, got {scale_range}.")
        self.center_range, self.scale_range, self.fill = center_range, scale_range, fill
        self.generator = make_generator(generator)

    def __call__(self, samples: Sequence[Sample]) -> Sample:
        if len(samples) != 4:
            raise ValueError(f"Mosaic stitches exactly 4 samples, got {len(samples)}.")
        keys = set(samples[0][1])
        for i, (image, target) in enumerate(samples):
            if set(target) != keys or image.dtype != samples[0][0].dtype:
                raise ValueError(
                    f"Mosaic sample {i} differs from sample 0: entries {sorted(target)} vs {sorted(keys)}, "
                    f"image dtype {image.dtype} vs {samples[0][0].dtype}."
                )
        if "panoptic" in keys and "segments_info" not in keys:
            raise ValueError("Mosaic renumbers panoptic ids through segments_info; the targets have none.")
        if "boxes" in keys and "masks" not in keys:
            raise ValueError("Mosaic places instances by their masks; box-only targets are not supported.")
        g = self.generator
        out_h, out_w = self.output_size
        cy = round(uniform(g, *self.center_range) * out_h)
        cx = round(uniform(g, *self.center_range) * out_w)
        pieces = []
        for quadrant, (image, target) in enumerate(samples):
            h, w = F.image_size(image)
            factor = min(out_h / h, out_w / w) * uniform(g, *self.scale_range)
            rh, rw = max(1, round(h * factor)), max(1, round(w * factor))
            image, target = F.resize(image, target, (rh, rw))
            pieces.append(self._place(image, target, quadrant, cy, cx))
        return self._merge(pieces, samples)

    def _place(self, image: torch.Tensor, target: dict, quadrant: int, cy: int, cx: int) -> tuple:
        """Cut the part of a resized sample that lands on the canvas; return it and its canvas box."""
        out_h, out_w = self.output_size
        h, w = F.image_size(image)
        top = cy - h if quadrant in (0, 1) else cy  # canvas position of the sample's top-left corner
        left = cx - w if quadrant in (0, 2) else cx
        y0, y1 = max(top, 0), min(top + h, out_h)
        x0, x1 = max(left, 0), min(left + w, out_w)
        if y1 <= y0 or x1 <= x0:  # the sample falls entirely outside the canvas
            return None
        image, target = F.crop(image, target, y0 - top, x0 - left, y1 - y0, x1 - x0)
        return image, target, (y0, y1, x0, x1)

    def _merge(self, pieces: list, samples: Sequence[Sample]) -> Sample:
        out_h, out_w = self.output_size
        placed = [p for p in pieces if p is not None]
        first_image, first_target = samples[0]
        image = torch.full((first_image.shape[0], out_h, out_w), self.fill, dtype=first_image.dtype)
        target: dict[str, Any] = {}
        if "sem_seg" in first_target:
            target["sem_seg"] = torch.full((out_h, out_w), IGNORE_INDEX, dtype=torch.int64)
        if "panoptic" in first_target:
            target["panoptic"] = torch.zeros((out_h, out_w), dtype=torch.int64)
        masks, segments, per_instance = [], [], {k: [] for k in ("labels", "iscrowd") if k in first_target}
        next_id = 1
        for piece_image, piece, (y0, y1, x0, x1) in placed:
            image[:, y0:y1, x0:x1] = piece_image
            if "sem_seg" in target:
                target["sem_seg"][y0:y1, x0:x1] = piece["sem_seg"]
            if "panoptic" in target:
                # Renumber this piece's segments next_id, next_id + 1, ... (0 stays void).
                infos = piece.get("segments_info", [])
                old = torch.tensor([0] + [s["id"] for s in infos], dtype=torch.int64)
                new = torch.tensor([0] + list(range(next_id, next_id + len(infos))), dtype=torch.int64)
                order = torch.argsort(old)
                pos = torch.searchsorted(old[order], piece["panoptic"]).clamp_(max=len(old) - 1)
                target["panoptic"][y0:y1, x0:x1] = new[order][pos]
                segments += [dict(s, id=int(n)) for s, n in zip(infos, new[1:].tolist())]
                next_id += len(infos)
            if "masks" in piece:
                full = torch.zeros((len(piece["masks"]), out_h, out_w), dtype=torch.bool)
                full[:, y0:y1, x0:x1] = piece["masks"]
                masks.append(full)
            for key in per_instance:
                per_instance[key].append(piece[key])
        if "masks" in first_target:
            target["masks"] = torch.cat(masks)
            target["boxes"] = torch.zeros((len(target["masks"]), 4))  # recomputed by refresh
        for key, values in per_instance.items():
            target[key] = torch.cat(values)
        if "segments_info" in first_target:
            target["segments_info"] = segments
        for key in first_target:
            if key not in target and key not in _DENSE:
                target[key] = first_target[key]  # other entries: from the first sample
        target["image_id"] = tuple(t.get("image_id") for _, t in samples)
        return image, F.refresh(target)


class MosaicDataset(Dataset):
    """A dataset with mosaics of four random samples: replacing samples (``p``) or added to them (``extra``).

    Args:
        dataset: the source (its own ``transforms`` run on each of the four samples first).
        mosaic: the :class:`Mosaic` transform.
        p: probability that a sample is a mosaic; otherwise ``dataset[index]`` as is.
        extra: instead of ``p``, add ``round(extra * len(dataset))`` mosaic samples after the
            source's (AinnoSeg, seed 001 Sec. 4.1: a new set "with a ratio of 1:0.3", i.e.
            ``extra=0.3``); ``dataset[index]`` for ``index < len(dataset)`` is the source's sample.
        transforms: applied after the mosaic (or to the plain sample), e.g. crop, flip, normalise.
        generator: draws ``p`` and the partner indices (``None``: torch's global RNG).

    With ``p``, ``dataset[index]`` is the first (top-left) sample of its mosaic; an added mosaic
    (``extra``) draws all four. Category metadata (``classes``, ``categories``, ``thing_ids``, ...)
    is the source's.
    """

    def __init__(
        self,
        dataset: Dataset,
        mosaic: Mosaic,
        *,
        p: float | None = None,
        extra: float | None = None,
        transforms: Callable[[torch.Tensor, dict], Sample] | None = None,
        generator: torch.Generator | int | None = None,
    ) -> None:
        if p is not None and extra is not None:
            raise ValueError("Give p (mosaics replace samples) or extra (mosaics are added), not both.")
        if p is None and extra is None:
            p = 1.0
        if p is not None and not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}.")
        if extra is not None and not extra >= 0:
            raise ValueError(f"extra must be >= 0 (mosaics added per source sample, e.g. 0.3), got {extra}.")
        self.dataset, self.mosaic, self.p, self.extra, self.transforms = dataset, mosaic, p or 0.0, extra, transforms
        self.generator = make_generator(generator)

    def __len__(self) -> int:
        added = 0 if self.extra is None else round(self.extra * len(self.dataset))
        return len(self.dataset) + added

    def __getattr__(self, name: str) -> Any:
        # Category metadata passes through to the source dataset.
        if name in ("classes", "categories", "thing_ids", "stuff_ids", "ignore_index", "num_classes", "task"):
            return getattr(self.__dict__["dataset"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getitem__(self, index: int) -> Sample:
        n = len(self.dataset)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a MosaicDataset of {len(self)} samples.")
        index %= len(self)
        if index >= n:  # an added mosaic: four random samples
            image, target = self.mosaic([self.dataset[randint(self.generator, 0, n - 1)] for _ in range(4)])
        elif coin(self.generator, self.p):
            others = [randint(self.generator, 0, n - 1) for _ in range(3)]
            image, target = self.mosaic([self.dataset[index]] + [self.dataset[i] for i in others])
        else:
            image, target = self.dataset[index]
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target
