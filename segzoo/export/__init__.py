"""Model export: ONNX, TorchScript and ``torch.export`` artefacts with dynamic height and width.

>>> from segzoo.export import export, load_exported, fuse_panoptic
>>> export(model, "model.onnx", format="onnx", example_size=(512, 512))
>>> exported = load_exported("model.onnx")
>>> logits = exported(model.normalize(images))

See ``docs/export.md`` and :mod:`segzoo.export.core`.
"""

from .check import SizeCheck, permissive_fuser, verify_export
from .core import EXPORT_FORMATS, METADATA_KEY, declared_formats, export, export_graph, export_metadata
from .fusion import fuse_panoptic, panoptic_instances
from .panoptic import PANOPTIC_OUTPUTS, PanopticExportModule, eager_panoptic_outputs, paste_mask_logits
from .runtime import ExportedModel, detect_format, load_exported

__all__ = [
    "EXPORT_FORMATS",
    "METADATA_KEY",
    "PANOPTIC_OUTPUTS",
    "ExportedModel",
    "PanopticExportModule",
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
