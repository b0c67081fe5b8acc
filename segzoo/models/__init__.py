"""Model families (semantic, multi-scale, panoptic) and the registered recipes."""

from . import attention_recipes, semantic_recipes  # noqa: F401  (registers the recipes)
from .base import IMAGENET_MEAN, IMAGENET_STD, SegmentationModel
from .semantic import SemanticModel, SemanticOutput

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "SegmentationModel", "SemanticModel", "SemanticOutput"]
