"""The attention/context block registry: ``create_attention(name, channels, **kw)``."""

from __future__ import annotations

from typing import Any

from torch import nn

from ...registry import Registry
from .aspp import ASPP
from .danet import DualAttention
from .nonlocal_block import NonLocal2d
from .ocr import ObjectContext
from .ppm import PyramidPooling
from .se import SqueezeExcitation

__all__ = ["ATTENTION", "create_attention", "list_attention", "resolve_attention"]

ATTENTION = Registry("attention block", list_hint="segzoo.layers.list_attention()")
ATTENTION.add("se", SqueezeExcitation, paper="Squeeze-and-Excitation Networks, arXiv:1709.01507")
ATTENTION.add("danet", DualAttention, paper="Dual Attention Network for Scene Segmentation, arXiv:1809.02983")
ATTENTION.add("nonlocal", NonLocal2d, paper="Non-local Neural Networks, arXiv:1711.07971")
ATTENTION.add("ocr", ObjectContext, paper="Object-Contextual Representations for Semantic Segmentation, arXiv:1909.11065")
ATTENTION.add("ppm", PyramidPooling, paper="Pyramid Scene Parsing Network, arXiv:1612.01105")
ATTENTION.add("aspp", ASPP, paper="Rethinking Atrous Convolution for Semantic Image Segmentation, arXiv:1706.05587")


def create_attention(name: str, in_channels: int, /, **kwargs: Any) -> nn.Module:
    """An attention/context block by registry name, for ``in_channels`` input channels.

    Unknown names raise ``KeyError`` with close matches; unknown options ``TypeError``.
    """
    return ATTENTION.build(name, in_channels, **kwargs)


def list_attention(pattern: str = "*") -> list[str]:
    """Registered attention block names."""
    return ATTENTION.names(pattern)


def resolve_attention(block: str | nn.Module | None, in_channels: int, /, **kwargs: Any) -> nn.Module:
    """An injected block: a registry name (created for ``in_channels``), a module, or ``None`` (identity)."""
    if block is None:
        return nn.Identity()
    if isinstance(block, nn.Module):
        return block
    if isinstance(block, str):
        return create_attention(block, in_channels, **kwargs)
    raise TypeError(f"An attention block is a registry name, an nn.Module or None; got {type(block).__name__}.")
