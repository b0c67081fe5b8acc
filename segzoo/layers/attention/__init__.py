"""Attention and context blocks (SE, DANet, Non-local, OCR, PPM, ASPP), created by name."""

from .aspp import ASPP, aspp_rates
from .danet import ChannelAttention, DualAttention, DualAttentionOutput, PositionAttention
from .functional import attend, attend_reference
from .nonlocal_block import NonLocal2d
from .ocr import ObjectContext
from .ppm import PyramidPooling
from .registry import ATTENTION, create_attention, list_attention, resolve_attention
from .se import SqueezeExcitation

__all__ = [
    "ASPP",
    "ATTENTION",
    "ChannelAttention",
    "DualAttention",
    "DualAttentionOutput",
    "NonLocal2d",
    "ObjectContext",
    "PositionAttention",
    "PyramidPooling",
    "SqueezeExcitation",
    "aspp_rates",
    "attend",
    "attend_reference",
    "create_attention",
    "list_attention",
    "resolve_attention",
]
