"""The published weights of segzoo recipes: where each tag's file comes from and what it expects.

Pure data and torch-free (``segzoo info`` and ``segzoo list --pretrained`` read it without
importing torch). A tag (``segzoo.build("fcn_r50.tv_coco")``, timm style) records the file's
URL and the upstream's published hash, its licence, the converter that reads the upstream
layout, the class names and dataset category ids, the preprocessing the weights were trained
with, and the metrics the upstream reports (marked as such: they are not measured by segzoo).

Sources: torchvision's segmentation weights (``torchvision.models.segmentation``; trained on the
COCO train2017 subset with the 20 Pascal VOC categories, evaluated on COCO val2017 with VOC labels)
and torchvision's Mask R-CNN, v1 and v2 (the instance branch of ``panoptic_fpn_r50``); Detectron2's COCO
Panoptic FPN (``COCO-PanopticSegmentation/panoptic_fpn_R_*``, whole models).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .coco_categories import COCO_PANOPTIC_CATEGORIES
from .dataset_classes import ADE20K_CLASSES, CITYSCAPES_CLASSES, CITYSCAPES_TRAIN_TABLE

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
            the file name: ``fcn_resnet50_coco-1167a1af.pth``), checked on download (and on the
            cached file) with ``hash_algorithm``: torchvision's is a sha256 prefix, Detectron2's
            (``model_final_c10459.pkl``) an md5 prefix.
        converter: which converter reads the file (``"segzoo"``: already segzoo's safetensors;
            see ``segzoo.convert``).
        overrides: recipe options the weights need (e.g. ``{"aux": True}``).
        class_names, category_ids: the classes in output order and their dataset ids.
        metrics: what the upstream reports for these weights (not measured by segzoo), measured
            as ``metrics_protocol`` says.
        notice: terms the user must see when the weights load (e.g. a non-commercial licence);
            ``segzoo.build`` warns with it (:class:`segzoo.errors.WeightsLicenseWarning`).
    """

    url: str
    num_classes: int
    sha256: str | None = None
    hash_prefix: str | None = None
    hash_algorithm: str = "sha256"
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
    notice: str = ""


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

_D2_LICENSE = "CC BY-SA 3.0 (Detectron2 model zoo); trained on COCO (CC BY 4.0 annotations)"
_D2_BASE = "https://dl.fbaipublicfiles.com/detectron2/COCO-PanopticSegmentation"
# Detectron2's input: BGR, 0-255, mean subtracted, std 1. The converter reverses the stem's input
# channels, so the segzoo model reads RGB; its normalisation is the same mean in RGB order, in 0-1 units.
_D2_MEAN_BGR = (103.530, 116.280, 123.675)
_D2_OVERRIDES = {
    "exact_anchors": True,
    "roi_align": "v2",
    "mask_paste": "sample",
    "mean": tuple(m / 255.0 for m in reversed(_D2_MEAN_BGR)),
    "std": (1 / 255.0,) * 3,
}


def _coco_panoptic_classes() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Names and category ids of COCO panoptic's 133 classes in segzoo's train-id order (things by id, then stuff by id)."""
    ordered = [c for c in COCO_PANOPTIC_CATEGORIES if c[2]] + [c for c in COCO_PANOPTIC_CATEGORIES if not c[2]]
    return tuple(name for _, name, _ in ordered), tuple(i for i, _, _ in ordered)


def _detectron2(config: str, model_id: int, file: str, backbone: str, box_ap: float, mask_ap: float, pq: float) -> WeightsSpec:
    names, ids = _coco_panoptic_classes()
    return WeightsSpec(
        url=f"{_D2_BASE}/{config}/{model_id}/{file}",
        num_classes=133,
        hash_prefix=file.rsplit("_", 1)[-1].split(".")[0],
        hash_algorithm="md5",
        dataset="COCO train2017 (panoptic, things and stuff separated)",
        description=f"Detectron2's {config} (model {model_id}), converted; Detectron2's detector conventions "
        "(MSRA ResNet, exact anchors, ROIAlignV2, mask paste by sampling)",
        license=_D2_LICENSE,
        converter="detectron2_panoptic_fpn",
        overrides={"backbone": backbone, **_D2_OVERRIDES},
        class_names=names,
        category_ids=ids,
        metrics={"PQ": pq, "box_AP": box_ap, "mask_AP": mask_ap},
        metrics_protocol="reported by Detectron2 (MODEL_ZOO.md): COCO val2017, shorter side 800, longer at most 1333, "
        "single scale; PQ of its heuristic combination (overlap 0.5, stuff area 4096, instance score 0.5)",
        preprocessing=Preprocessing(
            color="BGR", input_range="0-255", mean=_D2_MEAN_BGR, std=(1.0, 1.0, 1.0), resize="shorter side 800, longer at most 1333"
        ),
    )


_MMSEG_BASE = "https://download.openmmlab.com/mmsegmentation/v0.5"
_MMSEG_LICENSE = "Apache-2.0 (MMSegmentation)"
_MMSEG_DATASETS = {  # description, class names, dataset ids of the train ids, protocol, resize
    "ade20k": ("ADE20K train (SceneParsing, 150 classes)", ADE20K_CLASSES, tuple(range(1, 151)),
               "ADE20K val, shorter side 512 (keep ratio, longer at most 2048), whole image",
               "shorter side 512, longer at most 2048"),
    "cityscapes": ("Cityscapes train (fine, 19 classes)", CITYSCAPES_CLASSES, tuple(row[0] for row in CITYSCAPES_TRAIN_TABLE),
                   "Cityscapes val, 2048 x 1024, whole image", "2048 x 1024 (keep ratio)"),
}  # fmt: skip


_MMSEG_HEADS = {  # the recipe options of MMSegmentation's head layouts (see segzoo.convert.mmsegmentation)
    "pspnet": {},
    "fcn": {"head_convs": 2, "concat_input": True},
    "deeplabv3": {"head_layout": "mmseg", "channels": 512},
    "danet": {},
    "nonlocal": {"scaled_affinity": True},
    "deeplabv3plus": {"head_layout": "mmseg", "channels": 512, "output_stride": 8},
    "ocrnet": {},
}


def _mmseg(
    name: str, file: str, dataset: str, miou: float, miou_ms: float | None, backbone: str = "resnet50_v1c"
) -> WeightsSpec:
    """An MMSegmentation checkpoint (``configs/<method>/metafile.yaml``); the file name ends in its sha256 prefix."""
    data, classes, ids, protocol, resize = _MMSEG_DATASETS[dataset]
    method = name.split("_")[0]
    folder = {"nonlocal": "nonlocal_net"}.get(method, method)
    return WeightsSpec(
        url=f"{_MMSEG_BASE}/{folder}/{file.rsplit('_', 2)[0]}/{file}",
        num_classes=len(classes),
        hash_prefix=file.rsplit("-", 1)[-1].split(".")[0],
        dataset=data,
        description=f"MMSegmentation's {name}, converted"
        + (" (ResNetV1c trunk, D8)" if backbone == "resnet50_v1c" else " (HRNet with bilinear fuse upsampling)"),
        license=_MMSEG_LICENSE + f"; {data.split(' ')[0]} annotations under their own terms",
        converter="mmseg",
        overrides={"backbone": backbone, "num_classes": len(classes), **_MMSEG_HEADS[method]},
        class_names=classes,
        category_ids=ids,
        metrics={"mIoU": miou, **({"mIoU_ms_flip": miou_ms} if miou_ms is not None else {})},
        metrics_protocol=f"reported by MMSegmentation (metafile.yaml): {protocol}; mIoU_ms_flip with scales "
        "0.5-1.75 and flip",
        preprocessing=Preprocessing(resize=resize),  # RGB, ImageNet mean/std (MMSegmentation's in 0-255 units)
    )


_HRNET_OCR = "https://github.com/hsfzxjy/models.storage/releases/download/HRNet-OCR"


def _hrnet_ocr(file: str, dataset: str, miou: float, protocol: str, resize: str) -> WeightsSpec:
    """HRNet-Semantic-Segmentation's HRNet-W48 + OCR (its README's model table; no hash is published)."""
    data, classes, ids, _, _ = _MMSEG_DATASETS[dataset]
    return WeightsSpec(
        url=f"{_HRNET_OCR}/{file}",
        num_classes=len(classes),
        dataset=data,
        description="HRNet-Semantic-Segmentation's HRNetV2-W48 + OCR (branch HRNet-OCR), converted; its trunk upsamples "
        "bilinearly with align_corners=True",
        license="MIT (HRNet-Semantic-Segmentation); " + data.split(" ")[0] + " annotations under their own terms",
        converter="hrnet_ocr",
        overrides={"backbone": "hrnet_w48_seg", "align_corners": True, "num_classes": len(classes)},
        class_names=classes,
        category_ids=ids,
        metrics={"mIoU": miou},
        metrics_protocol=f"reported by HRNet-Semantic-Segmentation (README, branch HRNet-OCR): {protocol}",
        preprocessing=Preprocessing(resize=resize),  # RGB, ImageNet mean/std (its input_transform)
    )


NVIDIA_HMSA_CITYSCAPES = WeightsSpec(
    url="https://drive.google.com/open?id=1fs-uLzXvmsISbS635eRZCc5uzQdBIZ_U",  # a Drive folder: fetch the file by hand
    num_classes=19,
    dataset="Cityscapes (NVIDIA semantic-segmentation's recipe, with its auto-labelled coarse data)",
    description="NVIDIA semantic-segmentation's ocrnet.HRNet_Mscale (cityscapes_ocrnet.HRNet_Mscale_outstanding-turtle.pth "
    "in the repository's Google Drive folder; download it by hand and pass weights=PATH), converted",
    license="BSD-3-Clause (NVIDIA semantic-segmentation); Cityscapes annotations under their own terms",
    converter="nvidia_hmsa",
    overrides={"backbone": "hrnet_w48_bilinear", "fuse_at_input": True, "num_classes": 19},
    class_names=CITYSCAPES_CLASSES,
    category_ids=tuple(row[0] for row in CITYSCAPES_TRAIN_TABLE),
    metrics={"mIoU": 86.92},
    metrics_protocol="reported by NVIDIA semantic-segmentation (README, scripts/eval_cityscapes.yml): Cityscapes val, "
    "hierarchical attention over scales 0.5, 1.0, 2.0",
    preprocessing=Preprocessing(resize="2048 x 1024 whole image"),  # RGB, ImageNet mean/std
)


PUBLISHED: dict[str, dict[str, WeightsSpec]] = {
    "hmsa_ocrnet_hrnet_w48": {"nvidia_cityscapes": NVIDIA_HMSA_CITYSCAPES},
    "ocrnet_hrnet_w48": {
        "mmseg_ade20k": _mmseg("ocrnet_hr48_4xb4-80k_ade20k-512x512",
                               "ocrnet_hr48_512x512_80k_ade20k_20200615_021518-d168c2d1.pth", "ade20k", 43.0, 44.3,
                               "hrnet_w48_bilinear"),
        "mmseg_cityscapes": _mmseg("ocrnet_hr48_4xb2-80k_cityscapes-512x1024",
                                   "ocrnet_hr48_512x1024_80k_cityscapes_20200601_222752-9076bcdf.pth", "cityscapes",
                                   80.7, 81.87, "hrnet_w48_bilinear"),
        "hrnet_cityscapes": _hrnet_ocr("hrnet_ocr_cs_8162_torch11.pth", "cityscapes", 81.6,
                                       "Cityscapes val, trained on train, 1024 x 2048, single scale, no flip, no OHEM",
                                       "2048 x 1024 whole image"),
        "hrnet_ade20k": _hrnet_ocr("hrnet_ocr_ade20k_4451_torch04.pth", "ade20k", 44.5,
                                   "ADE20K val, 520 x 520 training, OHEM, single scale, no flip",
                                   "its ADE20K test transform (base size 520)"),
    },  # fmt: skip
    "pspnet_r50": {
        "mmseg_ade20k": _mmseg("pspnet_r50-d8_4xb4-80k_ade20k-512x512",
                               "pspnet_r50-d8_512x512_80k_ade20k_20200615_014128-15a8b914.pth", "ade20k", 41.13, 41.94),
        "mmseg_cityscapes": _mmseg("pspnet_r50-d8_4xb2-80k_cityscapes-512x1024",
                                   "pspnet_r50-d8_512x1024_80k_cityscapes_20200606_112131-2376f12b.pth", "cityscapes",
                                   78.55, 79.79),
    },  # fmt: skip
    "danet_r50": {
        "mmseg_ade20k": _mmseg("danet_r50-d8_4xb4-80k_ade20k-512x512",
                               "danet_r50-d8_512x512_80k_ade20k_20200615_015125-edb18e08.pth", "ade20k", 41.66, 42.9),
        "mmseg_cityscapes": _mmseg("danet_r50-d8_4xb2-80k_cityscapes-512x1024",
                                   "danet_r50-d8_512x1024_80k_cityscapes_20200607_133029-2bfa2293.pth", "cityscapes",
                                   79.34, None),
    },  # fmt: skip
    "deeplabv3p_r50": {
        "mmseg_ade20k": _mmseg("deeplabv3plus_r50-d8_4xb4-80k_ade20k-512x512",
                               "deeplabv3plus_r50-d8_512x512_80k_ade20k_20200614_185028-bf1400d8.pth", "ade20k", 42.72,
                               43.75),
        "mmseg_cityscapes": _mmseg("deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024",
                                   "deeplabv3plus_r50-d8_512x1024_80k_cityscapes_20200606_114049-f9fb496d.pth",
                                   "cityscapes", 80.09, 81.13),
    },
    "ocrnet_hrnet_w18": {
        "mmseg_ade20k": _mmseg("ocrnet_hr18_4xb4-80k_ade20k-512x512",
                               "ocrnet_hr18_512x512_80k_ade20k_20200615_053157-d173d83b.pth", "ade20k", 37.79, 39.16,
                               "hrnet_w18_bilinear"),
        "mmseg_cityscapes": _mmseg("ocrnet_hr18_4xb2-80k_cityscapes-512x1024",
                                   "ocrnet_hr18_512x1024_80k_cityscapes_20200614_230521-c2e1dd4a.pth", "cityscapes",
                                   78.57, 80.46, "hrnet_w18_bilinear"),
    },
    "nonlocal_r50": {
        "mmseg_ade20k": _mmseg("nonlocal_r50-d8_4xb4-80k_ade20k-512x512",
                               "nonlocal_r50-d8_512x512_80k_ade20k_20200615_015801-5ae0aa33.pth", "ade20k", 40.75, 42.05),
        "mmseg_cityscapes": _mmseg("nonlocal_r50-d8_4xb2-80k_cityscapes-512x1024",
                                   "nonlocal_r50-d8_512x1024_80k_cityscapes_20200607_193518-d6839fae.pth", "cityscapes",
                                   78.01, None),
    },  # fmt: skip
    "panoptic_fpn_r50": {
        "tv_maskrcnn_coco": TV_MASKRCNN_COCO,
        "tv_maskrcnn_v2_coco": TV_MASKRCNN_V2_COCO,
        "d2_coco": _detectron2("panoptic_fpn_R_50_3x", 139514569, "model_final_c10459.pkl", "resnet50_msra", 40.0, 36.5, 41.5),
        "d2_coco_1x": _detectron2("panoptic_fpn_R_50_1x", 139514544, "model_final_dbfeb4.pkl", "resnet50_msra", 37.6, 34.7, 39.4),
    },
    "panoptic_fpn_r101": {
        "d2_coco": _detectron2("panoptic_fpn_R_101_3x", 139514519, "model_final_cafdb1.pkl", "resnet101_msra", 42.4, 38.5, 43.0),
    },
    "fcn_r50": {
        "tv_coco": _torchvision("fcn_resnet50_coco-1167a1af.pth", "1167a1af", 60.5, 91.4, "fcn_resnet50"),
        "mmseg_ade20k": _mmseg("fcn_r50-d8_4xb4-80k_ade20k-512x512",
                               "fcn_r50-d8_512x512_80k_ade20k_20200614_144016-f8ac5082.pth", "ade20k", 35.94, 37.94),
        "mmseg_cityscapes": _mmseg("fcn_r50-d8_4xb2-80k_cityscapes-512x1024",
                                   "fcn_r50-d8_512x1024_80k_cityscapes_20200606_113019-03aa804d.pth", "cityscapes",
                                   73.61, 74.24),
    },  # fmt: skip
    "fcn_r101": {"tv_coco": _torchvision("fcn_resnet101_coco-7ecb50ca.pth", "7ecb50ca", 63.7, 91.9, "fcn_resnet101")},
    "deeplabv3_r50": {
        "tv_coco": _torchvision("deeplabv3_resnet50_coco-cd0a2569.pth", "cd0a2569", 66.4, 92.4, "deeplabv3_resnet50"),
        "mmseg_ade20k": _mmseg("deeplabv3_r50-d8_4xb4-80k_ade20k-512x512",
                               "deeplabv3_r50-d8_512x512_80k_ade20k_20200614_185028-0bb3f844.pth", "ade20k", 42.42, 43.28),
        "mmseg_cityscapes": _mmseg("deeplabv3_r50-d8_4xb2-80k_cityscapes-512x1024",
                                   "deeplabv3_r50-d8_512x1024_80k_cityscapes_20200606_113404-b92cfdd4.pth", "cityscapes",
                                   79.32, 80.57),
    },  # fmt: skip
    "deeplabv3_r101": {
        "tv_coco": _torchvision("deeplabv3_resnet101_coco-586e9e4e.pth", "586e9e4e", 67.4, 92.4, "deeplabv3_resnet101")
    },
    "deeplabv3_mobilenetv3": {
        "tv_coco": _torchvision(
            "deeplabv3_mobilenet_v3_large-fc3c493d.pth", "fc3c493d", 60.3, 91.2, "deeplabv3_mobilenet_v3_large"
        )
    },
}


_UPSNET_MEAN_BGR = (102.9801, 115.9465, 122.7717)
UPSNET_COCO = WeightsSpec(
    url="http://www.yuwenxiong.com/pretrained_model/upsnet_resnet_50_coco_90000.pth",
    num_classes=133,
    dataset="COCO train2017 (panoptic, things and stuff separated)",
    description="UPSNet's ResNet-50 COCO model (upsnet_resnet_50_coco_90000.pth, uber-research/UPSNet), converted; "
    "Caffe ResNet-50 (stride in the 1x1 conv), FPN with a global-context term, shared deformable semantic head",
    license="Uber Non-Commercial License (UPSNet's code and weights); trained on COCO (CC BY 4.0 annotations)",
    notice="these weights are UPSNet's, released under the Uber Non-Commercial License: use them for non-commercial "
    "purposes only (research, teaching, personal experimentation); see https://github.com/uber-research/UPSNet/blob/master/LICENSE",
    converter="upsnet",
    overrides={
        "backbone": "resnet50_msra",
        "fpn_context": True,
        "mean": tuple(m / 255.0 for m in reversed(_UPSNET_MEAN_BGR)),
        "std": (1 / 255.0,) * 3,
    },
    class_names=_coco_panoptic_classes()[0],
    category_ids=_coco_panoptic_classes()[1],
    metrics={"PQ": 42.5, "SQ": 78.0, "RQ": 52.4, "PQ_th": 48.5, "PQ_st": 33.4},
    metrics_protocol="reported by UPSNet (README, 'UPSNet-50'): COCO val2017, shorter side 800, longer at most 1333, "
    "single scale, with UPSNet's own panoptic inference (detections above 0.6 after class-agnostic NMS at 0.5, "
    "mask removal at 0.3 overlap, stuff area at least 4096)",
    preprocessing=Preprocessing(
        color="BGR", input_range="0-255", mean=_UPSNET_MEAN_BGR, std=(1.0, 1.0, 1.0), resize="shorter side 800, longer at most 1333"
    ),
)
PUBLISHED["upsnet_r50"] = {"upsnet_coco": UPSNET_COCO}


def published_tags(recipe: str) -> dict[str, WeightsSpec]:
    """The published weights of ``recipe`` by tag (empty when it has none)."""
    return dict(PUBLISHED.get(recipe, {}))
