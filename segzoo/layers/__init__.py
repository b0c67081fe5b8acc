"""Layers: conv/norm helpers and the attention/context blocks."""

from .attention import (
    ASPP,
    ChannelAttention,
    DualAttention,
    NonLocal2d,
    ObjectContext,
    PositionAttention,
    PyramidPooling,
    SqueezeExcitation,
    aspp_rates,
    create_attention,
    list_attention,
    resolve_attention,
)
from .conv import ConvNormAct, SeparableConvNormAct, make_norm

__all__ = [
    "ASPP",
    "ChannelAttention",
    "ConvNormAct",
    "SeparableConvNormAct",
    "DualAttention",
    "NonLocal2d",
    "ObjectContext",
    "PositionAttention",
    "PyramidPooling",
    "SqueezeExcitation",
    "aspp_rates",
    "create_attention",
    "list_attention",
    "make_norm",
    "resolve_attention",
]
