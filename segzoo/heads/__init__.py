"""Semantic heads (FCN, DeepLabV3, DeepLabV3+, PSP, LargeFOV classifier).

Every head takes the backbone's feature list and returns class logits at the stride of the
level it reads; its last layer is called ``classifier`` (the weights loader drops it when
the class count changes).
"""

from .deeplab import DeepLabV3Head, DeepLabV3PlusHead
from .fcn import FCNHead
from .linear import LinearHead
from .psp import PSPHead

__all__ = ["DeepLabV3Head", "DeepLabV3PlusHead", "FCNHead", "LinearHead", "PSPHead"]
