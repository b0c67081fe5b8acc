"""Backbones: feature extractors returning a list of maps, high resolution first.

ResNet (arXiv:1512.03385), ResNeXt (arXiv:1611.05431), SE-ResNet (arXiv:1709.01507), HRNet
(arXiv:1908.07919) and MobileNetV2/V3 (arXiv:1801.04381, arXiv:1905.02244) come from timm
(``resnet50_msra``/``resnet101_msra``: the stride in the 1x1 conv, for Detectron2's weights;
``mobilenetv3_large_100_tv``: timm's modules in torchvision's segmentation layout);
VGG16 DeepLab-LargeFOV (arXiv:1412.7062) and the ``tiny`` test backbone are defined here.
Importing this package registers them all; list them with :func:`list_backbones`.
"""

from .base import BACKBONES, FeatureInfo, create_backbone, list_backbones, register_backbone, resolve_backbone
from .errors import BackboneWeightsError
from .mobilenetv3_tv import TorchvisionMobileNetV3
from .hrnet_seg import bilinear_fuse
from .msra_resnet import stride_in_1x1
from .timm_backbone import TimmBackbone
from .tiny import TinyBackbone
from .vgg import VGG16LargeFOV

__all__ = [
    "FeatureInfo",
    "BACKBONES",
    "register_backbone",
    "create_backbone",
    "list_backbones",
    "resolve_backbone",
    "BackboneWeightsError",
    "TimmBackbone",
    "TorchvisionMobileNetV3",
    "VGG16LargeFOV",
    "TinyBackbone",
    "stride_in_1x1",
    "bilinear_fuse",
]
