"""Joint training transforms: ``transform(image, target) -> (image, target)``.

The augmentation pipeline of MMSegmentation's semantic configs (random resize by a ratio
of a base scale, random crop with ``cat_max_ratio``, flip, photometric distortion,
normalise, pad) on top of torchvision's v2 kernels, extended to panoptic targets (masks,
boxes, panoptic ids; see :mod:`segzoo.data.functional` for how they stay consistent).
Multi-scale training follows AinnoSeg (seed 001: base short sides 520, 640, 800 times a
random multiple). Mosaic (YOLOv4, arXiv:2004.10934) combines four samples and lives in
:mod:`segzoo.data.mosaic`.

Random transforms take ``generator``: ``None`` (torch's global RNG; right for DataLoader
workers, which torch seeds differently), an int seed, or a ``torch.Generator``. A given
generator is shared by forked workers, which then draw the same numbers.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
import torchvision.transforms.v2.functional as TF

from ..inputs import IMAGENET_MEAN, IMAGENET_STD
from . import functional as F
from .panoptic_utils import IGNORE_INDEX

__all__ = [
    "Compose",
    "Resize",
    "RandomResize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "PhotometricDistortion",
    "Normalize",
    "PadToDivisor",
    "make_generator",
    "uniform",
    "randint",
    "coin",
    "size_pair",
]

Sample = tuple[torch.Tensor, dict[str, Any]]


def make_generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    """``None`` -> ``None`` (global RNG), an int -> a seeded generator, a generator -> itself."""
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    raise TypeError(f"generator must be None, an int seed or a torch.Generator, got {type(generator).__name__}.")


def uniform(gen: torch.Generator | None, low: float, high: float) -> float:
    """Uniform float in ``[low, high)`` from ``gen`` (the global RNG when None)."""
    return low + (high - low) * float(torch.rand((), generator=gen))


def randint(gen: torch.Generator | None, low: int, high: int) -> int:
    """Uniform integer in ``[low, high]`` (inclusive)."""
    return int(torch.randint(low, high + 1, (), generator=gen))


def coin(gen: torch.Generator | None, p: float) -> bool:
    """True with probability ``p``."""
    return float(torch.rand((), generator=gen)) < p


def size_pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    """``s`` or ``(H, W)`` -> ``(H, W)`` of positive ints; ``name`` is the argument named in the error."""
    if isinstance(size, int):
        size = (size, size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{name} must be a positive int or (H, W), got {size}.")
    return int(size[0]), int(size[1])


def _scaled_size(height: int, width: int, short_side: float, max_size: int | None) -> tuple[int, int]:
    """(H, W) with the short side at ``short_side``, the long side capped at ``max_size``."""
    factor = short_side / min(height, width)
    if max_size is not None:
        factor = min(factor, max_size / max(height, width))
    return max(1, round(height * factor)), max(1, round(width * factor))


class Compose:
    """Apply transforms in order: ``Compose([RandomResize(...), RandomCrop(...), ...])``."""

    def __init__(self, transforms: Sequence[Callable[[torch.Tensor, dict], Sample]]) -> None:
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose takes callables (image, target) -> (image, target), got {type(t).__name__}.")
        self.transforms = list(transforms)

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> Sample:
        for t in self.transforms:
            image, target = t(image, target)
        return image, target

    def __repr__(self) -> str:
        return "Compose(\n" + "".join(f"    {t!r},\n" for t in self.transforms) + ")"


class Resize:
    """Resize to a fixed size: an int sets the short side (aspect kept), ``(H, W)`` is exact.

    ``max_size`` caps the long side when ``size`` is an int.
    """

    def __init__(self, size: int | Sequence[int], *, max_size: int | None = None) -> None:
        self.size = size if isinstance(size, int) else size_pair(size, "size")
        self.max_size = max_size

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> Sample:
        h, w = F.image_size(image)
        size = _scaled_size(h, w, self.size, self.max_size) if isinstance(self.size, int) else self.size
        return F.resize(image, target, size)

    def __repr__(self) -> str:
        return f"Resize({self.size}, max_size={self.max_size})"


class RandomResize:
    """Resize so the short side is ``base * s``: ``base`` drawn from ``base_sizes``, ``s`` random.

    Args:
        base_sizes: short side(s) at scale 1 (seed 001: ``(520, 640, 800)``; MMSeg's ADE20K
            setting ``(2048, 512)`` keep-ratio is, for usual aspect ratios, ``512``).
        scale_range: ``s`` uniform in this range (default ``(0.5, 2.0)``).
        scales: ``s`` drawn from these multiples instead (e.g. ``(0.5, 0.75, ..., 2.0)``).
        max_size: optional cap on the long side after scaling.
        generator: see the module docstring.
    """

    def __init__(
        self,
        base_sizes: int | Sequence[int],
        *,
        scale_range: tuple[float, float] | None = None,
        scales: Sequence[float] | None = None,
        max_size: int | None = None,
        generator: torch.Generator | int | None = None,
    ) -> None:
        self.base_sizes = (base_sizes,) if isinstance(base_sizes, int) else tuple(int(b) for b in base_sizes)
        if not self.base_sizes or min(self.base_sizes) < 1:
            raise ValueError(f"base_sizes must be positive ints, got {base_sizes}.")
        if scale_range is not None and scales is not None:
            raise ValueError("Pass either scale_range (continuous) or scales (discrete multiples), not both.")
        if scales is None:
            scale_range = scale_range or (0.5, 2.0)
            if not 0 < scale_range[0] <= scale_range[1]:
                raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {scale_range}.")
        elif not scales or min(scales) <= 0:
            raise ValueError(f"scales must be positive multiples, got {scales}.")
        self.scale_range, self.scales, self.max_size = scale_range, scales, max_size
        self.generator = make_generator(generator)

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> Sample:
        g = self.generator
        base = self.base_sizes[randint(g, 0, len(self.base_sizes) - 1)]
        if self.scales is not None:
            scale = float(self.scales[randint(g, 0, len(self.scales) - 1)])
        else:
            scale = uniform(g, *self.scale_range)
        h, w = F.image_size(image)
        return F.resize(image, target, _scaled_size(h, w, base * scale, self.max_size))

    def __repr__(self) -> str:
        return f"RandomResize({self.base_sizes}, scale_range={self.scale_range}, scales={self.scales})"


class RandomCrop:
    """Random crop of ``size`` (H, W), retrying so no class dominates (MMSegmentation's ``cat_max_ratio``).

    Up to 10 crop positions are drawn until the most frequent ``sem_seg`` class (255 not
    counted) covers less than ``cat_max_ratio`` of the labelled pixels and at least two
    classes are present; else the last one is kept. An image smaller than ``size`` is
    cropped to its own extent and, with ``pad_if_needed``, padded bottom/right to ``size``
    (image ``fill``, ``sem_seg`` 255, ``panoptic`` 0).
    """

    def __init__(
        self,
        size: int | Sequence[int],
        *,
        cat_max_ratio: float = 1.0,
        ignore_index: int = IGNORE_INDEX,
        pad_if_needed: bool = True,
        fill: float = 0,
        generator: torch.Generator | int | None = None,
    ) -> None:
        self.size = size_pair(size, "size")
        if not 0 < cat_max_ratio <= 1:
            raise ValueError(f"cat_max_ratio must be in (0, 1], got {cat_max_ratio}.")
        self.cat_max_ratio, self.ignore_index = cat_max_ratio, ignore_index
        self.pad_if_needed, self.fill = pad_if_needed, fill
        self.generator = make_generator(generator)

    def _draw(self, h: int, w: int, ch: int, cw: int) -> tuple[int, int]:
        return randint(self.generator, 0, h - ch), randint(self.generator, 0, w - cw)

    def _balanced(self, sem_seg: torch.Tensor) -> bool:
        labels = sem_seg[sem_seg != self.ignore_index]
        if labels.numel() == 0:
            return False
        counts = torch.bincount(labels.reshape(-1))
        counts = counts[counts > 0]
        return len(counts) > 1 and float(counts.max()) / float(counts.sum()) < self.cat_max_ratio

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> Sample:
        h, w = F.image_size(image)
        ch, cw = min(self.size[0], h), min(self.size[1], w)
        top, left = self._draw(h, w, ch, cw)
        if self.cat_max_ratio < 1 and "sem_seg" in target:
            for _ in range(9):  # 10 draws in all
                if self._balanced(target["sem_seg"][top : top + ch, left : left + cw]):
                    break
                top, left = self._draw(h, w, ch, cw)
        image, target = F.crop(image, target, top, left, ch, cw)
        if self.pad_if_needed and (ch, cw) != self.size:
            image, target = F.pad(image, target, (0, 0, self.size[1] - cw, self.size[0] - ch), fill=self.fill)
        return image, target

    def __repr__(self) -> str:
        return f"RandomCrop({self.size}, cat_max_ratio={self.cat_max_ratio})"


class RandomHorizontalFlip:
    """Mirror image and target left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | int | None = None) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}.")
        self.p = p
        self.generator = make_generator(generator)

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> Sample:
        return F.hflip(image, target) if coin(self.generator, self.p) else (image, target)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class PhotometricDistortion:
    """MMSegmentation's photometric distortion; the image only (uint8 or float 0-1 in, same out).

    Each step runs with probability ``p``, in this order: additive brightness
    (``+-brightness_delta`` in 0-255 units), contrast (factor in ``contrast_range``) either
    here or last (chosen at random), saturation (factor in ``saturation_range``), hue
    (``+-hue_delta`` in OpenCV's 0-180 hue units, i.e. ``hue_delta / 180`` of a turn).
    Contrast, saturation and hue are torchvision's definitions (contrast blends with the
    mean grey; MMSeg scales pixel values).
    """

    def __init__(
        self,
        *,
        brightness_delta: float = 32,
        contrast_range: tuple[float, float] = (0.5, 1.5),
        saturation_range: tuple[float, float] = (0.5, 1.5),
        hue_delta: float = 18,
        p: float = 0.5,
        generator: torch.Generator | int | None = None,
    ) -> None:
        if not 0 <= hue_delta <= 90:
            raise ValueError(f"hue_delta is in OpenCV hue units (0-90), got {hue_delta}.")
        self.brightness_delta, self.contrast_range = brightness_delta, contrast_range
        self.saturation_range, self.hue_delta, self.p = saturation_range, hue_delta, p
        self.generator = make_generator(generator)

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> Sample:
        g = self.generator
        is_uint8 = image.dtype == torch.uint8
        x = image.float() / 255 if is_uint8 else image.float()
        if coin(g, self.p):
            x = (x + uniform(g, -self.brightness_delta, self.brightness_delta) / 255).clamp_(0, 1)
        contrast_last = coin(g, 0.5)
        if not contrast_last and coin(g, self.p):
            x = TF.adjust_contrast(x, uniform(g, *self.contrast_range))
        if coin(g, self.p):
            x = TF.adjust_saturation(x, uniform(g, *self.saturation_range))
        if coin(g, self.p):
            x = TF.adjust_hue(x, uniform(g, -self.hue_delta, self.hue_delta) / 180)
        if contrast_last and coin(g, self.p):
            x = TF.adjust_contrast(x, uniform(g, *self.contrast_range))
        if is_uint8:
            return x.mul_(255).round_().clamp_(0, 255).to(torch.uint8), target
        return x.to(image.dtype), target

    def __repr__(self) -> str:
        return f"PhotometricDistortion(p={self.p})"


class Normalize:
    """uint8 (0-255) or float (0-1) image -> float32 ``(x - mean) / std`` (ImageNet statistics by default)."""

    def __init__(self, *, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError(f"mean and std need one value per channel and std > 0, got {mean} and {std}.")
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> Sample:
        if image.shape[0] != len(self.mean):
            raise ValueError(
                f"Normalize has {len(self.mean)} channel statistics, the image has {image.shape[0]} channels."
            )
        x = image.float() / 255 if image.dtype == torch.uint8 else image.float()
        return TF.normalize_image(x, self.mean, self.std), target

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class PadToDivisor:
    """Pad bottom/right to the next multiple of ``divisor`` (image ``fill``, ``sem_seg`` 255, ``panoptic`` 0)."""

    def __init__(self, divisor: int = 32, *, fill: float = 0) -> None:
        if divisor < 1:
            raise ValueError(f"divisor must be >= 1, got {divisor}.")
        self.divisor, self.fill = int(divisor), fill

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> Sample:
        h, w = F.image_size(image)
        ph = math.ceil(h / self.divisor) * self.divisor - h
        pw = math.ceil(w / self.divisor) * self.divisor - w
        return F.pad(image, target, (0, 0, pw, ph), fill=self.fill)

    def __repr__(self) -> str:
        return f"PadToDivisor({self.divisor})"
