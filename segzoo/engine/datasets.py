"""Datasets from ``KIND:ROOT`` specs, default training pipelines, and models sized to a dataset.

The augmentation defaults follow MMSegmentation's configs (random resize of a base size by
0.5-2.0, random crop with ``cat_max_ratio=0.75``, flip, photometric distortion) and, for
panoptic data, Detectron2's (resize, crop, flip). No ``Normalize``: the trainer normalises
with the model's own statistics. Evaluation runs on whole images (batch size 1).

Specs: ``synthetic[:N]``, ``synthetic-panoptic[:N]`` (N images, seeded; the validation set
uses another seed), ``coco-panoptic:ROOT``, ``ade20k:ROOT``, ``cityscapes:ROOT``,
``voc:ROOT``, ``folder:ROOT`` (images/ + masks/, needs ``num_classes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from torch import nn

from .. import data as D
from ..factory import build, model_info

__all__ = ["KINDS", "DataSpec", "parse_data_spec", "make_dataset", "train_transforms", "model_for_dataset"]

KINDS = ("synthetic", "synthetic-panoptic", "coco-panoptic", "ade20k", "cityscapes", "voc", "folder")
# kind -> (train split, val split, base short side, crop (H, W))
_DEFAULTS = {
    "ade20k": ("training", "validation", 512, (512, 512)),
    "cityscapes": ("train", "val", 1024, (512, 1024)),
    "voc": ("train", "val", 512, (512, 512)),
    "coco-panoptic": ("train2017", "val2017", 800, (640, 640)),
    "folder": (None, None, 512, (512, 512)),
}
SYNTHETIC_TRAIN, SYNTHETIC_VAL = 400, 50


@dataclass(frozen=True)
class DataSpec:
    """A parsed ``KIND:ROOT`` spec (``root`` is the image count for the synthetic kinds)."""

    kind: str
    root: str | None

    @property
    def synthetic(self) -> bool:
        return self.kind.startswith("synthetic")

    @property
    def task(self) -> str | None:
        """The task the data serves (None when it depends on the model: Cityscapes)."""
        if self.kind in ("synthetic-panoptic", "coco-panoptic"):
            return "panoptic"
        return None if self.kind == "cityscapes" else "semantic"


def parse_data_spec(spec: str) -> DataSpec:
    """``"ade20k:/data/ADEChallengeData2016"`` -> ``DataSpec("ade20k", "/data/...")``; checks the kind and root."""
    kind, _, root = spec.partition(":")
    kind = kind.strip().lower().replace("_", "-")
    if kind not in KINDS:
        raise ValueError(f"Unknown data kind {kind!r} in {spec!r}; expected KIND:ROOT with KIND one of {', '.join(KINDS)}.")
    if kind.startswith("synthetic"):
        if root and not root.isdigit():
            raise ValueError(f"{kind} takes an optional image count ({kind}:200), got {root!r}.")
        return DataSpec(kind, root or None)
    if not root:
        raise ValueError(f"{kind} needs a dataset folder: {kind}:/path/to/{kind}.")
    if not Path(root).is_dir():
        raise FileNotFoundError(f"Data root {root!r} ({kind}) does not exist or is not a folder.")
    return DataSpec(kind, root)


def train_transforms(
    spec: DataSpec,
    *,
    task: str,
    crop: tuple[int, int] | None = None,
    scale_range: tuple[float, float] | None = None,
    base_size: int | Sequence[int] | None = None,
    synthetic_size: int = 96,
    flip: bool = True,
    photometric: bool | None = None,
) -> Any:
    """The default augmentation pipeline for ``spec`` (see the module docstring); a training recipe
    (:func:`segzoo.train_recipe`) sets the arguments. ``base_size``: the short side at scale 1, or
    several (one drawn per image, seed 001's ``(520, 640, 800)``); ``photometric`` defaults to on for
    real semantic data."""
    if spec.synthetic:  # scenes are endless and already varied: flip (and optional rescale/crop)
        base, default_crop, default_range = synthetic_size, None, None
    else:
        _, _, base, default_crop = _DEFAULTS[spec.kind]
        default_range = (0.5, 2.0)
    base = base_size or base
    crop = crop or default_crop
    scale_range = scale_range or default_range
    if photometric is None:
        photometric = task == "semantic" and not spec.synthetic
    steps: list[Any] = []
    if scale_range is not None:
        steps.append(D.RandomResize(base, scale_range=tuple(scale_range)))
    if crop is not None:
        steps.append(D.RandomCrop(crop, cat_max_ratio=0.75 if task == "semantic" else 1.0))
    if flip:
        steps.append(D.RandomHorizontalFlip())
    if photometric:
        steps.append(D.PhotometricDistortion())
    return D.Compose(steps)


def make_dataset(
    spec: DataSpec,
    *,
    task: str,
    train: bool,
    split: str | None = None,
    transforms: Any = None,
    num_classes: int | None = None,
    synthetic_size: int = 96,
) -> Any:
    """The training (``train=True``) or validation dataset of ``spec`` for a model of ``task``."""
    if spec.task is not None and spec.task != task:
        hint = "synthetic-panoptic, coco-panoptic or cityscapes" if task == "panoptic" else "a semantic kind"
        raise ValueError(f"A {task} model can't train on {spec.kind} ({spec.task} data); use {hint}.")
    if spec.synthetic:
        n = int(spec.root) if spec.root else (SYNTHETIC_TRAIN if train else SYNTHETIC_VAL)
        cls = D.SyntheticPanoptic if spec.kind == "synthetic-panoptic" else D.SyntheticSemantic
        return cls(n, size=(synthetic_size, synthetic_size), seed=0 if train else 1, transforms=transforms)
    default_train, default_val, _, _ = _DEFAULTS[spec.kind]
    split = split or (default_train if train else default_val)
    if spec.kind == "ade20k":
        return D.ADE20K(spec.root, split=split, transforms=transforms)
    if spec.kind == "cityscapes":
        return D.Cityscapes(spec.root, split=split, mode=task, transforms=transforms)
    if spec.kind == "voc":
        return D.VOCSegmentation(spec.root, split=split, transforms=transforms)
    if spec.kind == "coco-panoptic":
        return D.COCOPanoptic(spec.root, split=split, transforms=transforms)
    if num_classes is None:
        raise ValueError("folder data needs the class count: add --set num_classes=K.")
    return D.SegmentationFolder(spec.root, num_classes=num_classes, transforms=transforms)


def model_for_dataset(name: str, overrides: dict[str, Any], dataset: Any, *, weights: str | None = None) -> nn.Module:
    """``segzoo.build(name, **overrides)`` with ``num_classes`` (and ``thing_ids`` / ``stuff_ids``
    for panoptic recipes) taken from the dataset unless given."""
    defaults = model_info(name)["defaults"]
    args = dict(overrides)
    if dataset is not None:
        args.setdefault("num_classes", dataset.num_classes)
        if "thing_ids" in defaults:
            args.setdefault("thing_ids", list(dataset.thing_ids))
            args.setdefault("stuff_ids", list(dataset.stuff_ids))
    return build(name, weights=weights, **args)
