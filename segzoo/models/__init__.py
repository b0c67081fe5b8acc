"""Model families (semantic, multi-scale, panoptic) and the registered recipes.

Every module of this package whose name ends in ``_recipes`` is imported here, which
registers its recipes: a new recipe module needs no other edit (docs/contributing.md).
"""

import importlib as _importlib
import pkgutil as _pkgutil

from .base import IMAGENET_MEAN, IMAGENET_STD, SegmentationModel
from .multiscale import MultiScaleModel
from .semantic import SemanticModel, SemanticOutput

for _module in sorted(m.name for m in _pkgutil.iter_modules(__path__) if m.name.endswith("_recipes")):
    _importlib.import_module(f".{_module}", __name__)  # registers the module's recipes

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "MultiScaleModel", "SegmentationModel", "SemanticModel", "SemanticOutput"]
