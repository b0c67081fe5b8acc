"""torchvision's FCN (Long et al., arXiv:1411.4038) and DeepLabV3 (Chen et al., arXiv:1706.05587)
checkpoints -> ``fcn_r50/r101``, ``deeplabv3_r50/r101`` and ``deeplabv3_mobilenetv3``.

The architectures are the same (a ResNet with dilated layer3/layer4, output stride 8, the
heads, an FCN auxiliary head on layer3; or MobileNetV3-Large at output stride 16 with the
auxiliary head on its 40-channel stride-8 block, whose keys :mod:`.torchvision_mobilenet` renames
into timm's), so the conversion is a renaming, plus one exact fold:
torchvision's ASPP image-pooling branch is conv (no bias) -> BatchNorm on a 1x1 map, segzoo's is
conv with bias and no norm (a BatchNorm on one value per channel can't train with batch 1). In
eval mode ``BN(conv(x)) = conv'(x)`` with ``w' = w * g / sqrt(v + eps)`` and
``b' = beta - m * g / sqrt(v + eps)``, so the fold is exact up to float rounding.
"""

from __future__ import annotations

from typing import Mapping

import torch

from .core import Converted, fold_batchnorm, randomise_norm_statistics, register_converter
from .torchvision_mobilenet import mobilenet_v3_large_renames

__all__ = ["convert_torchvision_segmentation", "random_upstream_model", "RECIPE_OF"]

RECIPE_OF = {"fcn_resnet50": "fcn_r50", "fcn_resnet101": "fcn_r101",
             "deeplabv3_resnet50": "deeplabv3_r50", "deeplabv3_resnet101": "deeplabv3_r101",
             "deeplabv3_mobilenet_v3_large": "deeplabv3_mobilenetv3"}  # fmt: skip

BN_EPS = 1e-5  # torchvision's BatchNorm2d default

# torchvision key prefix -> segzoo key prefix (the longest matching prefix wins)
FCN_HEAD = {"classifier.0.": "decode_head.convs.0.0.", "classifier.1.": "decode_head.convs.0.1.",
            "classifier.4.": "decode_head.classifier."}  # fmt: skip
DEEPLAB_HEAD = {
    **{f"classifier.0.convs.{i}.{j}.": f"decode_head.aspp.branches.{i}.{j}." for i in range(4) for j in range(2)},
    "classifier.0.project.0.": "decode_head.aspp.project.0.0.", "classifier.0.project.1.": "decode_head.aspp.project.0.1.",
    "classifier.1.": "decode_head.bottleneck.0.", "classifier.2.": "decode_head.bottleneck.1.",
    "classifier.4.": "decode_head.classifier.",
}  # fmt: skip
AUX_HEAD = {"aux_classifier.0.": "aux_head.convs.0.0.", "aux_classifier.1.": "aux_head.convs.0.1.",
            "aux_classifier.4.": "aux_head.classifier."}  # fmt: skip
POOL = "classifier.0.convs.4."  # ASPPPooling: 0 = AdaptiveAvgPool2d, 1 = conv, 2 = BatchNorm


RESNET_STEM, MOBILENET_STEM = "backbone.conv1.weight", "backbone.0.0.weight"


def _detect(state: Mapping[str, torch.Tensor]) -> bool:
    return (RESNET_STEM in state or MOBILENET_STEM in state) and "classifier.4.weight" in state


def _rename(key: str, table: Mapping[str, str]) -> str | None:
    for prefix in sorted(table, key=len, reverse=True):
        if key.startswith(prefix):
            return table[prefix] + key[len(prefix) :]
    return None


@register_converter("torchvision_segmentation", detect=_detect, source="torchvision.models.segmentation")
def convert_torchvision_segmentation(state: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> Converted:
    """``fcn_resnet*`` / ``deeplabv3_resnet*`` / ``deeplabv3_mobilenet_v3_large`` state dict -> the matching
    segzoo recipe's."""
    deeplab = f"{POOL}1.weight" in state
    mobilenet = MOBILENET_STEM in state
    heads = {**(DEEPLAB_HEAD if deeplab else FCN_HEAD), **AUX_HEAD}
    table = heads if mobilenet else {"backbone.": "backbone.model.", **heads}
    trunk = {k: f"backbone.model.{v}" for k, v in mobilenet_v3_large_renames(state, "backbone.").items()} if mobilenet else {}
    out: dict[str, torch.Tensor] = {}
    unused: list[str] = []
    notes: list[str] = []
    if mobilenet:
        notes.append("renamed torchvision's MobileNetV3 features.<i> into timm's blocks.<stage>.<block>")
    for key, value in state.items():
        if key.startswith(POOL):
            continue  # folded below
        target = trunk.get(key) or _rename(key, table)
        if target is None:
            unused.append(key)
        else:
            out[target] = value
    if deeplab:
        bn = {k: state[f"{POOL}2.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
        weight, bias = fold_batchnorm(state[f"{POOL}1.weight"], bn, eps=BN_EPS)
        out["decode_head.aspp.image_pool.0.weight"], out["decode_head.aspp.image_pool.0.bias"] = weight, bias
        notes.append(f"folded {POOL}2 (BatchNorm) into {POOL}1 -> decode_head.aspp.image_pool.0 (exact in eval)")
    return Converted(state=out, unused=unused, notes=notes)


def random_upstream_model(name: str, *, seed: int = 0) -> torch.nn.Module:
    """torchvision's ``name`` (a key of ``RECIPE_OF``) with random weights and random BatchNorm
    statistics, in eval mode: the stand-in for a published file in parity checks (no download)."""
    import torchvision

    if name not in RECIPE_OF:
        raise ValueError(f"Unknown torchvision model {name!r}; this converter reads {sorted(RECIPE_OF)}.")
    torch.manual_seed(seed)
    model = getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    return randomise_norm_statistics(model).eval()
