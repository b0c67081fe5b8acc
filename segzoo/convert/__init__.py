"""Converters: published checkpoints of other projects -> the state dicts of segzoo recipes.

A converter maps an upstream file's keys onto a segzoo recipe's, folding or reshaping where the
architectures differ only in a way that is exact in eval mode (each converter says what), and
reports the upstream keys it did not use. Loading then goes through :mod:`segzoo.state_dicts`,
which names every missing, unexpected and mis-shaped key.

- ``torchvision_segmentation``: torchvision's FCN and DeepLabV3 (ResNet-50/101, MobileNetV3-Large) ->
  ``fcn_r50/r101``, ``deeplabv3_r50/r101``, ``deeplabv3_mobilenetv3``.
- ``torchvision_maskrcnn``: torchvision's Mask R-CNN (ResNet-50 FPN, v1) -> the instance branch
  (backbone, FPN, RPN, box and mask heads) of the panoptic recipes.
- ``torchvision_maskrcnn_v2``: torchvision's improved Mask R-CNN (ResNet-50 FPN v2, Li et al.,
  arXiv:2111.11429) -> the instance branch of a panoptic recipe built with its layout
  (``fpn_norm="bn", rpn_convs=2, box_head="4conv1fc", head_norm="bn"``).
- ``detectron2_panoptic_fpn``: Detectron2's Panoptic FPN (and Mask R-CNN FPN) ``.pkl`` files, read
  with an allow-list unpickler (:mod:`.array_pickle`) -> the panoptic recipes built with
  Detectron2's conventions (the ``d2_coco`` tags).

- ``mmseg``: MMSegmentation's PSPNet, FCN and DeepLabV3 R50/R101-D8 (``.pth`` with ``meta`` and
  ``state_dict``) -> ``pspnet_r50``, ``fcn_r50``, ``deeplabv3_r50`` on the ResNetV1c trunk with
  MMSegmentation's head layouts (the ``mmseg_*`` tags).

- ``hrnet_ocr``: HRNet-Semantic-Segmentation's HRNet + OCR (``seg_hrnet_ocr``) -> ``ocrnet_hrnet_w48`` on the
  ``hrnet_w48_seg`` trunk with ``align_corners=True`` (the ``hrnet_*`` tags).
- ``nvidia_hmsa``: NVIDIA semantic-segmentation's ``ocrnet.HRNet_Mscale`` -> ``hmsa_ocrnet_hrnet_w48`` on the
  ``hrnet_w48_bilinear`` trunk with ``fuse_at_input=True`` (the ``nvidia_*`` tags).
- ``upsnet``: UPSNet's ``resnet_50_upsnet`` checkpoints (``.pth`` state dicts) -> ``upsnet_r50`` on the
  ``resnet50_msra`` trunk with ``fpn_context=True`` (the ``upsnet_coco`` tag; non-commercial licence).

Use ``segzoo.build("fcn_r50", weights="fcn_resnet50_coco-1167a1af.pth")`` (the layout is detected),
``segzoo.build("fcn_r50.tv_coco")`` (downloaded and converted) or ``segzoo convert SRC --to RECIPE``.
"""

from . import (  # noqa: F401  (register their converters)
    detectron2_panoptic_fpn,
    hrnet_ocr,
    mmsegmentation,
    nvidia_hmsa,
    torchvision_maskrcnn,
    torchvision_segmentation,
    upsnet,
)
from .core import CONVERTERS, Converted, convert_state, detect_converter, read_upstream, register_converter

__all__ = ["CONVERTERS", "Converted", "convert_state", "detect_converter", "read_upstream", "register_converter"]
