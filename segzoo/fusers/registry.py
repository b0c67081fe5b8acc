"""The scale-fuser registry: ``create_fuser(name, **kw)``."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..registry import Registry
from .attention_to_scale import AttentionToScaleFuser
from .hmsa import HierarchicalScaleFuser
from .pooling import AverageFuser, MaxFuser
from .refine_multiscale import RefineMultiScaleFuser

__all__ = ["FUSERS", "create_fuser"]

FUSERS = Registry("scale fuser", list_hint="segzoo.fusers.FUSERS.names()")
FUSERS.add("avg", AverageFuser, paper="seed 004 baseline: merged with average pooling")
FUSERS.add("max", MaxFuser, paper="seed 004 baseline: merged with max pooling")
FUSERS.add("attention_to_scale", AttentionToScaleFuser, paper="Chen et al., Attention to Scale, arXiv:1511.03339")
FUSERS.add("refine_multiscale", RefineMultiScaleFuser, paper="Yang & Peng, Attention to Refine through Multi-Scales (seed 004)")
FUSERS.add("hmsa", HierarchicalScaleFuser, paper="Tao et al., Hierarchical Multi-Scale Attention, arXiv:2005.10821")


def create_fuser(name: str, **kwargs: Any) -> nn.Module:
    """A scale fuser by name; ``kwargs`` are its constructor's (e.g. ``in_channels``, ``num_scales``)."""
    return FUSERS.build(name, **kwargs)
