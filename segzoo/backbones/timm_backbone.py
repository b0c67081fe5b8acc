"""ImageNet trunks from timm, wrapped to the segzoo backbone contract.

Families and papers:

* ResNet-18/34/50/101 -- "Deep Residual Learning for Image Recognition", arXiv:1512.03385.
* ResNeXt-101 64x4d -- "Aggregated Residual Transformations for Deep Neural Networks",
  arXiv:1611.05431 (the trunk of the panoptic challenge entry, seed 002).
* SE-ResNet-50/101 -- "Squeeze-and-Excitation Networks", arXiv:1709.01507: an SE block
  (global pool -> 1x1 conv C->C/16 -> ReLU -> 1x1 conv C/16->C -> sigmoid) rescales the
  output of every bottleneck before the residual addition (seed 000). timm's default SE
  reduction is 16 (hidden width = C/16 rounded to a multiple of 8, exact for C = 256..2048).
* HRNet-W18/W32/W48 -- "Deep High-Resolution Representation Learning for Visual
  Recognition", arXiv:1908.07919 (seeds 001 and 003). The returned levels are the four
  raw branches of the last stage (timm ``feature_location=""``), e.g. W18: 18/36/72/144
  channels at strides 4/8/16/32, which segmentation heads (HRNetV2, OCR) concatenate;
  not the classification head's "incre" features (128/256/512/1024 channels).
* MobileNetV2 -- "MobileNetV2: Inverted Residuals and Linear Bottlenecks", arXiv:1801.04381;
  MobileNetV3-Large -- "Searching for MobileNetV3", arXiv:1905.02244 (seed 003's light trunk).

Every backbone returns four levels, strides 4/8/16/32 (timm ``out_indices=(1, 2, 3, 4)``;
index 0 is the stride-2 stem). ``output_stride`` 8 or 16 dilates the last stages (timm
replaces their strides by dilation, as in DeepLab, arXiv:1706.05587); HRNet keeps its native
strides. ``in_chans`` is passed to timm, which builds the stem for it (and adapts
pretrained stem weights itself).
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import timm
import torch
import torch.nn.functional as F
from torch import nn

from ..hub import ensure_reachable
from ..published_backbones import NO_IMAGENET_WEIGHTS, backbone_weights
from .base import FeatureInfo, register_backbone
from .errors import LOCAL_FILE_CLI_FIX, LOCAL_FILE_FIX, BackboneWeightsError, download_error
from .local_weights import load_backbone_state, read_backbone_file

__all__ = ["TimmBackbone"]

RESNET = "Deep Residual Learning for Image Recognition (arXiv:1512.03385)"
RESNEXT = "Aggregated Residual Transformations for Deep Neural Networks (arXiv:1611.05431)"
SENET = "Squeeze-and-Excitation Networks (arXiv:1709.01507)"
HRNET = "Deep High-Resolution Representation Learning for Visual Recognition (arXiv:1908.07919)"
MOBILENETV2 = "MobileNetV2: Inverted Residuals and Linear Bottlenecks (arXiv:1801.04381)"
MOBILENETV3 = "Searching for MobileNetV3 (arXiv:1905.02244)"

DILATABLE = (8, 16, 32)  # output strides reachable by dilation; the last one is native


class TimmBackbone(nn.Module):
    """A timm ``features_only`` model returning a list of feature maps, high resolution first.

    Args:
        model_name: timm architecture name, e.g. ``"resnet50"``.
        out_indices: timm feature indices to return (``(1, 2, 3, 4)``: strides 4..32).
        output_stride: 8, 16 or 32 (dilation); ``None`` keeps the native stride.
        in_chans: input channels.
        pretrained: download the ImageNet weights :mod:`segzoo.published_backbones` records for
            ``name`` (a timm tag, e.g. ``resnet50.a1_in1k``; timm's default tag for other names),
            through the Hugging Face hub.
            A failed download raises :class:`~segzoo.backbones.errors.BackboneWeightsError`
            Offline, :class:`~segzoo.errors.BackboneOfflineError` comes within seconds (a reachability
            probe runs first unless the file is in the hub cache).
        weights: local file with the weights (timm's classification checkpoint or this
            backbone's ``state_dict``); takes precedence over ``pretrained``.
        name: registry name used in messages (default ``model_name``).
        supported_output_strides: the ``output_stride`` values this family accepts;
            ``None`` is always accepted.
        output_stride_note: why other values are refused, appended to the error.
        timm_args: extra constructor arguments for timm, e.g. ``{"feature_location": ""}``.
        size_divisor: pad the input (bottom/right, zeros) to a multiple of this and crop the
            features back to ``ceil(size / stride)``, for trunks that only work on such sizes
            (HRNet's fuse layers upsample by fixed factors and fail on e.g. 67x71).

    Weights are kept under ``self.model`` (keys ``model.<timm key>``).
    """

    def __init__(
        self,
        *,
        model_name: str,
        out_indices: Sequence[int] = (1, 2, 3, 4),
        output_stride: int | None = None,
        in_chans: int = 3,
        pretrained: bool = False,
        weights: str | os.PathLike | None = None,
        name: str | None = None,
        supported_output_strides: Sequence[int] = DILATABLE,
        output_stride_note: str = "",
        timm_args: Mapping[str, Any] | None = None,
        size_divisor: int | None = None,
    ) -> None:
        super().__init__()
        self.size_divisor = size_divisor
        self.name = name or model_name
        if output_stride is not None and output_stride not in supported_output_strides:
            raise ValueError(
                f"Backbone {self.name!r} supports output_stride in "
                f"{', '.join(str(s) for s in supported_output_strides)} or None (native), got {output_stride!r}. "
                f"{output_stride_note}".rstrip()
            )
        args: dict[str, Any] = dict(timm_args or {})
        if output_stride is not None and output_stride != 32:
            args["output_stride"] = output_stride
        create = dict(features_only=True, out_indices=tuple(out_indices), in_chans=in_chans, **args)

        if weights is None and pretrained:
            source_name = _pretrained_name(model_name, self.name)
            _check_hub_reachable(source_name, self.name)
            try:
                self.model = timm.create_model(source_name, pretrained=True, **create)
            except Exception as e:  # offline, hub errors, corrupt cache: the reason goes into the message
                cfg = timm.models.get_pretrained_cfg(source_name)
                source = f"the Hugging Face hub ({cfg.hf_hub_id})" if cfg and cfg.hf_hub_id else "timm"
                hint = "Set HF_HUB_OFFLINE=1 to fail at once instead of retrying." if "hub" in source else ""
                raise download_error(self.name, e, source=source, hint=hint) from e
        else:
            state = read_backbone_file(weights) if weights is not None else None  # fail fast, before building
            self.model = timm.create_model(model_name, pretrained=False, **create)
            if state is not None:
                load_backbone_state(
                    self.model,
                    state,
                    backbone=self.name,
                    source=f"Weights file '{os.fspath(weights)}'",
                    stem_key=f"{self.model.pretrained_cfg.get('first_conv', 'conv1')}.weight",
                    strip_prefix="model.",
                )

        info = self.model.feature_info
        self.feature_info = [
            FeatureInfo(channels=c, stride=s, name=n)
            for c, s, n in zip(info.channels(), info.reduction(), info.module_name())
        ]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.size_divisor is None:
            return list(self.model(x))
        h, w = x.shape[-2:]
        x = F.pad(x, (0, (-w) % self.size_divisor, 0, (-h) % self.size_divisor))
        return [
            f[..., : -(-h // info.stride), : -(-w // info.stride)]
            for f, info in zip(self.model(x), self.feature_info)
        ]


def _pretrained_name(model_name: str, backbone: str) -> str:
    """The timm weights ``pretrained=True`` loads: the tag :mod:`segzoo.published_backbones` records for
    the backbone (``resnet50.a1_in1k``), else timm's default for ``model_name``; a backbone known to
    have none raises at once (timm would say so only after the download attempt)."""
    if backbone in NO_IMAGENET_WEIGHTS:
        raise BackboneWeightsError(
            f"No ImageNet weights for backbone {backbone!r}: {NO_IMAGENET_WEIGHTS[backbone]}.",
            fix="Pass a local file with weights=... (backbone_weights=... in segzoo.build), or use pretrained=False.",
            cli_fix="Pass a local file with --set backbone_weights=PATH, or drop --set pretrained_backbone=true.",
        )
    spec = backbone_weights(backbone)
    return spec.name if spec is not None and spec.source == "timm" else model_name


def _check_hub_reachable(model_name: str, backbone: str) -> None:
    """Fail within seconds when timm's weights are not cached and the hub does not answer
    (the hub client would otherwise retry for about 50 s)."""
    cfg = timm.models.get_pretrained_cfg(model_name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        return  # weights from a plain URL: torch.hub's download fails fast on its own
    try:
        from huggingface_hub import constants, try_to_load_from_cache

        if any(isinstance(try_to_load_from_cache(repo, f), str) for f in ("model.safetensors", "pytorch_model.bin")):
            return
        endpoint = constants.ENDPOINT
    except ImportError:  # pragma: no cover - timm requires huggingface_hub
        endpoint = "https://huggingface.co"
    ensure_reachable(
        endpoint, what=f"the ImageNet weights of backbone {backbone!r} ({repo})", backbone=True, option="backbone_weights",
        fix=LOCAL_FILE_FIX.format(backbone=backbone), cli_fix=LOCAL_FILE_CLI_FIX,
        offline_env=("SEGZOO_OFFLINE", "HF_HUB_OFFLINE"),
    )  # fmt: skip


def _timm(
    name: str,
    *,
    output_stride: int | None,
    in_chans: int,
    pretrained: bool,
    weights: str | None,
    supported_output_strides: Sequence[int] = DILATABLE,
    output_stride_note: str = "",
    timm_args: Mapping[str, Any] | None = None,
    size_divisor: int | None = None,
) -> TimmBackbone:
    return TimmBackbone(
        model_name=name,
        out_indices=(1, 2, 3, 4),
        output_stride=output_stride,
        in_chans=in_chans,
        pretrained=pretrained,
        weights=weights,
        name=name,
        supported_output_strides=supported_output_strides,
        output_stride_note=output_stride_note,
        timm_args=timm_args,
        size_divisor=size_divisor,
    )


# --- ResNet / ResNeXt / SE-ResNet: 4 stages at strides 4/8/16/32, dilatable ----------------


@register_backbone(family="resnet", paper=RESNET, output_strides=DILATABLE)
def resnet18(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """ResNet-18: 64/128/256/512 channels at strides 4/8/16/32."""
    return _timm("resnet18", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)


@register_backbone(family="resnet", paper=RESNET, output_strides=DILATABLE)
def resnet34(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """ResNet-34: 64/128/256/512 channels at strides 4/8/16/32 (seed 004's dilated-8 baseline)."""
    return _timm("resnet34", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)


@register_backbone(family="resnet", paper=RESNET, output_strides=DILATABLE)
def resnet50(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """ResNet-50: 256/512/1024/2048 channels at strides 4/8/16/32."""
    return _timm("resnet50", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)


@register_backbone(family="resnet", paper=RESNET, output_strides=DILATABLE)
def resnet101(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """ResNet-101: 256/512/1024/2048 channels at strides 4/8/16/32."""
    return _timm("resnet101", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)


@register_backbone(family="resnet", paper=RESNET, output_strides=DILATABLE)
def resnet50_v1c(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """ResNet-50 v1c (deep stem: three 3x3 convs of 32/32/64 channels; Bag of Tricks, arXiv:1812.01187),
    the trunk of MMSegmentation's R50-D8 models (its ``ResNetV1c``): 256/512/1024/2048 channels."""
    return TimmBackbone(
        model_name="resnet50c", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights,
        name="resnet50_v1c",
    )


@register_backbone(family="resnet", paper=RESNET, output_strides=DILATABLE)
def resnet101_v1c(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """ResNet-101 v1c (deep stem), the trunk of MMSegmentation's R101-D8 models: 256/512/1024/2048 channels."""
    return TimmBackbone(
        model_name="resnet101c", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights,
        name="resnet101_v1c",
    )


@register_backbone(family="resnext", paper=RESNEXT, output_strides=DILATABLE)
def resnext101_64x4d(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """ResNeXt-101 64x4d (cardinality 64, width 4): 256/512/1024/2048 channels at strides 4/8/16/32."""
    return _timm(
        "resnext101_64x4d", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights
    )


@register_backbone(family="seresnet", paper=SENET, output_strides=DILATABLE)
def seresnet50(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """SE-ResNet-50 (SE reduction 16 in every bottleneck): 256/512/1024/2048 channels at strides 4/8/16/32."""
    return _timm("seresnet50", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)


@register_backbone(family="seresnet", paper=SENET, output_strides=DILATABLE)
def seresnet101(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """SE-ResNet-101 (SE reduction 16 in every bottleneck): 256/512/1024/2048 channels at strides 4/8/16/32."""
    return _timm("seresnet101", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)


# --- HRNet: the four branches of the last stage, native strides only ----------------------

HRNET_STRIDES = (32,)  # None or 32: the native multi-resolution branches
HRNET_ARGS = {"feature_location": ""}  # raw branches, not the classification "incre" features
HRNET_NOTE = (
    "HRNet can't dilate: it keeps a stride-4 branch throughout and segmentation heads "
    "(HRNetV2, OCR) upsample and concatenate its branches; use output_stride=None."
)


@register_backbone(family="hrnet", paper=HRNET, output_strides=HRNET_STRIDES)
def hrnet_w18(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """HRNet-W18 branches: 18/36/72/144 channels at strides 4/8/16/32."""
    return _timm(
        "hrnet_w18", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights,
        supported_output_strides=HRNET_STRIDES, output_stride_note=HRNET_NOTE, timm_args=HRNET_ARGS,
        size_divisor=32,
    )  # fmt: skip


@register_backbone(family="hrnet", paper=HRNET, output_strides=HRNET_STRIDES)
def hrnet_w32(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """HRNet-W32 branches: 32/64/128/256 channels at strides 4/8/16/32."""
    return _timm(
        "hrnet_w32", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights,
        supported_output_strides=HRNET_STRIDES, output_stride_note=HRNET_NOTE, timm_args=HRNET_ARGS,
        size_divisor=32,
    )  # fmt: skip


@register_backbone(family="hrnet", paper=HRNET, output_strides=HRNET_STRIDES)
def hrnet_w48(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """HRNet-W48 branches: 48/96/192/384 channels at strides 4/8/16/32 (the HRNet-OCR trunk)."""
    return _timm(
        "hrnet_w48", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights,
        supported_output_strides=HRNET_STRIDES, output_stride_note=HRNET_NOTE, timm_args=HRNET_ARGS,
        size_divisor=32,
    )  # fmt: skip


# --- MobileNets: the last block of each stride, dilatable ---------------------------------


@register_backbone(family="mobilenetv2", paper=MOBILENETV2, output_strides=DILATABLE)
def mobilenetv2_100(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """MobileNetV2 (width 1.0): 24/32/96/320 channels at strides 4/8/16/32."""
    return _timm(
        "mobilenetv2_100", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights
    )


@register_backbone(family="mobilenetv3", paper=MOBILENETV3, output_strides=DILATABLE)
def mobilenetv3_large_100(*, output_stride=None, in_chans=3, pretrained=False, weights=None) -> TimmBackbone:
    """MobileNetV3-Large (width 1.0): 24/40/112/960 channels at strides 4/8/16/32."""
    return _timm(
        "mobilenetv3_large_100", output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights
    )
