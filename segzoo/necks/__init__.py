"""Necks between backbone and heads: FPN and the HRNetV2 upsample-concatenate."""

from .concat import UpsampleConcat
from .fpn import FPN

__all__ = ["FPN", "UpsampleConcat"]
