"""How far a reduced-precision run is from float32, and the rule the automatic precision follows.

A label can only change where the float32 decision is close: at a pixel whose top-2 logit margin
``m`` is smaller than the change reduced precision makes to that margin. So the comparison
separates the pixels the precision can decide from the near ties:

- ``error_bound``: the 99th percentile over the sample of ``|m' - m|``, the change of the fp32
  top-2 classes' margin under reduced precision (the precision's error, measured on this model
  and this input);
- decisive pixels: those whose fp32 margin exceeds ``error_bound``;
- ``decisive_agreement``: the share of decisive pixels whose label is unchanged.

**Automatic precision** (``optimize(dtype=None)``) keeps the reduced precision when the outputs
are finite, at least half of the sample's pixels are decisive and at least ``min_agreement`` of
them keep their label; otherwise float32. A trained network decides most pixels with margins far
above bf16's error, so it passes; a random-weight network's logits are near ties almost
everywhere (its overall agreement can be 93% while nothing it "decides" is meaningful), and so
is a network the reduced precision really harms: both fail the half-decisive condition and stay
in float32. An explicit ``dtype`` is always used; its overall agreement is reported, with a
warning below ``min_agreement``. Verify on your own images (``sample=``) where it matters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["PrecisionCheck", "compare_precision", "auto_accepts", "MIN_DECISIVE_SHARE"]

MIN_DECISIVE_SHARE = 0.5  # the automatic rule needs at least this share of decisive pixels


@dataclass(frozen=True)
class PrecisionCheck:
    """Label agreement and logit error of a run against the float32 reference on one sample."""

    agreement: float  # share of all pixels with the fp32 label
    decisive_agreement: float  # share of decisive pixels with the fp32 label (nan: none decisive)
    decisive_share: float  # share of pixels whose fp32 margin exceeds error_bound
    error_bound: float  # 99th percentile of the change of the fp32 top-2 margin
    max_abs_diff: float  # largest absolute logit difference
    finite: bool  # every output logit is finite


def compare_precision(reference: torch.Tensor, output: torch.Tensor) -> PrecisionCheck:
    """``reference`` and ``output``: ``(B, C, ...)`` logits of the fp32 model and of the run to check."""
    reference, output = reference.float(), output.float()
    if reference.shape != output.shape:
        raise RuntimeError(f"The optimised model's output shape {tuple(output.shape)} differs from {tuple(reference.shape)}.")
    finite = bool(torch.isfinite(output).all())
    if reference.ndim < 2 or reference.shape[1] < 2:
        diff = (reference - output).abs().max().item() if finite else math.inf
        return PrecisionCheck(math.nan, math.nan, math.nan, math.nan, diff, finite)
    top2 = reference.topk(2, dim=1)
    margin = top2.values[:, 0] - top2.values[:, 1]
    moved = output.gather(1, top2.indices)
    change = ((moved[:, 0] - moved[:, 1]) - margin).abs()
    same = reference.argmax(1) == output.argmax(1)
    if not finite:
        return PrecisionCheck(same.double().mean().item(), 0.0, 0.0, math.inf, math.inf, False)
    bound = torch.quantile(change.flatten().double()[: 1 << 24], 0.99).item()  # quantile's input size limit
    decisive = margin > bound
    share = decisive.double().mean().item()
    decided = same[decisive].double().mean().item() if bool(decisive.any()) else math.nan
    return PrecisionCheck(
        agreement=same.double().mean().item(), decisive_agreement=decided, decisive_share=share, error_bound=bound,
        max_abs_diff=(reference - output).abs().max().item(), finite=True,
    )  # fmt: skip


def auto_accepts(check: PrecisionCheck, *, min_agreement: float) -> bool:
    """The automatic precision's rule (module docstring): finite, half the pixels decisive, and
    ``min_agreement`` of those unchanged."""
    return (
        check.finite
        and check.decisive_share >= MIN_DECISIVE_SHARE
        and not math.isnan(check.decisive_agreement)
        and check.decisive_agreement >= min_agreement
    )
