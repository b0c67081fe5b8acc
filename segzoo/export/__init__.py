"""Model export: ONNX, TorchScript and ``torch.export`` artefacts with dynamic height and width.

>>> import segzoo
>>> segzoo.export(model, "model.onnx", format="onnx", example_size=(512, 512))  # this package is callable
>>> from segzoo.export import export, load_exported, fuse_panoptic                 # the same function
>>> exported = load_exported("model.onnx")
>>> logits = exported(model.normalize(images))

See ``docs/export.md`` and :mod:`segzoo.export.core`.
"""

import sys as _sys
import types as _types

from .check import SizeCheck, permissive_fuser, verify_export
from .core import (
    EXPORT_FORMATS,
    METADATA_KEY,
    SemanticExportModule,
    declared_formats,
    export,
    export_graph,
    export_metadata,
)
from .fusion import fuse_panoptic, panoptic_instances
from .panoptic import NETWORK_OUTPUTS, PANOPTIC_OUTPUTS, PanopticExportModule, eager_panoptic_outputs, paste_mask_logits
from .runtime import ExportedModel, detect_format, load_exported

__all__ = [
    "EXPORT_FORMATS",
    "METADATA_KEY",
    "NETWORK_OUTPUTS",
    "PANOPTIC_OUTPUTS",
    "ExportedModel",
    "PanopticExportModule",
    "SemanticExportModule",
    "SizeCheck",
    "declared_formats",
    "detect_format",
    "eager_panoptic_outputs",
    "export",
    "export_graph",
    "export_metadata",
    "fuse_panoptic",
    "load_exported",
    "panoptic_instances",
    "paste_mask_logits",
    "permissive_fuser",
    "verify_export",
]


class _CallableModule(_types.ModuleType):
    """``segzoo.export(...)`` calls :func:`export` while ``segzoo.export.load_exported`` etc. stay
    reachable: the package is both the namespace and the function users expect."""

    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
