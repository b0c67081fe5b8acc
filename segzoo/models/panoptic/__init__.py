"""Panoptic models: the two-branch network, its instance heads (Mask R-CNN, Cascade) and target handling."""

from .cascade import CascadeRoIHeads, build_cascade_heads
from .detector import SemanticInfusedRoIPool, build_mask_rcnn_heads, build_rpn
from .model import PanopticModel, PanopticPrediction, PanopticRawOutput

__all__ = [
    "CascadeRoIHeads",
    "PanopticModel",
    "PanopticPrediction",
    "PanopticRawOutput",
    "SemanticInfusedRoIPool",
    "build_cascade_heads",
    "build_mask_rcnn_heads",
    "build_rpn",
]
