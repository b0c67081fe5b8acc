"""Evaluation metrics: confusion-matrix semantic metrics, panoptic quality, COCO box/mask AP.

- :class:`SemanticMetrics`: mIoU, mAcc, aAcc, fwIoU, Dice and the (aAcc + mIoU) / 2 score
  (Long et al., "Fully Convolutional Networks for Semantic Segmentation", arXiv:1411.4038).
- :class:`PanopticQuality`, :func:`pq_compute`: PQ / SQ / RQ with the COCO panoptic API's
  rules (Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868).
- :class:`CocoInstanceMetric`: box and mask AP through pycocotools (Lin et al., "Microsoft
  COCO: Common Objects in Context", arXiv:1405.0312).
- :class:`SemanticEvaluator`, :class:`PanopticEvaluator`: those metrics over a model's
  ``predict`` results, batch by batch (what ``model.evaluator()`` returns).
"""

from .coco_instance import CocoInstanceMetric
from .coco_panoptic_eval import pq_compute, read_panoptic_png
from .evaluators import PanopticEvaluator, SemanticEvaluator
from .panoptic import PanopticQuality
from .panoptic_format import PanopticFormatError
from .pq_core import PanopticResult
from .semantic import SemanticMetrics, SemanticResult, semantic_metrics_from_confusion

__all__ = [
    "PanopticEvaluator",
    "SemanticEvaluator",
    "SemanticMetrics",
    "SemanticResult",
    "semantic_metrics_from_confusion",
    "PanopticQuality",
    "PanopticResult",
    "PanopticFormatError",
    "pq_compute",
    "read_panoptic_png",
    "CocoInstanceMetric",
]
