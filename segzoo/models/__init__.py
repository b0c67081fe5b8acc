"""Model families (semantic, multi-scale, panoptic) and the registered recipes."""

from . import attention_recipes, multiscale_recipes, panoptic_recipes, semantic_recipes  # noqa: F401  (registers the recipes)
from .base import IMAGENET_MEAN, IMAGENET_STD, SegmentationModel
from .multiscale import MultiScaleModel
from .semantic import SemanticModel, SemanticOutput

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "MultiScaleModel", "SegmentationModel", "SemanticModel", "SemanticOutput"]
