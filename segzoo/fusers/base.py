"""The scale-fuser interface shared by every multi-scale fusion method.

A scale fuser receives the per-scale outputs of one shared-weight network (Chen et al.,
"Attention to Scale", arXiv:1511.03339; Tao et al., "Hierarchical Multi-Scale Attention",
arXiv:2005.10821; seed 004) and returns fused logits plus the maps it weighted them with.
All per-scale maps are first resized to a common fusion size (the caller picks it: the
1x stream's head resolution), where the fusion happens.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ScaleStream", "FusedOutput", "ScaleFuser", "resize"]


class ScaleStream(NamedTuple):
    """One stream: its scale, its logits ``(B, K, h_s, w_s)``, the features its fuser reads (high
    resolution first) and, when the caller wants them fused too, named auxiliary logits (e.g. OCR's
    soft-region logits, which NVIDIA's HMSA fuses with the same attention)."""

    scale: float
    logits: torch.Tensor
    features: list[torch.Tensor]
    aux: Mapping[str, torch.Tensor] | None = None
    input_size: tuple[int, int] | None = None  # the rescaled input's size (fusers that work at input resolution)


class FusedOutput(NamedTuple):
    """Fused logits ``(B, K, h, w)`` and named maps for inspection, e.g. ``scale_weights (B, S, h, w)``;
    ``aux``: the streams' auxiliary logits fused the same way, by fusers that can (``fuses_aux``).

    The logits are at the fusion size, except for a single stream, which passes through at its
    own resolution (so one scale gives exactly the wrapped model's prediction)."""

    logits: torch.Tensor
    attention: dict[str, torch.Tensor]
    aux: Mapping[str, torch.Tensor] | None = None


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize to ``size`` (exactly the identity when already there: no shape branch, so
    traced / exported graphs stay correct at every input size)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class ScaleFuser(nn.Module):
    """Base class: one stream passes through unchanged; subclasses implement ``fuse``.

    Attributes:
        num_scales: the number of streams a fuser with per-scale parameters was built for
            (``None`` when it takes any number).
        fuses_aux: whether ``fuse`` also fuses the streams' auxiliary logits (``FusedOutput.aux``).
    """

    num_scales: int | None = None
    fuses_aux: bool = False

    def forward(self, streams: Sequence[ScaleStream], size: Sequence[int]) -> FusedOutput:
        if not streams:
            raise ValueError("A scale fuser needs at least one stream.")
        if len(streams) == 1:  # nothing to fuse: the stream's logits, at their own resolution, are the prediction
            logits = streams[0].logits
            ones = logits.new_ones(logits.shape[0], 1, *logits.shape[-2:])
            return FusedOutput(logits, {"scale_weights": ones}, streams[0].aux)
        if self.num_scales is not None and len(streams) != self.num_scales:
            raise ValueError(
                f"{type(self).__name__} was built for {self.num_scales} scales (it has per-scale weights), got "
                f"{len(streams)}: {[s.scale for s in streams]}. Run it with {self.num_scales} scales, or use the "
                "'hmsa' fuser, which works for any scale set."
            )
        return self.fuse(list(streams), tuple(size))

    def fuse(self, streams: list[ScaleStream], size: tuple[int, int]) -> FusedOutput:
        raise NotImplementedError
