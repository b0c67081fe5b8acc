"""The backbone contract and the backbone registry.

A backbone is an ``nn.Module`` whose ``forward(x)`` returns a list of feature maps, high
resolution first, and whose ``feature_info`` lists the channels and stride of each level
(the contract of timm's ``features_only`` models).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..published_backbones import backbone_weights
from ..registry import Registry

__all__ = ["FeatureInfo", "BACKBONES", "register_backbone", "create_backbone", "list_backbones", "resolve_backbone"]

BACKBONES = Registry("backbone", list_hint="segzoo.backbones.list_backbones()")
register_backbone = BACKBONES.register


@dataclass(frozen=True)
class FeatureInfo:
    """Channels and stride (relative to the input) of one returned feature level."""

    channels: int
    stride: int
    name: str = ""


def create_backbone(
    name: str,
    *,
    output_stride: int | None = None,
    in_chans: int = 3,
    pretrained: bool = False,
    weights: str | None = None,
) -> nn.Module:
    """Create a registered backbone.

    Args:
        name: registry name, e.g. ``"resnet50"``, ``"hrnet_w18"``, ``"tiny"``.
        output_stride: 8, 16 or 32 (dilation replaces the last strides); ``None`` keeps the
            family's native stride. Families that can't dilate raise ``ValueError``.
        in_chans: input channels; the stem is adapted when it is not 3.
        pretrained: load ImageNet weights (downloaded through timm/torchvision).
        weights: a local file (safetensors or a PyTorch state dict) with ImageNet weights,
            for machines without network access. Implies ``pretrained``.
    """
    if output_stride not in (None, 8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16, 32 or None (native), got {output_stride!r}.")
    if not isinstance(in_chans, int) or in_chans < 1:
        raise ValueError(f"in_chans must be a positive int, got {in_chans!r}.")
    return BACKBONES.build(name, output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights)


def list_backbones(pattern: str = "*", *, pretrained: bool = False) -> list[str]:
    """Names of the registered backbones matching an ``fnmatch`` pattern; with ``pretrained=True`` only
    those with ImageNet weights (their records: :func:`segzoo.published_backbones.backbone_weights`)."""
    names = BACKBONES.names(pattern)
    return [n for n in names if backbone_weights(n) is not None] if pretrained else names


def resolve_backbone(
    backbone: str | nn.Module,
    *,
    output_stride: int | None = None,
    in_chans: int = 3,
    pretrained: bool = False,
    weights: str | None = None,
) -> nn.Module:
    """A backbone given by registry name or as a module (which must carry ``feature_info``)."""
    if isinstance(backbone, nn.Module):
        info = getattr(backbone, "feature_info", None)
        if not info or not all(isinstance(f, FeatureInfo) for f in info):
            raise TypeError(
                f"A backbone module must have a `feature_info` list of segzoo FeatureInfo "
                f"(channels, stride); {type(backbone).__name__} has {info!r}."
            )
        return backbone
    if isinstance(backbone, str):
        return create_backbone(
            backbone, output_stride=output_stride, in_chans=in_chans, pretrained=pretrained, weights=weights
        )
    raise TypeError(f"backbone must be a registry name or an nn.Module, got {type(backbone).__name__}.")
