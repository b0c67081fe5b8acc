"""Fusers: scale fusers (avg, max, attention-to-scale, refine-multiscale, HMSA)."""

from .attention_to_scale import AttentionToScaleFuser
from .base import FusedOutput, ScaleFuser, ScaleStream
from .hmsa import HierarchicalScaleFuser
from .pooling import AverageFuser, MaxFuser
from .refine_multiscale import RefineMultiScaleFuser
from .registry import FUSERS, create_fuser

__all__ = [
    "AttentionToScaleFuser",
    "AverageFuser",
    "FUSERS",
    "FusedOutput",
    "HierarchicalScaleFuser",
    "MaxFuser",
    "RefineMultiScaleFuser",
    "ScaleFuser",
    "ScaleStream",
    "create_fuser",
]
