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
        loss_weights: weight per output (``"logits"``, ``scale_<s>`` and the fused auxiliary
            outputs); default 1 each for the 1 + S losses and, with ``fuse_aux``, the wrapped
            model's weight for each auxiliary output; with the wrapped model's pixel loss.
        attention_on: what the fuser's attention reads: ``"backbone"`` (the backbone's levels)
            or ``"head"`` (the decode head's representation, for heads that provide one, e.g.
            OCR's: NVIDIA's HMSA on HRNet-OCR, arXiv:2005.10821).
        fuse_aux: fuse the head's auxiliary outputs (OCR's soft-region logits) across scales with
            the same attention and supervise the fused ones, as NVIDIA's HMSA does (needs a fuser
            with ``fuses_aux``, i.e. ``hmsa``); otherwise the auxiliary outputs are not trained
            under multi-scale training.
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
        attention_on: str = "backbone",
        fuse_aux: bool = False,
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
        if attention_on not in ("backbone", "head"):
            raise ValueError(f"attention_on must be 'backbone' or 'head', got {attention_on!r}.")
        if attention_on == "head" and not getattr(model.decode_head, "provides_features", False):
            raise ValueError(
                f"attention_on='head' needs a decode head that hands over its representation (provides_features, "
                f"e.g. OCRHead); {type(model.decode_head).__name__} does not. Use attention_on='backbone'."
            )
        if fuse_aux and not getattr(fuser, "fuses_aux", False):
            raise ValueError(f"fuse_aux=True needs a fuser that fuses auxiliary outputs (hmsa); {type(fuser).__name__} does not.")
        self.attention_on = attention_on
        self.fuse_aux = bool(fuse_aux)
        aux_names = list(getattr(model.decode_head, "aux_names", ())) if self.fuse_aux else []
        weights = loss_weights or {
            "logits": 1.0,
            **{scale_name(s): 1.0 for s in self.train_scales},
            **{name: float(model.criterion.weights.get(name, 0.4)) for name in aux_names},
        }
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
            streams.append(self._stream(s, self.model.extract_features(xs), tuple(xs.shape[-2:])))
        return streams

    def _stream(self, scale: float, features: list[torch.Tensor], input_size: tuple[int, int]) -> ScaleStream:
        if self.attention_on == "head":  # the fuser reads the head's representation (e.g. OCR's)
            outputs = dict(self.model.decode_head(features, with_features=True))
            fuser_features = [outputs.pop("features")]
        else:
            outputs = dict(self.model._head_outputs(features))
            fuser_features = features
        logits = outputs.pop("logits")
        aux = outputs if self.fuse_aux and self.training else None
        return ScaleStream(scale, logits, fuser_features, aux, input_size)

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
        if self.training and fused.aux:
            aux.update({name: resize_to(value, x) for name, value in fused.aux.items()})
        return SemanticOutput(logits=resize_to(fused.logits, x), aux=aux)

    def losses(self, raw: SemanticOutput, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """The 1 + S weighted losses (``loss_seg`` for the fused output, ``loss_scale_<s>`` per scale)."""
        return semantic_losses(self.criterion, raw, targets)
