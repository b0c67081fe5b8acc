"""Datasets and joint transforms for semantic and panoptic segmentation.

Readers: COCO panoptic (Kirillov et al., arXiv:1801.00868), ADE20K SceneParsing (Zhou et al.,
arXiv:1608.05442), Cityscapes (Cordts et al., arXiv:1604.01685), Pascal VOC 2012
(Everingham et al., IJCV 2010) with SBD (Hariharan et al., ICCV 2011), a generic folder;
seeded synthetic benchmarks; transforms incl. Mosaic (YOLOv4, arXiv:2004.10934).

Sample format
-------------
Every dataset returns ``(image, target)``; ``image`` is a ``(3, H, W)`` uint8 tensor (until
``Normalize`` makes it float32). Train ids are contiguous: the dataset's original category
ids sorted, things and stuff together (Detectron2's rule); ``255`` marks void / ignored
pixels in ``sem_seg``.

Semantic target (``dataset.task == "semantic"``)::

    {"sem_seg": (H, W) int64 train ids, 255 = ignore,
     "image_id": the dataset's image id (int or file stem)}

Panoptic target (``dataset.task == "panoptic"``)::

    {"boxes":    (N, 4) float32 xyxy in pixel edges (x2 = last column + 1; COCO [x, y, w, h]
                 is [x, y, x + w, y + h]); always recomputed from the masks,
     "labels":   (N,) int64 train ids of the THING instances (crowd regions included),
     "masks":    (N, H, W) bool, the visible pixels of each instance (disjoint),
     "iscrowd":  (N,) bool, crowd regions (exclude them from instance losses),
     "sem_seg":  (H, W) int64 train ids over all classes; crowd pixels have their class,
                 void is 255,
     "panoptic": (H, W) int64 segment ids, 0 = void,
     "segments_info": [{"id", "category_id" (original id), "train_id", "isthing" (bool),
                        "iscrowd" (bool), "area" (pixels), "bbox" (COCO [x, y, w, h])}],
     "image_id": ...}

``masks[i]`` is the i-th thing segment of ``segments_info``
(``[s for s in segments_info if s["isthing"]]``), i.e. ``masks[i] == (panoptic == id)``.
Transforms keep all of this true (see :mod:`segzoo.data.functional`).

Dataset attributes: ``task``, ``classes`` (names in train-id order), ``num_classes``,
``categories`` (``{id, name, isthing, color, train_id}`` in train-id order: the train id
<-> original id mapping), ``thing_ids`` / ``stuff_ids`` (train ids), ``ignore_index``
(255), ``transforms`` (a callable ``(image, target) -> (image, target)`` or ``None``) and
``load(i)`` (the untransformed sample).
"""

from ._io import IMAGE_EXTENSIONS, read_image
from .ade20k import ADE20K, ADE20K_CLASSES
from .base import SegmentationDataset
from .cityscapes import CITYSCAPES_CATEGORIES, Cityscapes
from .coco_panoptic import COCOPanoptic, write_coco_panoptic
from .folder import SegmentationFolder
from .mosaic import Mosaic, MosaicDataset
from .panoptic_utils import IGNORE_INDEX, CategoryMap, boxes_from_masks, id2rgb, rgb2id
from .synthetic import SYNTHETIC_CATEGORIES, SyntheticPanoptic, SyntheticSemantic
from .transforms import (
    Compose,
    Normalize,
    PadToDivisor,
    PhotometricDistortion,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResize,
    Resize,
)
from .voc import VOC_CLASSES, VOCSegmentation

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_image",
    # datasets
    "SegmentationDataset",
    "COCOPanoptic",
    "ADE20K",
    "Cityscapes",
    "VOCSegmentation",
    "SegmentationFolder",
    "SyntheticPanoptic",
    "SyntheticSemantic",
    "write_coco_panoptic",
    # metadata and helpers
    "ADE20K_CLASSES",
    "CITYSCAPES_CATEGORIES",
    "VOC_CLASSES",
    "SYNTHETIC_CATEGORIES",
    "IGNORE_INDEX",
    "CategoryMap",
    "rgb2id",
    "id2rgb",
    "boxes_from_masks",
    # transforms
    "Compose",
    "Resize",
    "RandomResize",
    "RandomCrop",
    "RandomHorizontalFlip",
    "PhotometricDistortion",
    "Normalize",
    "PadToDivisor",
    "Mosaic",
    "MosaicDataset",
]
