"""The published weights of segzoo recipes: where each tag's file comes from and what it expects.

Pure data and torch-free (``segzoo info`` and ``segzoo list --pretrained`` read it without
importing torch). A tag (``segzoo.build("fcn_r50.tv_coco")``, timm style) records the file's
URL and the upstream's published hash, its licence, the converter that reads the upstream
layout, the class names and dataset category ids, the preprocessing the weights were trained
with, and the metrics the upstream reports (marked as such: they are not measured by segzoo).

Sources: torchvision's segmentation weights (``torchvision.models.segmentation``; trained on the
COCO train2017 subset with the 20 Pascal VOC categories, evaluated on COCO val2017 with VOC labels)
and torchvision's Mask R-CNN, v1 and v2 (the instance branch of ``panoptic_fpn_r50``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["WeightsSpec", "Preprocessing", "PUBLISHED", "published_tags", "VOC_CLASSES"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """What the weights were trained on: channel order, value range, normalisation, test-time resize."""

    color: str = "RGB"  # channel order of the network's input
    input_range: str = "0-1"  # values before normalisation ("0-1": uint8 / 255; "0-255": raw)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    resize: str = ""  # the upstream's evaluation resize rule, e.g. "shorter side 520"


@dataclass(frozen=True)
class WeightsSpec:
    """A published weights file of a recipe, selected by its tag (``name.tag``).

    Args:
        url: where the file is downloaded from (into torch's hub cache).
        num_classes: the classes of the weights (``build`` uses it unless told otherwise).
        sha256: the full hex digest, checked after download when given.
        hash_prefix: the upstream's published hash prefix (torchvision and Detectron2 put it in
            the file name: ``fcn_resnet50_coco-1167a1af.pth``), checked on download.
        converter: which converter reads the file (``"segzoo"``: already segzoo's safetensors;
            see ``segzoo.convert``).
        overrides: recipe options the weights need (e.g. ``{"aux": True}``).
        class_names, category_ids: the classes in output order and their dataset ids.
        metrics: what the upstream reports for these weights (not measured by segzoo), measured
            as ``metrics_protocol`` says.
    """

    url: str
    num_classes: int
    sha256: str | None = None
    hash_prefix: str | None = None
    dataset: str = ""
    description: str = ""
    license: str = ""
    converter: str = "segzoo"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()
    category_ids: tuple[int, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    metrics_protocol: str = ""
    preprocessing: Preprocessing = Preprocessing()


VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

_TV_LICENSE = "BSD-3-Clause (torchvision); trained on COCO (CC BY 4.0 annotations)"
_TV_PROTOCOL = (
    "reported by torchvision: COCO val2017 with the 20 VOC categories, shorter side resized to 520, "
    "single scale (torchvision's references/segmentation)"
)


def _torchvision(file: str, hash_prefix: str, miou: float, pixel_acc: float, upstream: str) -> WeightsSpec:
    return WeightsSpec(
        url=f"https://download.pytorch.org/models/{file}",
        num_classes=21,
        hash_prefix=hash_prefix,
        dataset="COCO train2017, VOC categories",
        description=f"torchvision's {upstream} (COCO_WITH_VOC_LABELS_V1), converted",
        license=_TV_LICENSE,
        converter="torchvision_segmentation",
        overrides={"aux": True},
        class_names=VOC_CLASSES,
        category_ids=tuple(range(21)),  # VOC label ids (0 = background)
        metrics={"mIoU": miou, "pixel_acc": pixel_acc},
        metrics_protocol=_TV_PROTOCOL,
        preprocessing=Preprocessing(resize="shorter side 520"),
    )


TV_MASKRCNN_COCO = WeightsSpec(
    url="https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
    num_classes=133,
    hash_prefix="bf2d0c1e",
    dataset="COCO train2017 (instances)",
    description="the instance branch of torchvision's maskrcnn_resnet50_fpn (COCO_V1); the semantic head "
    "is not in the file and stays untrained: fine-tune it before using panoptic predictions",
    license=_TV_LICENSE,
    converter="torchvision_maskrcnn",
    metrics={"box_AP": 37.9, "mask_AP": 34.6},
    metrics_protocol="reported by torchvision for the whole Mask R-CNN: COCO val2017 instance AP, shorter side 800, "
    "longer at most 1333 (torchvision's references/detection)",
    preprocessing=Preprocessing(resize="shorter side 800, longer at most 1333"),
)

# The improved Mask R-CNN of Li et al., "Benchmarking Detection Transfer Learning with Vision Transformers",
# arXiv:2111.11429, as torchvision builds it (maskrcnn_resnet50_fpn_v2; its training recipe: pytorch/vision#5773).
TV_MASKRCNN_V2_COCO = WeightsSpec(
    url="https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth",
    num_classes=133,
    hash_prefix="73cbd019",
    dataset="COCO train2017 (instances)",
    description="the instance branch of torchvision's maskrcnn_resnet50_fpn_v2 (COCO_V1; the improved Mask R-CNN "
    "of Li et al., arXiv:2111.11429); the semantic head is not in the file and stays untrained: fine-tune it "
    "before using panoptic predictions",
    license=_TV_LICENSE,
    converter="torchvision_maskrcnn_v2",
    overrides={"fpn_norm": "bn", "rpn_convs": 2, "box_head": "4conv1fc", "head_norm": "bn"},
    metrics={"box_AP": 47.4, "mask_AP": 41.8},
    metrics_protocol=TV_MASKRCNN_COCO.metrics_protocol,
    preprocessing=Preprocessing(resize="shorter side 800, longer at most 1333"),
)

PUBLISHED: dict[str, dict[str, WeightsSpec]] = {
    "panoptic_fpn_r50": {"tv_maskrcnn_coco": TV_MASKRCNN_COCO, "tv_maskrcnn_v2_coco": TV_MASKRCNN_V2_COCO},
    "fcn_r50": {"tv_coco": _torchvision("fcn_resnet50_coco-1167a1af.pth", "1167a1af", 60.5, 91.4, "fcn_resnet50")},
    "fcn_r101": {"tv_coco": _torchvision("fcn_resnet101_coco-7ecb50ca.pth", "7ecb50ca", 63.7, 91.9, "fcn_resnet101")},
    "deeplabv3_r50": {
        "tv_coco": _torchvision("deeplabv3_resnet50_coco-cd0a2569.pth", "cd0a2569", 66.4, 92.4, "deeplabv3_resnet50")
    },
    "deeplabv3_r101": {
        "tv_coco": _torchvision("deeplabv3_resnet101_coco-586e9e4e.pth", "586e9e4e", 67.4, 92.4, "deeplabv3_resnet101")
    },
}


def published_tags(recipe: str) -> dict[str, WeightsSpec]:
    """The published weights of ``recipe`` by tag (empty when it has none)."""
    return dict(PUBLISHED.get(recipe, {}))
