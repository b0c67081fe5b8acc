"""segzoo: a PyTorch model zoo for semantic and panoptic segmentation.

>>> import segzoo
>>> model = segzoo.build("deeplabv3_r50", num_classes=19)
>>> segzoo.list_models("deeplab*")
>>> fast = segzoo.optimize(model)                      # inference fast path (segzoo.bench)
>>> segzoo.export(model, "model.onnx", format="onnx")  # ONNX / TorchScript / torch.export
"""

from . import backbones as _backbones  # noqa: F401  (registers the backbones)
from . import models as _models  # noqa: F401  (registers the recipes)
from . import export  # a callable package: segzoo.export(model, path, format=...)
from .bench.optimize import optimize
from .factory import build, list_models, model_info, register_model
from .version import __version__
from .weights import WeightsError, load, save

__all__ = [
    "__version__", "build", "list_models", "model_info", "register_model", "save", "load", "WeightsError", "export",
    "optimize",
]  # fmt: skip
