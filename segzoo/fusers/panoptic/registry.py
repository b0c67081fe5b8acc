"""The panoptic-fuser registry: ``create_panoptic_fuser(name, **kw)``.

Fusers: ``heuristic`` (Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868),
``spatial_ranking`` (Liu et al., OANet, arXiv:1903.05027) and ``upsnet`` (Xiong et al.,
UPSNet, arXiv:1901.03784). All share the call ``fuser(sem_logits, instances, *, thing_ids,
stuff_ids) -> (panoptic_seg, segments_info)``.
"""

from __future__ import annotations

from typing import Any

from ...registry import Registry
from .base import PanopticFuser
from .heuristic import HeuristicFuser
from .spatial_ranking import SpatialRankingFuser
from .upsnet import UPSNetFuser

__all__ = ["PANOPTIC_FUSERS", "create_panoptic_fuser"]

PANOPTIC_FUSERS = Registry("panoptic fuser", list_hint="segzoo.fusers.PANOPTIC_FUSERS.names()")
PANOPTIC_FUSERS.add("heuristic", HeuristicFuser, paper="Kirillov et al., Panoptic Segmentation, arXiv:1801.00868")
PANOPTIC_FUSERS.add("spatial_ranking", SpatialRankingFuser, paper="Liu et al., OANet, arXiv:1903.05027")
PANOPTIC_FUSERS.add("upsnet", UPSNetFuser, paper="Xiong et al., UPSNet, arXiv:1901.03784")


def create_panoptic_fuser(name: str, **kwargs: Any) -> PanopticFuser:
    """A panoptic fuser by name; ``kwargs`` are its keyword-only options (e.g. ``stuff_area_limit``)."""
    return PANOPTIC_FUSERS.build(name, **kwargs)
