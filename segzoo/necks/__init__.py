"""Necks between backbone and heads: FPN and the HRNetV2 upsample-concatenate."""

from .concat import UpsampleConcat
from .dcn import DeformableConv2d
from .fpn import FPN

__all__ = ["DeformableConv2d", "FPN", "UpsampleConcat"]
