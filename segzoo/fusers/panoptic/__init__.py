"""Panoptic fusers: turn one image's semantic logits and detected instances into a panoptic
prediction ``(panoptic_seg (H, W) int32, segments_info)``.

- ``heuristic``: Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868 (Panoptic FPN's
  fusion, as Detectron2 does it);
- ``spatial_ranking``: Liu et al., OANet, arXiv:1903.05027 (paste order from a ranking map);
- ``upsnet``: Xiong et al., UPSNet, arXiv:1901.03784 (argmax over panoptic logits with an
  unknown channel; also its training targets and loss).

Plus COCO panoptic conversion, the ``check_panoptic`` validator and ``UpsampledLogits`` (stride-4
semantic logits the fusers read at image resolution without resizing every channel).
"""

from ._common import thing_channels
from .base import PanopticFuser
from .check import check_panoptic
from .coco_format import from_coco_panoptic, to_coco_panoptic
from .heuristic import HeuristicFuser, fill_stuff, heuristic_fusion, paste_instances
from .registry import PANOPTIC_FUSERS, create_panoptic_fuser
from .spatial_ranking import (
    SpatialRankingFuser,
    masks_to_category_channels,
    rank_scores_from_map,
    spatial_ranking_fusion,
    spatial_ranking_loss,
    spatial_ranking_scores,
    spatial_ranking_targets,
)
from .upsampled_logits import UpsampledLogits, channel_argmax
from .upsnet import OUTSIDE_BOX_LOGIT, UPSNetFuser, upsnet_fusion, upsnet_loss, upsnet_panoptic_logits, upsnet_targets

__all__ = [
    "channel_argmax",
    "HeuristicFuser",
    "OUTSIDE_BOX_LOGIT",
    "PANOPTIC_FUSERS",
    "PanopticFuser",
    "SpatialRankingFuser",
    "UPSNetFuser",
    "UpsampledLogits",
    "check_panoptic",
    "create_panoptic_fuser",
    "fill_stuff",
    "from_coco_panoptic",
    "heuristic_fusion",
    "masks_to_category_channels",
    "paste_instances",
    "rank_scores_from_map",
    "spatial_ranking_fusion",
    "spatial_ranking_loss",
    "spatial_ranking_scores",
    "spatial_ranking_targets",
    "thing_channels",
    "to_coco_panoptic",
    "upsnet_fusion",
    "upsnet_loss",
    "upsnet_panoptic_logits",
    "upsnet_targets",
]
