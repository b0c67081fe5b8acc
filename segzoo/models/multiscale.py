"""Multi-scale inference and training around one shared-weight semantic network.

The image is resized to every scale, the same network runs on each, and a scale fuser
(``segzoo.fusers``) merges the per-scale predictions at a common fusion size (1/4 of the
input by default). Training returns the fused logits and every scale's logits for the
1 + S cross-entropy losses of Attention-to-Scale (arXiv:1511.03339) and seed 004;
hierarchical multi-scale attention (arXiv:2005.10821) trains on one scale set and runs on
another (``train_scales`` vs ``scales``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..fusers import FusedOutput, ScaleStream
from ..losses import DeepSupervisionLoss
from .base import SegmentationModel
from .semantic import SemanticModel, SemanticOutput, resize_to, semantic_losses

__all__ = ["MultiScaleModel", "scale_name", "scaled_length"]


def scale_name(scale: float) -> str:
    """The output name of one scale's logits: ``scale_0.5``, ``scale_1``, ``scale_2``."""
    return f"scale_{scale:g}"


def scaled_length(n, scale: float):
    """``max(1, round(n * scale))`` (halves up, as ``int(n * scale + 0.5)``) in integer arithmetic.

    ``n`` may be a Python int, a ``SymInt`` (``torch.export``) or the 0-dim tensor a size is under
    ``torch.jit.trace``: no ``int()``/``float()`` conversion, so exported graphs keep the input
    size dynamic instead of freezing the example's. ``scale`` is read as the nearest fraction
    ``p / q`` with ``q <= 2**16`` (exact for 0.5, 0.75, 1.5, ...).
    """
    frac = Fraction(scale).limit_denominator(1 << 16)
    p, q = frac.numerator, frac.denominator
    out = (2 * n * p + q) // (2 * q)  # floor(n * p / q + 1/2)
    if isinstance(out, torch.Tensor):  # a traced size
        return out.clamp(min=1)
    return torch.sym_max(out, 1)


def _check_scales(scales: Sequence[float], what: str) -> tuple[float, ...]:
    scales = tuple(sorted(float(s) for s in scales))
    if not scales or any(s <= 0 for s in scales) or len(set(scales)) != len(scales):
        raise ValueError(f"{what} must be distinct positive numbers, got {scales}.")
    return scales


class MultiScaleModel(SegmentationModel):
    """A semantic model run at several scales and fused.

    Args:
        model: the shared network (a ``SemanticModel``).
        fuser: a scale fuser module (``segzoo.fusers.create_fuser``).
        scales: scales used in eval mode (and by ``predict``); change them at will for
            fusers that take any scale set (``hmsa``, ``avg``, ``max``).
        train_scales: scales used in training mode (default: ``scales``).
        fusion_stride: the fusion happens at ``ceil(input / fusion_stride)``.
        loss_weights: weight per output (``"logits"`` and ``scale_<s>``); default 1 each
            (the 1 + S losses), with the wrapped model's pixel loss.
    """

    task = "semantic"
    export_formats = ("onnx", "torchscript", "torch-export")  # verified by tests/test_export.py

    def __init__(
        self,
        *,
        model: SemanticModel,
        fuser: nn.Module,
        scales: Sequence[float] = (0.5, 1.0),
        train_scales: Sequence[float] | None = None,
        fusion_stride: int = 4,
        loss_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(
            num_classes=model.num_classes,
            in_chans=model.in_chans,
            mean=model.pixel_mean.flatten().tolist(),
            std=model.pixel_std.flatten().tolist(),
        )
        self.model = model
        self.fuser = fuser
        self.scales = _check_scales(scales, "scales")
        self.train_scales = _check_scales(train_scales if train_scales is not None else scales, "train_scales")
        self.fusion_stride = int(fusion_stride)
        weights = loss_weights or {"logits": 1.0, **{scale_name(s): 1.0 for s in self.train_scales}}
        self.criterion = DeepSupervisionLoss(model.criterion.loss, weights=weights)

    @property
    def active_scales(self) -> tuple[float, ...]:
        """The scales of the current mode (``train_scales`` in training, ``scales`` in eval)."""
        return self.train_scales if self.training else self.scales

    def run_streams(self, x: torch.Tensor, scales: Sequence[float]) -> list[ScaleStream]:
        """The shared network on every rescaled copy of ``x``: logits at head resolution and features."""
        h, w = x.shape[-2:]
        streams = []
        for s in scales:
            xs = x if s == 1.0 else F.interpolate(
                x, size=(scaled_length(h, s), scaled_length(w, s)), mode="bilinear", align_corners=False
            )
            features = self.model.extract_features(xs)
            streams.append(ScaleStream(s, self.model._head_outputs(features)["logits"], features))
        return streams

    def fuse(self, x: torch.Tensor, scales: Sequence[float] | None = None) -> tuple[FusedOutput, list[ScaleStream]]:
        """Fused output (with the fuser's attention maps) and the streams, for inspection."""
        streams = self.run_streams(x, _check_scales(scales, "scales") if scales is not None else self.active_scales)
        size = (-(-x.shape[-2] // self.fusion_stride), -(-x.shape[-1] // self.fusion_stride))
        return self.fuser(streams, size), streams

    def forward(self, x: torch.Tensor, targets: object = None) -> SemanticOutput:
        """Normalised images -> :class:`SemanticOutput`: the fused logits at input size, and in
        training mode every scale's logits (``scale_<s>``) too. ``targets`` is not read."""
        fused, streams = self.fuse(x)
        aux = {scale_name(s.scale): resize_to(s.logits, x) for s in streams} if self.training else {}
        return SemanticOutput(logits=resize_to(fused.logits, x), aux=aux)

    def losses(self, raw: SemanticOutput, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """The 1 + S weighted losses (``loss_seg`` for the fused output, ``loss_scale_<s>`` per scale)."""
        return semantic_losses(self.criterion, raw, targets)
