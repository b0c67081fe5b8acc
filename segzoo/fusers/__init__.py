"""Fusers: scale fusers (avg, max, attention-to-scale, refine-multiscale, HMSA) and panoptic fusers
(heuristic, spatial ranking, UPSNet) in ``segzoo.fusers.panoptic``."""

from .attention_to_scale import AttentionToScaleFuser
from .base import FusedOutput, ScaleFuser, ScaleStream
from .hmsa import HierarchicalScaleFuser
from .panoptic import PANOPTIC_FUSERS, PanopticFuser, check_panoptic, create_panoptic_fuser  # panoptic fusers
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
    "PANOPTIC_FUSERS",
    "PanopticFuser",
    "RefineMultiScaleFuser",
    "ScaleFuser",
    "ScaleStream",
    "check_panoptic",
    "create_fuser",
    "create_panoptic_fuser",
]
