"""Attention and context blocks (SE, DANet, Non-local, OCR, PPM, ASPP)."""

from .aspp import ASPP, aspp_rates
from .ppm import PyramidPooling

__all__ = ["ASPP", "PyramidPooling", "aspp_rates"]
