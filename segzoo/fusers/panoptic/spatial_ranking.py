"""Spatial-ranking panoptic fusion.

Liu et al., "An End-to-End Network for Panoptic Segmentation" (OANet), arXiv:1903.05027,
Sec. 3.3 "Spatial Ranking Module": the detected instances' binary masks are placed in the
channel of their category of a ``(T, H, W)`` tensor (T = number of thing classes); a
convolution stack with a large receptive field (the model's ``SpatialRankingModule``)
turns it into a ranking map of the same shape; an instance's ranking score is the mean of
``sigmoid(map)`` over its mask in its category channel. At fusion the instances are pasted
in ranking-score order instead of detection-score order; everything else is the heuristic
fusion of Kirillov et al. (``heuristic.py``). The map is trained with a pixel-wise binary
cross entropy against the visible (non-occluded) ground-truth masks in their category
channels.

Readings: the detection score threshold still applies (``score_threshold``, on the
detection score); equal ranking scores fall back to the detection-score order; overlapping
masks of one category are merged (union) in its channel; targets resized to the ranking
map's size are soft (the fraction of visible pixels), which binary cross entropy accepts.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ._common import as_ids, check_instances, thing_channels
from .heuristic import HeuristicFuser, heuristic_fusion
from .ranking_windows import category_channels_in_windows, rank_scores_in_windows

__all__ = [
    "masks_to_category_channels",
    "rank_scores_from_map",
    "spatial_ranking_scores",
    "spatial_ranking_targets",
    "spatial_ranking_loss",
    "spatial_ranking_fusion",
    "SpatialRankingFuser",
]


def masks_to_category_channels(
    masks: torch.Tensor,
    labels: torch.Tensor,
    *,
    thing_ids: Sequence[int],
    size: Sequence[int] | None = None,
    windows: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(N, H, W)`` binary masks -> ``(T, h, w)`` float: each mask in the channel of its class.

    Channel ``t`` is ``thing_ids[t]``; masks of one class are merged (max). Used for the
    ranking module's input (predicted masks) and its targets (visible GT masks). ``size``
    (default ``(H, W)``) resizes with antialiased bilinear interpolation (soft values).
    ``windows``: optional ``(N, 4)`` int64 ``(y0, y1, x0, x1)`` outside which each bool mask is empty
    (a paste's windows): the merge and the resize then read only those (``ranking_windows.py``; equal
    up to float32 rounding).
    """
    if masks.dim() != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {tuple(masks.shape)}.")
    things = as_ids(thing_ids, "thing_ids")
    channel = thing_channels(labels, things)  # (N,)
    h, w = masks.shape[-2:]
    size = (h, w) if size is None else (int(size[0]), int(size[1]))
    out = torch.zeros((len(things), *size), dtype=torch.float32, device=masks.device)
    if masks.shape[0] == 0:
        return out
    if windows is not None and masks.dtype == torch.bool:  # each mask's window only (ranking_windows.py)
        return category_channels_in_windows(masks, channel, windows, num_channels=len(things), size=size)
    # Only the classes that have a mask are merged and resized (the others stay 0): the same
    # per-channel values as doing all T channels, at the cost of the classes present.
    present, local = torch.unique(channel, sorted=True, return_inverse=True)
    if masks.dtype == torch.bool:  # max of 0/1 masks in uint8, a quarter of float32's traffic
        index = local[:, None, None].expand(-1, h, w)
        merged = torch.zeros((present.shape[0], h, w), dtype=torch.uint8, device=masks.device)
        merged = merged.scatter_reduce(0, index, masks.view(torch.uint8), reduce="amax").to(torch.float32)
    else:
        index = local[:, None, None].expand(-1, h, w)
        merged = torch.zeros((present.shape[0], h, w), dtype=torch.float32, device=masks.device)
        merged = merged.scatter_reduce(0, index, masks.to(torch.float32), reduce="amax")
    if size != (h, w):
        merged = F.interpolate(merged[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    out[present] = merged
    return out


def rank_scores_from_map(
    ranking_map: torch.Tensor,
    masks: torch.Tensor,
    labels: torch.Tensor,
    *,
    thing_ids: Sequence[int],
    from_logits: bool = True,
    windows: torch.Tensor | None = None,
) -> torch.Tensor:
    """OANet ranking scores: mean of the ranking map over each mask in its category channel.

    Args:
        ranking_map: ``(T, H, W)`` ranking logits (``from_logits=True``: sigmoid applied) or
            probabilities, channel ``t`` for class ``thing_ids[t]``.
        masks: ``(N, H, W)`` binary masks (bool or 0/1) at the map's resolution.
        labels: ``(N,)`` global train ids, each in ``thing_ids``.
        windows: optional ``(N, 4)`` int64 ``(y0, y1, x0, x1)`` outside which each mask is empty
            (a paste's windows): the sums then read only those windows (equal up to float rounding,
            so two instances whose scores differ by a few ulps may swap places).

    Returns ``(N,)`` scores in [0, 1]; 0 for an empty mask.
    """
    things = as_ids(thing_ids, "thing_ids")
    if ranking_map.dim() != 3 or ranking_map.shape[0] != len(things):
        raise ValueError(
            f"ranking_map must be (T, H, W) with T = len(thing_ids) = {len(things)}, got shape "
            f"{tuple(ranking_map.shape)}."
        )
    if masks.dim() != 3 or masks.shape[-2:] != ranking_map.shape[-2:]:
        raise ValueError(
            f"masks must be (N, H, W) at the ranking map's resolution {tuple(ranking_map.shape[-2:])}, got "
            f"{tuple(masks.shape)}; resize the map (or the masks) first."
        )
    channel = thing_channels(labels, things)
    if windows is not None:  # the sigmoid too only inside the windows
        sums, areas = [], []
        for i, (c, (y0, y1, x0, x1)) in enumerate(zip(channel.tolist(), windows.tolist())):  # two host copies
            m = masks[i, y0:y1, x0:x1].to(ranking_map.dtype)
            window = ranking_map[c, y0:y1, x0:x1]
            sums.append(((torch.sigmoid(window) if from_logits else window) * m).sum())
            areas.append(m.sum())
        if not sums:
            return ranking_map.new_zeros(0)
        return torch.stack(sums) / torch.stack(areas).clamp(min=1)
    prob = torch.sigmoid(ranking_map) if from_logits else ranking_map
    per_instance = prob.index_select(0, channel)  # (N, H, W): each instance's category channel
    m = masks.to(per_instance.dtype)
    area = m.flatten(1).sum(1)
    return (per_instance * m).flatten(1).sum(1) / area.clamp(min=1)


def spatial_ranking_scores(
    ranking: torch.nn.Module,
    masks: torch.Tensor,
    labels: torch.Tensor,
    *,
    thing_ids: Sequence[int],
    windows: torch.Tensor | None = None,
) -> torch.Tensor:
    """OANet at inference: ``(N,)`` rank scores of one image's detections.

    ``masks (N, H, W)`` bool are the binary detected masks (PAPERS.md: OANet places binary masks;
    resizing them to stride 4 softens their edges only); their category channels at stride 4 go
    through the ``ranking`` module, whose map is resized to ``(H, W)`` in the detected classes'
    channels only (the scores read no other) and averaged over each mask
    (:func:`rank_scores_from_map`). With ``windows`` (a paste's, outside which the masks are empty)
    the category channels and the scores read only the windows (``ranking_windows.py``: the map's
    values at the window pixels, no full-image resize; equal up to float32 rounding).
    """
    size = tuple(masks.shape[-2:])
    small = (-(-size[0] // 4), -(-size[1] // 4))  # the ranking module runs at stride 4, as in training
    category = masks_to_category_channels(masks, labels, thing_ids=thing_ids, size=small, windows=windows)
    ranking_map = ranking(category[None])
    present, local = torch.unique(thing_channels(labels, thing_ids), sorted=True, return_inverse=True)
    if present.numel() == 0:  # no detection: nothing to rank
        return ranking_map.new_zeros(0)
    if windows is not None:
        return rank_scores_in_windows(ranking_map[0, present], masks, local, windows)
    ranking_map = F.interpolate(ranking_map[:, present], size=size, mode="bilinear", align_corners=False)[0]
    present_ids = [list(thing_ids)[i] for i in present.tolist()]
    return rank_scores_from_map(ranking_map, masks, labels, thing_ids=present_ids)


def spatial_ranking_targets(
    gt_masks: torch.Tensor, gt_labels: torch.Tensor, *, thing_ids: Sequence[int], size: Sequence[int] | None = None
) -> torch.Tensor:
    """Targets of the ranking map: ``(T, h, w)`` float, the visible GT masks in their category channels.

    ``gt_masks (M, H, W)`` must be the visible (non-occluded) masks, e.g. the thing segments of
    a panoptic ground truth; ``gt_labels (M,)`` their train ids; ``size`` the ranking map's
    size (default ``(H, W)``).
    """
    return masks_to_category_channels(gt_masks, gt_labels, thing_ids=thing_ids, size=size)


def spatial_ranking_loss(
    ranking_logits: torch.Tensor, targets: torch.Tensor, *, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Pixel-wise binary cross entropy of the ranking logits (``(T, H, W)`` or ``(B, T, H, W)``), mean."""
    if ranking_logits.shape != targets.shape:
        raise ValueError(
            f"ranking logits {tuple(ranking_logits.shape)} and targets {tuple(targets.shape)} must have the same "
            "shape; build the targets with spatial_ranking_targets(..., size=ranking_logits.shape[-2:])."
        )
    return F.binary_cross_entropy_with_logits(ranking_logits, targets.to(ranking_logits.dtype), weight=weight)


def spatial_ranking_fusion(
    sem_logits: torch.Tensor,
    masks: torch.Tensor,
    scores: torch.Tensor,
    labels: torch.Tensor,
    rank_scores: torch.Tensor,
    *,
    thing_ids: Sequence[int],
    stuff_ids: Sequence[int],
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    overlap_threshold: float = 0.5,
    stuff_area_limit: int = 4096,
    windows: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Heuristic fusion with instances pasted in ``rank_scores`` order (OANet); see :func:`heuristic_fusion`."""
    check_instances(sem_logits, masks, scores, labels)
    return heuristic_fusion(
        sem_logits, masks, scores, labels,
        thing_ids=thing_ids, stuff_ids=stuff_ids, rank_scores=rank_scores,
        score_threshold=score_threshold, mask_threshold=mask_threshold,
        overlap_threshold=overlap_threshold, stuff_area_limit=stuff_area_limit, windows=windows,
    )


class SpatialRankingFuser(HeuristicFuser):
    """OANet spatial-ranking fusion as a module; needs ``instances["rank_scores"]`` (N,).

    The model computes them with :func:`rank_scores_from_map` from its ranking map. Segment
    scores stay the detection scores.
    """

    required_keys = ("rank_scores",)
    key_hint = (
        " Compute them with segzoo.fusers.panoptic.rank_scores_from_map(ranking_map, masks >= 0.5, labels, "
        "thing_ids=...), or use the 'heuristic' fuser."
    )

    def fuse(self, sem_logits, instances, *, thing_ids, stuff_ids):
        return spatial_ranking_fusion(
            sem_logits, instances["masks"], instances["scores"], instances["labels"], instances["rank_scores"],
            thing_ids=thing_ids, stuff_ids=stuff_ids, windows=instances.get("windows"), **self._options(),
        )
