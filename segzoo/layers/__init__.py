"""Layers: conv/norm helpers and the attention/context blocks."""

from .attention import ASPP, PyramidPooling, aspp_rates
from .conv import ConvNormAct, make_norm

__all__ = ["ASPP", "ConvNormAct", "PyramidPooling", "aspp_rates", "make_norm"]
