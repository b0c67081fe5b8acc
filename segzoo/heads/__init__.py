"""Semantic heads (FCN, DeepLabV3, DeepLabV3+, PSP, LargeFOV classifier, DANet, Non-local,
OCR, AinnoSeg).

Every head takes the backbone's (or neck's) feature list and returns class logits at the
stride of the level it reads; heads with several supervised outputs set
``multi_output = True`` and return a dict with ``"logits"`` and the names in ``aux_names``.
Class-producing layers are named ``*classifier`` (the weights loader drops them when the
class count changes).
"""

from .danet import DANetHead
from .deeplab import DeepLabV3Head, DeepLabV3PlusHead
from .deformable_semantic import DeformableSemanticHead
from .fcn import FCNHead
from .linear import LinearHead
from .nonlocal_head import NonLocalHead
from .ocr import AinnoSegHead, OCRHead
from .panoptic_semantic import FCNSemanticHead, SemanticFPNHead
from .prototypes import CrossLayerAttentionFusion, PrototypeModule
from .psp import PSPHead
from .spatial_ranking import SpatialRankingModule

__all__ = [
    "AinnoSegHead",
    "CrossLayerAttentionFusion",
    "FCNSemanticHead",
    "PrototypeModule",
    "SemanticFPNHead",
    "SpatialRankingModule",
    "DANetHead",
    "DeformableSemanticHead",
    "DeepLabV3Head",
    "DeepLabV3PlusHead",
    "FCNHead",
    "LinearHead",
    "NonLocalHead",
    "OCRHead",
    "PSPHead",
]
