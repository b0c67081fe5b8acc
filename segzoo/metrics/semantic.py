"""Confusion-matrix metrics for semantic segmentation: IoU, accuracy, Dice, fwIoU, aAcc.

The metrics of Long et al., "Fully Convolutional Networks for Semantic Segmentation",
arXiv:1411.4038 (pixel accuracy, mean accuracy, mean IU, frequency-weighted IU), the
Pascal VOC IoU (Everingham et al., IJCV 2010), the Dice coefficient, and the ADE20K
challenge score of seed 001 (AinnoSeg): ``score = (pixel accuracy + mIoU) / 2``.

Conventions (as MMSegmentation and Detectron2 report them):

- the confusion matrix is ``hist[target, prediction]``, accumulated in int64 on the device
  of the first ``update``;
- pixels whose target is ``ignore_index`` are not counted at all;
- a prediction equal to ``ignore_index`` at a valid pixel ("no prediction") counts as a
  miss of the target class (it lowers that class's IoU and accuracy, and is a false
  positive of no class); it is kept in an extra column of the internal matrix;
- a class absent from both target and prediction has NaN IoU and Dice and is left out of
  the means; a class absent from the target has NaN accuracy (left out of mAcc); a class
  predicted but absent from the target has IoU 0 and Dice 0;
- fwIoU weights each class's IoU by its share of the valid target pixels.

All values are floats in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._distributed import all_reduce_sum

__all__ = ["SemanticMetrics", "SemanticResult", "semantic_metrics_from_confusion"]


@dataclass(frozen=True)
class SemanticResult:
    """Metrics computed from a confusion matrix; per-class tensors are float64 on the CPU."""

    iou: torch.Tensor  # (K,) NaN for classes absent from target and prediction
    acc: torch.Tensor  # (K,) per-class accuracy (recall); NaN for classes absent from the target
    dice: torch.Tensor  # (K,) NaN for classes absent from target and prediction
    miou: float
    macc: float
    aacc: float
    fwiou: float
    mdice: float
    score: float  # (aacc + miou) / 2, the ADE20K challenge score used by seed 001

    def as_dict(self) -> dict[str, Any]:
        """Plain-Python view with MMSegmentation-style keys (per-class values as lists)."""
        return {
            "aAcc": self.aacc,
            "mIoU": self.miou,
            "mAcc": self.macc,
            "fwIoU": self.fwiou,
            "mDice": self.mdice,
            "score": self.score,
            "IoU": self.iou.tolist(),
            "Acc": self.acc.tolist(),
            "Dice": self.dice.tolist(),
        }


def _nanmean(x: torch.Tensor) -> float:
    return float(torch.nanmean(x)) if bool((~torch.isnan(x)).any()) else math.nan


def semantic_metrics_from_confusion(hist: torch.Tensor) -> SemanticResult:
    """Metrics from a confusion matrix ``hist[target, prediction]``.

    ``hist`` is ``(K, K)`` or ``(K, K + 1)``: the optional last column counts valid pixels
    whose prediction was "no prediction" (misses of the row's class).
    """
    if hist.ndim != 2 or hist.shape[1] not in (hist.shape[0], hist.shape[0] + 1):
        raise ValueError(f"hist must be (K, K) or (K, K + 1), got shape {tuple(hist.shape)}")
    h = hist.detach().to("cpu", torch.float64)
    k = h.shape[0]
    tp = torch.diagonal(h[:, :k])
    gt_count = h.sum(1)  # (K,) valid target pixels per class, including "no prediction"
    pred_count = h[:, :k].sum(0)  # (K,) pixels predicted as each class
    total = h.sum()
    union = gt_count + pred_count - tp
    nan = torch.tensor(math.nan, dtype=torch.float64)
    # torch.where evaluates both branches; the 0/0 NaNs it makes are the ones we want anyway.
    iou = torch.where(union > 0, tp / union, nan)
    acc = torch.where(gt_count > 0, tp / gt_count, nan)
    dice = torch.where(gt_count + pred_count > 0, 2 * tp / (gt_count + pred_count), nan)
    miou = _nanmean(iou)
    aacc = float(tp.sum() / total) if total > 0 else math.nan
    present = gt_count > 0
    fwiou = float((gt_count[present] / total * iou[present]).sum()) if total > 0 else math.nan
    return SemanticResult(
        iou=iou,
        acc=acc,
        dice=dice,
        miou=miou,
        macc=_nanmean(acc),
        aacc=aacc,
        fwiou=fwiou,
        mdice=_nanmean(dice),
        score=(aacc + miou) / 2,
    )


def _to_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if x.dtype in (np.uint16, np.uint32, np.uint64):  # few torch ops take these
            x = x.astype(np.int64)
        elif not x.flags.writeable:  # torch warns on read-only arrays
            x = x.copy()
        return torch.from_numpy(np.ascontiguousarray(x))
    if torch.is_tensor(x):
        return x
    raise TypeError(f"{name} must be a torch.Tensor or a numpy array, got {type(x).__name__}")


class SemanticMetrics:
    """Streaming confusion matrix over ``num_classes`` classes and the metrics derived from it.

    >>> metric = SemanticMetrics(19, ignore_index=255)
    >>> for logits, target in batches:       # logits (B, K, H, W), target (B, H, W)
    ...     metric.update(logits, target)
    >>> metric.compute().miou

    ``update`` takes integer label maps ``(B, H, W)`` / ``(H, W)`` or logits
    ``(B, K, H, W)`` / ``(K, H, W)`` (floating, arg-maxed over K), torch or numpy, any
    integer dtype (uint8 targets included). Under ``torch.distributed`` ``compute`` sums the
    matrices of all processes (every process must call it).
    """

    def __init__(self, num_classes: int, *, ignore_index: int | None = 255) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if ignore_index is not None and 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index={ignore_index} is a valid class id for num_classes={num_classes}; "
                "use a value outside [0, num_classes) (e.g. 255 or -1), or None for no ignored label"
            )
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self._hist: torch.Tensor | None = None  # (K, K + 1) int64; column K = "no prediction"

    def reset(self) -> None:
        """Forget all counts."""
        self._hist = None

    @property
    def confusion_matrix(self) -> torch.Tensor:
        """Local ``(K, K)`` int64 matrix ``[target, prediction]`` (without the "no prediction" column)."""
        k = self.num_classes
        if self._hist is None:
            return torch.zeros(k, k, dtype=torch.int64)
        return self._hist[:, :k].clone()

    def _check_range(self, x: torch.Tensor, name: str) -> torch.Tensor | None:
        """Raise on labels outside ``[0, K)`` that are not ``ignore_index``.

        Returns the mask of pixels equal to ``ignore_index``, or None when all labels are in range.
        """
        if x.numel() == 0:
            return None
        lo, hi = torch.aminmax(x)
        if lo >= 0 and hi < self.num_classes:  # the common case: one pass over the labels
            return None
        ignored = x == self.ignore_index if self.ignore_index is not None else torch.zeros_like(x, dtype=torch.bool)
        bad = x >= self.num_classes
        if lo < 0:
            bad |= x < 0
        bad &= ~ignored
        if bool(bad.any()):
            values = torch.unique(x[bad])
            shown = values[:10].tolist()
            more = f" (and {values.numel() - 10} more)" if values.numel() > 10 else ""
            raise ValueError(
                f"{name} has labels {shown}{more} outside [0, {self.num_classes}) that are not "
                f"ignore_index={self.ignore_index}; check num_classes and the label mapping "
                "(e.g. ADE20K's reduce_zero_label), or set ignore_index"
            )
        return ignored

    def update(self, pred: Any, target: Any) -> None:
        """Add a batch: ``pred`` labels or logits, ``target`` labels of the same spatial shape."""
        if self._hist is not None:
            device = self._hist.device
        else:  # the first tensor input decides; numpy arrays live on the CPU
            device = next((x.device for x in (pred, target) if torch.is_tensor(x)), torch.device("cpu"))
        pred = _to_tensor(pred, "pred").to(device)
        target = _to_tensor(target, "target").to(device)
        if target.is_floating_point() or target.dtype == torch.bool:
            raise TypeError(f"target must hold integer labels, got dtype {target.dtype}")
        if pred.is_floating_point():
            if pred.ndim != target.ndim + 1:
                raise ValueError(
                    f"floating pred of shape {tuple(pred.shape)} is read as logits and needs one more "
                    f"dimension (classes) than target {tuple(target.shape)}: pass logits (B, K, H, W) "
                    "with target (B, H, W), or integer labels of the target's shape"
                )
            if pred.shape[-3] != self.num_classes:
                raise ValueError(
                    f"logits have {pred.shape[-3]} channels (dim -3 of {tuple(pred.shape)}), "
                    f"expected num_classes={self.num_classes}"
                )
            pred = pred.argmax(dim=-3)
        elif pred.dtype == torch.bool:
            raise TypeError("pred must hold integer labels or floating logits, got dtype torch.bool")
        if pred.shape != target.shape:
            raise ValueError(
                f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}; "
                "they must match (resize logits to the target size, e.g. with F.interpolate, before update)"
            )
        pred_void = self._check_range(pred, "pred")
        target_ignored = self._check_range(target, "target")

        k = self.num_classes
        nbins = k * (k + 1)
        # int32 halves the memory traffic of the index; it is exact while the bins fit.
        dtype = torch.int32 if nbins + 1 < 2**31 else torch.int64
        p = pred.to(dtype)
        if pred_void is not None:
            p = p.masked_fill(pred_void, k)  # column K = "no prediction"
        # idx = target * (K + 1) + pred, the flat index of hist[target, pred]
        idx = torch.addcmul(p, target.to(dtype), torch.tensor(k + 1, dtype=dtype, device=device))
        if target_ignored is not None:
            idx.masked_fill_(target_ignored, nbins)  # dump bin, dropped below
        counts = torch.bincount(idx.reshape(-1), minlength=nbins + 1)[:nbins]
        counts = counts.view(k, k + 1).to(torch.int64)
        if self._hist is None:
            self._hist = counts
        else:
            self._hist += counts

    def compute(self, *, sync: bool = True) -> SemanticResult:
        """Metrics over everything seen since the last ``reset`` (summed over processes if ``sync``)."""
        k = self.num_classes
        hist = self._hist if self._hist is not None else torch.zeros(k, k + 1, dtype=torch.int64)
        if sync:
            hist = all_reduce_sum(hist)
        return semantic_metrics_from_confusion(hist)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_classes={self.num_classes}, ignore_index={self.ignore_index})"
