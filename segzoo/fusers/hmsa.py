"""Hierarchical multi-scale attention.

Tao et al., "Hierarchical Multi-Scale Attention for Semantic Segmentation",
arXiv:2005.10821 (seed 003): at every scale an attention head predicts a per-pixel weight
``a`` (sigmoid, one channel) for that scale's prediction. Scales are combined pairwise,
from the highest scale down: with L the lower and H the accumulated higher-scale result,
``F = up(a_L * P_L) + (1 - up(a_L)) * P_H``. Relative attention between adjacent scales
makes the fuser independent of the scale set: trained on (0.5, 1.0), it runs on
(0.5, 1.0, 2.0) without retraining. The highest scale's own attention is unused.

Reading chosen: all maps are resized to the fusion size before combining (the authors'
code resizes to the current accumulator, which ends at the same 1x resolution); the
attention head reads ``features[in_index]`` of each stream (3x3 conv-BN-ReLU twice, then 1x1
conv, as in the authors' code): the backbone's last level by default, OCR's augmented
representation when the model hands it over (the authors' HRNet-OCR, ``MscaleOCR``). The
streams' auxiliary logits (OCR's soft-region logits) are fused with the same attention, as the
authors' code fuses ``aux_out`` for its 0.4-weighted auxiliary loss.

``at_input=True`` follows the authors' code exactly (``MscaleBase.nscale_forward``): every stream's
logits and attention are first upsampled to that stream's input size; going down the scales, the
accumulated prediction is resized to the current stream's size while the scale is at least 1
(``a P + (1 - a) down(F)``), and the current stream's weighted prediction and attention are
resized to the accumulated one's size below 1 (``up(a P) + (1 - up(a)) F``); the result is at the
size of the smallest scale >= 1 (the input's when 1 is among the scales).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import ConvNormAct
from .base import FusedOutput, ScaleFuser, ScaleStream, resize

__all__ = ["HierarchicalScaleFuser"]


class HierarchicalScaleFuser(ScaleFuser):
    """HMSA: works for any number of scales (streams sorted by scale internally)."""

    fuses_aux = True

    def __init__(
        self, in_channels: int, *, channels: int = 256, in_index: int = -1, norm: str | None = "bn", at_input: bool = False
    ) -> None:
        super().__init__()
        self.in_index = in_index
        self.at_input = bool(at_input)
        self.attention = nn.Sequential(
            ConvNormAct(in_channels, channels, 3, norm=norm),
            ConvNormAct(channels, channels, 3, norm=norm),
            nn.Conv2d(channels, 1, 1),
        )

    def fuse(self, streams: list[ScaleStream], size: tuple[int, int]) -> FusedOutput:
        streams = sorted(streams, key=lambda s: s.scale, reverse=True)  # highest first
        if self.at_input:
            return self._fuse_at_input(streams)
        fused = resize(streams[0].logits, size)
        aux = {name: resize(value, size) for name, value in (streams[0].aux or {}).items()}
        remaining = torch.ones_like(fused[:, :1])  # weight still held by the higher scales
        weights = []
        for stream in streams[1:]:  # the lower scale L of each pair
            a = torch.sigmoid(self.attention(stream.features[self.in_index]))  # (B, 1, h_L', w_L')
            a = resize(a, stream.logits.shape[-2:])
            a_up = resize(a, size)
            fused = resize(a * stream.logits, size) + (1 - a_up) * fused  # up(a_L P_L) + (1 - up(a_L)) P_H
            for name, value in (stream.aux or {}).items():  # the same combination of the auxiliary logits
                if name in aux:
                    aux[name] = resize(a * resize(value, stream.logits.shape[-2:]), size) + (1 - a_up) * aux[name]
            weights.append(a_up)
        # Effective weight of each scale, ascending scale: lowest a_0; next (1 - a_0) a_1; ...; highest prod(1 - a).
        effective = []
        for a in reversed(weights):
            effective.append(remaining * a)
            remaining = remaining * (1 - a)
        scale_weights = torch.cat(effective + [remaining], dim=1)  # (B, S, h, w), ascending scale
        return FusedOutput(fused, {"scale_weights": scale_weights}, aux or None)

    def _fuse_at_input(self, streams: list[ScaleStream]) -> FusedOutput:
        """The authors' order and resolutions (see the module docstring); streams sorted highest first."""
        if any(s.input_size is None for s in streams):
            raise ValueError("at_input=True needs each stream's input_size (MultiScaleModel sets it).")
        fused = aux = None
        attentions: list[tuple[float, torch.Tensor]] = []
        for stream in streams:
            size = tuple(stream.input_size)
            logits = resize(stream.logits, size)
            extra = {name: resize(value, size) for name, value in (stream.aux or {}).items()}
            if fused is None:
                fused, aux = logits, extra
                continue
            a = resize(torch.sigmoid(self.attention(stream.features[self.in_index])), size)
            if stream.scale >= 1.0:  # the accumulated prediction comes down to this scale
                fused = a * logits + (1 - a) * resize(fused, size)
                aux = {k: a * extra[k] + (1 - a) * resize(v, size) for k, v in aux.items() if k in extra}
            else:  # this scale's weighted prediction goes up to the accumulated one
                target = tuple(fused.shape[-2:])
                a_up = resize(a, target)
                fused = resize(a * logits, target) + (1 - a_up) * fused
                aux = {k: resize(a * extra[k], target) + (1 - a_up) * v for k, v in aux.items() if k in extra}
                a = a_up
            attentions.append((stream.scale, a))
        final = tuple(fused.shape[-2:])
        remaining = torch.ones_like(fused[:, :1])
        effective = []
        for _, a in reversed(attentions):  # ascending scale, as the fusion-size path reports them
            a = resize(a, final)
            effective.append(remaining * a)
            remaining = remaining * (1 - a)
        return FusedOutput(fused, {"scale_weights": torch.cat(effective + [remaining], dim=1)}, aux or None)
