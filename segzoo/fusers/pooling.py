"""Average and max merging of multi-scale score maps: the pooling baselines of seed 004
("Attention to Refine through Multi-Scales", Table 1) and of Chen et al., "Attention to
Scale", arXiv:1511.03339."""

from __future__ import annotations

import torch

from .base import FusedOutput, ScaleFuser, ScaleStream, resize

__all__ = ["AverageFuser", "MaxFuser"]


class AverageFuser(ScaleFuser):
    """Mean of the per-scale logits (uniform scale weights 1/S)."""

    def fuse(self, streams: list[ScaleStream], size: tuple[int, int]) -> FusedOutput:
        stacked = torch.stack([resize(s.logits, size) for s in streams], dim=1)  # (B, S, K, h, w)
        weights = stacked.new_full((stacked.shape[0], len(streams), *size), 1.0 / len(streams))
        return FusedOutput(stacked.mean(dim=1), {"scale_weights": weights})


class MaxFuser(ScaleFuser):
    """Element-wise maximum of the per-scale logits; ``winner`` tells which scale won (B, K, h, w)."""

    def fuse(self, streams: list[ScaleStream], size: tuple[int, int]) -> FusedOutput:
        stacked = torch.stack([resize(s.logits, size) for s in streams], dim=1)  # (B, S, K, h, w)
        fused, winner = stacked.max(dim=1)
        return FusedOutput(fused, {"winner": winner.float()})
