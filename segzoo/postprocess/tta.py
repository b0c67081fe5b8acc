"""Test-time augmentation: multi-scale and flipped inference with averaged probabilities.

The common practice of DeepLab (arXiv:1706.05587), PSPNet (arXiv:1612.01105) and seed 001
(AinnoSeg: 7 scales from 0.5 to 2.0 with flipping): the network runs on rescaled (and
horizontally flipped) copies; softmax probabilities are resized back to the original
resolution and averaged. Flipped copies run in the same batch as the originals.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TTA", "AINNOSEG_SCALES", "semantic_logits_fn"]

AINNOSEG_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


def semantic_logits_fn(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function giving a model's semantic logits at input size: ``model.semantic_logits`` for
    segzoo models (panoptic ones: their semantic branch), the callable itself otherwise."""
    return getattr(model, "semantic_logits", model)


class TTA(nn.Module):
    """Wrap a model: ``forward(x)`` returns averaged probabilities ``(B, K, H, W)``.

    Args:
        model: a segzoo model (its ``semantic_logits``: for a panoptic model, the semantic
            branch's) or any callable giving logits at input size.
        scales: input scales (e.g. ``AINNOSEG_SCALES``).
        flip: also run horizontally flipped copies (in the same batch) and flip them back.
    """

    def __init__(self, model: nn.Module, *, scales: Sequence[float] = (1.0,), flip: bool = True) -> None:
        super().__init__()
        if not scales or any(s <= 0 for s in scales):
            raise ValueError(f"scales must be positive numbers, got {tuple(scales)}.")
        self.model = model
        self.scales = tuple(float(s) for s in scales)
        self.flip = flip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images ``(B, C, H, W)`` -> mean softmax probabilities ``(B, K, H, W)``."""
        logits_of = semantic_logits_fn(self.model)
        h, w = x.shape[-2:]
        total = None
        for s in self.scales:
            xs = x if s == 1.0 else F.interpolate(
                x, size=(max(1, int(h * s + 0.5)), max(1, int(w * s + 0.5))), mode="bilinear", align_corners=False
            )
            batch = torch.cat([xs, xs.flip(-1)]) if self.flip else xs  # flipped copies share the batch
            probs = torch.softmax(logits_of(batch).float(), dim=1)
            if self.flip:
                probs = probs[: x.shape[0]] + probs[x.shape[0] :].flip(-1)
            if probs.shape[-2:] != (h, w):
                probs = F.interpolate(probs, size=(h, w), mode="bilinear", align_corners=False)
            total = probs if total is None else total + probs
        return total / (len(self.scales) * (2 if self.flip else 1))

    def check_predict(self) -> None:
        """Raise unless :meth:`predict` can stand in for the model's: a segzoo model whose results
        are label maps (the arg-max of its logits), not panoptic segments."""
        from ..models.base import SegmentationModel

        if not isinstance(self.model, SegmentationModel):
            raise TypeError("TTA.predict needs a segzoo model (for its normalisation); call forward on normalised tensors.")
        if type(self.model).postprocess is not SegmentationModel.postprocess:
            raise ValueError(
                f"TTA.predict gives label maps, but {type(self.model).__name__}.predict gives other results "
                "(panoptic segments); use TTA(model)(x) for its averaged semantic probabilities instead."
            )

    @torch.no_grad()
    def predict(self, images, *, batch_size: int = 8):
        """Like the wrapped model's ``predict`` (raw images in, label maps out), with TTA."""
        from ..inputs import run_predict

        self.check_predict()
        return run_predict(self.model, images, lambda x: list(self(x).argmax(dim=1).unbind(0)), batch_size=batch_size)
