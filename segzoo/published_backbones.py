"""The ImageNet weights of segzoo's backbones: which file ``pretrained=True`` loads and what it expects.

The backbone counterpart of :mod:`segzoo.published` (recipe weights tags), pure data and
torch-free: ``segzoo info resnet50`` and ``segzoo list --backbones`` read it without importing
torch or timm. Each record names the upstream weights by architecture and pretrained tag
(timm style: ``resnet50.a1_in1k``), where they are downloaded from, their licence, what the
upstream reports for them, and the preprocessing they were trained and evaluated with.

The timm records copy timm's ``pretrained_cfg`` of that tag (timm 1.0's ``default_cfgs``: the
default tag of each architecture); ``TimmBackbone`` loads exactly the recorded tag, so a newer
timm with another default does not change what ``pretrained=True`` means, and
``tests/test_published_backbones.py`` checks every field against the installed timm. timm's package
carries no accuracy figures (its results tables live in its repository), so ``metrics`` is empty
for them and ``metrics_protocol`` says so. ``vgg16_largefov`` loads torchvision's VGG16 (DeepLab-
LargeFOV, arXiv:1412.7062, starts from it), whose metadata includes torchvision's reported top-1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Mapping

from .published import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

__all__ = ["BackboneWeightsSpec", "ImageNetPreprocessing", "BACKBONE_WEIGHTS", "NO_IMAGENET_WEIGHTS", "backbone_weights"]


@dataclass(frozen=True)
class ImageNetPreprocessing(Preprocessing):
    """:class:`~segzoo.published.Preprocessing` plus the classifier's evaluation transform (timm's
    ``pretrained_cfg`` fields): input size, resize interpolation, crop fraction and mode, and the
    larger test-time size some weights are evaluated at."""

    input_size: tuple[int, int, int] = (3, 224, 224)
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    crop_mode: str = "center"
    test_input_size: tuple[int, int, int] | None = None
    test_crop_pct: float | None = None


@dataclass(frozen=True)
class BackboneWeightsSpec:
    """A backbone's ImageNet weights (the fields of :class:`~segzoo.published.WeightsSpec` that apply).

    Args:
        source: the library that publishes and loads them (``"timm"``, ``"torchvision"``).
        architecture, tag: the upstream model and weights names (timm: ``resnet50`` / ``a1_in1k``,
            loaded as ``timm.create_model("resnet50.a1_in1k", pretrained=True)``).
        url: the file's original release URL (empty when the upstream publishes it on the hub only).
        hf_hub_id: the Hugging Face hub repository timm downloads from.
        paper: the paper of the weights' training recipe, when the upstream names one.
        metrics, metrics_protocol: what the upstream reports (``{}`` with the reason when nothing).
        notes: how the backbone uses them when that differs from the upstream model.
    """

    source: str
    architecture: str
    tag: str
    url: str = ""
    hf_hub_id: str = ""
    license: str = ""
    dataset: str = "ImageNet-1k"
    description: str = ""
    paper: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    metrics_protocol: str = ""
    preprocessing: ImageNetPreprocessing = ImageNetPreprocessing()
    notes: str = ""

    @property
    def name(self) -> str:
        """The upstream's name of the weights: ``architecture.tag``."""
        return f"{self.architecture}.{self.tag}"


TIMM_PROTOCOL = (
    "timm's package records no accuracy for its weights; its ImageNet results are tables in the timm repository "
    "(results/results-imagenet.csv), not copied here"
)
RSB = "ResNet strikes back: An improved training procedure in timm (arXiv:2110.00476)"  # timm's a1/a1h/c1 recipes


def _timm(
    architecture: str, tag: str, *, license: str, url: str = "", crop_pct: float, interpolation: str,
    test_input_size: tuple[int, int, int] | None = None, test_crop_pct: float | None = None, paper: str = "",
) -> BackboneWeightsSpec:  # fmt: skip
    scale = math.floor(224 / crop_pct)  # timm's eval transform: resize to floor(size / crop_pct), centre crop
    return BackboneWeightsSpec(
        source="timm", architecture=architecture, tag=tag, url=url, hf_hub_id=f"timm/{architecture}.{tag}",
        license=license, description=f"timm's {architecture}.{tag} (ImageNet-1k classification), head dropped",
        paper=paper, metrics_protocol=TIMM_PROTOCOL,
        preprocessing=ImageNetPreprocessing(
            mean=IMAGENET_MEAN, std=IMAGENET_STD, resize=f"shorter side {scale}, center crop 224",
            interpolation=interpolation, crop_pct=crop_pct, test_input_size=test_input_size, test_crop_pct=test_crop_pct,
        ),
    )  # fmt: skip


_GH = "https://github.com/rwightman/pytorch-image-models/releases/download"
_HF_GH = "https://github.com/huggingface/pytorch-image-models/releases/download"
_RSB = dict(license="apache-2.0", crop_pct=0.95, interpolation="bicubic", test_input_size=(3, 288, 288),
            test_crop_pct=1.0, paper=RSB)  # fmt: skip
_MOBILENETV3 = _timm("mobilenetv3_large_100", "ra_in1k", license="apache-2.0", crop_pct=0.875, interpolation="bicubic",
                     url=f"{_GH}/v0.1-weights/mobilenetv3_large_100_ra-f55367f5.pth")  # fmt: skip

# backbone registry name -> its ImageNet weights
BACKBONE_WEIGHTS: dict[str, BackboneWeightsSpec] = {
    "resnet18": _timm("resnet18", "a1_in1k", url=f"{_HF_GH}/v0.1-rsb-weights/resnet18_a1_0-d63eafa0.pth", **_RSB),
    "resnet34": _timm("resnet34", "a1_in1k", url=f"{_HF_GH}/v0.1-rsb-weights/resnet34_a1_0-46f8f793.pth", **_RSB),
    "resnet50": _timm("resnet50", "a1_in1k", url=f"{_GH}/v0.1-rsb-weights/resnet50_a1_0-14fe96d1.pth", **_RSB),
    "resnet101": _timm("resnet101", "a1h_in1k", url=f"{_GH}/v0.1-rsb-weights/resnet101_a1h-36d3f2aa.pth", **_RSB),
    **{
        f"resnet{depth}_v1c": _timm(
            f"resnet{depth}c", "gluon_in1k", license="apache-2.0", crop_pct=0.875, interpolation="bicubic",
            url=f"https://github.com/rwightman/pytorch-pretrained-gluonresnet/releases/download/v0.1/gluon_resnet{depth}_v1c-{sha}.pth",
            paper="Bag of Tricks for Image Classification with Convolutional Neural Networks (arXiv:1812.01187)",
        )
        for depth, sha in (("50", "48092f55"), ("101", "1f26822a"))
    },
    "resnext101_64x4d": _timm(
        "resnext101_64x4d", "c1_in1k", url=f"{_GH}/v0.1-tpu-weights/resnext101_64x4d_c-0d0e0cc0.pth", **_RSB
    ),
    "seresnet50": _timm("seresnet50", "a1_in1k", url=f"{_HF_GH}/v0.1-rsb-weights/seresnet50_a1_0-ffa00869.pth", **_RSB),
    "hrnet_w18": _timm("hrnet_w18", "ms_aug_in1k", license="mit", crop_pct=0.95, interpolation="bilinear"),
    "hrnet_w32": _timm("hrnet_w32", "ms_in1k", license="mit", crop_pct=0.875, interpolation="bilinear"),
    "hrnet_w48": _timm("hrnet_w48", "ms_in1k", license="mit", crop_pct=0.875, interpolation="bilinear"),
    **{
        f"hrnet_{w}_seg": replace(
            spec, notes="trained with nearest-neighbour fuse upsampling (the classification HRNet); this trunk upsamples "
            "bilinearly (HRNet-Semantic-Segmentation), so they initialise fine-tuning rather than reproduce timm's features",
        )
        for w, spec in (
            ("w18", _timm("hrnet_w18", "ms_aug_in1k", license="mit", crop_pct=0.95, interpolation="bilinear")),
            ("w48", _timm("hrnet_w48", "ms_in1k", license="mit", crop_pct=0.875, interpolation="bilinear")),
        )
    },
    **{
        f"hrnet_{w}_bilinear": replace(
            spec, notes="trained with nearest-neighbour fuse upsampling (the classification HRNet); this trunk upsamples "
            "bilinearly (NVIDIA's hrnetv2, MMSegmentation's HRNet), so they initialise fine-tuning rather than reproduce "
            "timm's features",
        )
        for w, spec in (
            ("w18", _timm("hrnet_w18", "ms_aug_in1k", license="mit", crop_pct=0.95, interpolation="bilinear")),
            ("w48", _timm("hrnet_w48", "ms_in1k", license="mit", crop_pct=0.875, interpolation="bilinear")),
        )
    },
    "mobilenetv2_100": _timm("mobilenetv2_100", "ra_in1k", license="apache-2.0", crop_pct=0.875, interpolation="bicubic",
                             url=f"{_GH}/v0.1-weights/mobilenetv2_100_ra-b33bc2c4.pth"),  # fmt: skip
    "mobilenetv3_large_100": _MOBILENETV3,
    "mobilenetv3_large_100_tv": replace(
        _MOBILENETV3, notes="trained in timm's layout (BatchNorm eps 1e-5, no dilation); this backbone uses torchvision's "
        "eps 1e-3 and dilation, so they initialise fine-tuning rather than reproduce timm's features",
    ),
    "vgg16_largefov": BackboneWeightsSpec(
        source="torchvision", architecture="vgg16", tag="IMAGENET1K_V1", url="https://download.pytorch.org/models/vgg16-397923af.pth",
        license="BSD-3-Clause (torchvision)", description="torchvision's VGG16_Weights.IMAGENET1K_V1 (conv layers; "
        "fc6/fc7 are DeepLab-LargeFOV's own and stay initialised)",
        paper="Very Deep Convolutional Networks for Large-Scale Image Recognition (arXiv:1409.1556)",
        metrics={"top1": 71.592, "top5": 90.382},
        metrics_protocol="reported by torchvision: ImageNet-1k val, resize 256, center crop 224, single crop",
        preprocessing=ImageNetPreprocessing(resize="shorter side 256, center crop 224",
                                            interpolation="bilinear", crop_pct=0.875),
    ),  # fmt: skip
}

# registered backbones without ImageNet weights, and why
NO_IMAGENET_WEIGHTS = {
    "seresnet101": "timm publishes no ImageNet weights for seresnet101 (its only pretrained tag is 'untrained'); "
    "seresnet50 has them",
    "tiny": "tiny is a test backbone; it has no pretrained weights",
    **{
        f"{depth}_msra": f"timm's {depth} weights have the stride in the 3x3 conv, not the 1x1 conv of this trunk; "
        "its weights come with the Detectron2 tags (segzoo list --pretrained)"
        for depth in ("resnet50", "resnet101")
    },
}


def backbone_weights(name: str) -> BackboneWeightsSpec | None:
    """The ImageNet weights of the registered backbone ``name`` (None when it has none)."""
    return BACKBONE_WEIGHTS.get(name)
