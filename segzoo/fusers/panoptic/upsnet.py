"""UPSNet's parameter-free panoptic head.

Xiong et al., "UPSNet: A Unified Panoptic Segmentation Network", arXiv:1901.03784, Sec. 3.3.
Panoptic logits ``Z`` have ``S + N (+ 1)`` channels for one image (S stuff classes, N
instances, one "unknown" channel):

- stuff channel ``j``: the semantic logits of class ``stuff_ids[j]``;
- instance channel ``S + i``: inside instance i's box, its pasted mask logits plus the
  semantic logits of its class (``X_mask_i + Y_i``);
- unknown channel: ``max over thing classes of the semantic logits - max over the instance
  channels``, so a pixel the semantic head calls "thing" but no instance claims is unknown.

Inference is the argmax over ``Z``: a stuff channel gives the segment of its class (all its
pixels merged), an instance channel the segment of that instance (score = its detection
score), the unknown channel void. Training is a pixel-wise cross entropy on ``Z`` against
the panoptic ground truth, the instance channels built from the GT boxes (:func:`upsnet_targets`,
:func:`upsnet_loss`); UPSNet drops a random fraction of the GT instances there so that their
pixels teach the unknown channel.

Readings chosen:

- Outside its box an instance channel holds ``OUTSIDE_BOX_LOGIT = -1e4`` (a finite "-inf",
  so softmax and cross entropy stay finite, also in fp16), not the paper's zero padding:
  with zero padding an instance whose logits are negative inside its box would still win
  pixels far outside it.
- In the unknown channel the instance term is ``max(0, max_i Z_inst_i)``: an instance
  contributes only inside its box, and "no instance" counts as 0, which is what the
  paper's zero padding gives. So where no instance claims a pixel, unknown = max thing
  logit, which beats the stuff channels exactly where the semantic argmax is a thing class
  (a large unknown value only where thing logits are high); inside an instance with a
  confident mask the unknown value drops. (Without the clamp at 0, the background part of
  every box, where mask logits are very negative, would become unknown.) UPSNet's released
  code subtracts only the semantic part ``Y_i``; we follow the paper's wording.
- A pixel is inside a box when its centre is (see ``box_masks``). An argmax that lands on
  an instance channel outside the instance's box (possible only when every channel is at
  the -1e4 floor) is void.
- ``score_threshold`` (0.5, as the heuristic fuser) filters the detections first: UPSNet
  filters them before its head, and the same default lets a model swap fusers on the same
  detections. Stuff segments keep any area unless ``stuff_area_limit`` is set; a stuff
  segment's score is the mean softmax probability of its class in ``sem_logits``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ._common import (
    as_ids,
    assemble_panoptic,
    box_masks,
    box_rows_and_columns,
    channel_argmax,
    check_class_sets,
    check_instances,
    first_true,
    last_true,
    thing_channels,
)
from .base import PanopticFuser
from .upsampled_logits import as_dense_logits, channel_max

__all__ = [
    "OUTSIDE_BOX_LOGIT", "upsnet_panoptic_logits", "upsnet_targets", "upsnet_loss", "upsnet_fusion", "UPSNetFuser",
]

OUTSIDE_BOX_LOGIT = -1e4  # an instance channel's value outside its box (finite "-inf")


def _panoptic_logits(sem_logits, boxes, labels, mask_logits, *, things, stuff, with_unknown):
    """``(Z (S + N [+1], H, W), inside (N, H, W) bool)``; arguments already checked."""
    device = sem_logits.device
    inside = box_masks(boxes, sem_logits.shape[-2:])  # (N, H, W)
    stuff_logits = sem_logits.index_select(0, torch.as_tensor(stuff, dtype=torch.int64, device=device))  # (S, H, W)
    class_logits = sem_logits.index_select(0, labels.to(torch.int64))  # (N, H, W): Y_i before the box crop
    inst = torch.where(inside, mask_logits + class_logits, OUTSIDE_BOX_LOGIT)  # (N, H, W)
    parts = [stuff_logits, inst.to(stuff_logits.dtype)]
    if with_unknown:
        if things:
            thing_max = sem_logits.index_select(0, torch.as_tensor(things, device=device)).amax(0)  # (H, W)
        else:
            thing_max = torch.full_like(sem_logits[0], OUTSIDE_BOX_LOGIT)
        claimed = inst.amax(0).clamp(min=0) if inst.shape[0] else torch.zeros_like(thing_max)  # zero padding
        parts.append((thing_max - claimed)[None].to(stuff_logits.dtype))
    return torch.cat(parts, 0), inside


def _check_upsnet(sem_logits, boxes, scores, labels, mask_logits, thing_ids, stuff_ids):
    check_instances(sem_logits, mask_logits, scores, labels, name="mask_logits")
    if boxes.dim() != 2 or tuple(boxes.shape) != (labels.shape[0], 4):
        raise ValueError(f"boxes must be ({labels.shape[0]}, 4) xyxy pixels, got shape {tuple(boxes.shape)}.")
    things, stuff = check_class_sets(thing_ids, stuff_ids, sem_logits.shape[0])
    thing_channels(labels, things)  # raises on a label outside thing_ids
    return things, stuff


def upsnet_panoptic_logits(
    sem_logits: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    mask_logits: torch.Tensor,
    *,
    thing_ids: Sequence[int],
    stuff_ids: Sequence[int],
    with_unknown: bool = True,
) -> torch.Tensor:
    """UPSNet panoptic logits ``Z (S + N [+ 1], H, W)`` for one image (differentiable).

    Args:
        sem_logits: ``(K, H, W)`` semantic logits over all classes.
        boxes: ``(N, 4)`` xyxy pixel boxes (GT boxes in training, detections at inference).
        labels: ``(N,)`` global train ids, each in ``thing_ids``.
        mask_logits: ``(N, H, W)`` mask logits pasted at image resolution (values outside
            the box are ignored).
        with_unknown: append the unknown channel (last).

    Channel order: ``stuff_ids`` order, then the instances in input order, then unknown.
    """
    things, stuff = _check_upsnet(sem_logits, boxes, None, labels, mask_logits, thing_ids, stuff_ids)
    z, _ = _panoptic_logits(
        sem_logits, boxes, labels, mask_logits, things=things, stuff=stuff, with_unknown=with_unknown
    )
    return z


def upsnet_targets(
    sem_seg: torch.Tensor,
    gt_masks: torch.Tensor,
    *,
    thing_ids: Sequence[int],
    stuff_ids: Sequence[int],
    with_unknown: bool = True,
    ignore_index: int = 255,
) -> torch.Tensor:
    """Per-pixel channel index of ``Z`` for the cross entropy; ``(H, W)`` int64.

    Args:
        sem_seg: ``(H, W)`` train ids, ``ignore_index`` for void.
        gt_masks: ``(M, H, W)`` bool masks of the GT instances that made ``Z``'s instance
            channels, in the same order (after any random dropping).

    A stuff pixel of class ``c`` -> ``stuff_ids.index(c)``; a pixel of GT instance ``j`` ->
    ``S + j`` (the first listed instance wins an overlap); a thing-class pixel of no given
    instance (a dropped or crowd one) -> the unknown channel ``S + M`` with ``with_unknown``,
    else ``ignore_index``; void -> ``ignore_index``.
    """
    things, stuff = as_ids(thing_ids, "thing_ids"), as_ids(stuff_ids, "stuff_ids")
    if sem_seg.dim() != 2 or gt_masks.dim() != 3 or gt_masks.shape[-2:] != sem_seg.shape:
        raise ValueError(
            f"sem_seg must be (H, W) and gt_masks (M, H, W) of the same size, got {tuple(sem_seg.shape)} and "
            f"{tuple(gt_masks.shape)}."
        )
    device = sem_seg.device
    s, m = len(stuff), gt_masks.shape[0]
    size = max([*things, *stuff, 0]) + 1
    lut = torch.zeros(size, dtype=torch.int64, device=device)  # train id -> channel index
    known = torch.zeros(size, dtype=torch.bool, device=device)
    if stuff:
        lut[torch.tensor(stuff, device=device)] = torch.arange(s, device=device)
    if things:
        lut[torch.tensor(things, device=device)] = s + m if with_unknown else ignore_index
    known[torch.tensor([*things, *stuff], dtype=torch.int64, device=device)] = True
    sem = sem_seg.to(torch.int64)
    index = sem.clamp(0, size - 1)
    is_known = (sem >= 0) & (sem < size) & known[index]
    bad = ~is_known & (sem != ignore_index)
    if bool(bad.any()):
        labels = sorted(set(sem[bad].tolist()))[:10]
        raise ValueError(
            f"sem_seg holds labels {labels} that are neither in thing_ids, stuff_ids nor the ignore index "
            f"{ignore_index}; map the dataset's ids to train ids first."
        )
    target = torch.where(is_known, lut[index], ignore_index)
    if m:
        masks = gt_masks.to(torch.bool)
        first = masks.to(torch.uint8).argmax(0)  # (H, W): first instance covering the pixel
        target = torch.where(masks.any(0), s + first, target)
    return target


def upsnet_loss(panoptic_logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int = 255) -> torch.Tensor:
    """Pixel-wise cross entropy of ``Z (C, H, W)`` (or ``(B, C, H, W)``) against :func:`upsnet_targets`.

    Mean over the non-ignored pixels; 0 (with a gradient path) when every pixel is ignored.
    """
    if panoptic_logits.dim() == 3:
        panoptic_logits, targets = panoptic_logits[None], targets[None]
    if panoptic_logits.dim() != 4 or targets.shape != (panoptic_logits.shape[0], *panoptic_logits.shape[2:]):
        raise ValueError(
            f"Expected panoptic logits (C, H, W) with targets (H, W) (or batched), got "
            f"{tuple(panoptic_logits.shape)} and {tuple(targets.shape)}."
        )
    total = F.cross_entropy(panoptic_logits, targets.to(torch.int64), ignore_index=ignore_index, reduction="sum")
    return total / (targets != ignore_index).sum().clamp(min=1)


def upsnet_fusion(
    sem_logits: torch.Tensor,
    boxes: torch.Tensor,
    scores: torch.Tensor,
    labels: torch.Tensor,
    mask_logits: torch.Tensor,
    *,
    thing_ids: Sequence[int],
    stuff_ids: Sequence[int],
    with_unknown: bool = True,
    score_threshold: float = 0.5,
    stuff_area_limit: int = 0,
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Panoptic prediction of one image by the argmax over UPSNet's panoptic logits.

    Instances with a detection score below ``score_threshold`` are dropped first; the others
    keep their input index as ``instance_id``. Instances that win no pixel vanish; stuff
    classes with fewer than ``stuff_area_limit`` pixels become void. Returns
    ``(panoptic_seg (H, W) int32, segments_info)`` with thing ids in detection-score order.

    The argmax is taken without building ``Z``: the best stuff channel and the unknown channel
    over the image, the instance channels inside their boxes only (a loop over the instances
    whose cost follows the boxes' areas), compared in ``Z``'s channel order; the same result.
    """
    things, stuff = _check_upsnet(sem_logits, boxes, scores, labels, mask_logits, thing_ids, stuff_ids)
    kept = torch.nonzero(scores >= score_threshold).squeeze(1)  # one host sync
    scores_k, labels_k = scores[kept], labels[kept]
    sem = as_dense_logits(sem_logits)
    fused = _grouped_argmax(
        sem, boxes[kept], labels_k, mask_logits, kept, things=things, stuff=stuff, with_unknown=with_unknown
    )
    if fused is None:  # values at or below the outside-box logit, or NaN: the argmax over the whole Z
        z, inside = _panoptic_logits(
            sem, boxes[kept], labels_k, mask_logits[kept], things=things, stuff=stuff, with_unknown=with_unknown
        )
        fused = _dense_argmax(z, inside, len(stuff), kept.shape[0])
    instance_map, stuff_index = fused
    device = instance_map.device
    # Stuff pixels: one segment per class; small ones become void.
    s = len(stuff)
    if s:
        stuff_t = torch.as_tensor(stuff, dtype=torch.int64, device=device)
        stuff_map = torch.where(stuff_index >= 0, stuff_t[stuff_index.clamp(min=0)], -1)
        k = sem_logits.shape[0]
        area = torch.bincount((stuff_map + 1).reshape(-1), minlength=k + 1)[1:]
        stuff_map = torch.where((stuff_map >= 0) & (area >= stuff_area_limit)[stuff_map.clamp(min=0)], stuff_map, -1)
    else:
        stuff_map = torch.full_like(instance_map, -1)
    order = torch.argsort(scores_k, descending=True, stable=True)
    return assemble_panoptic(
        instance_map, stuff_map, sem_logits, scores=scores_k, labels=labels_k, order=order, source_index=kept
    )


def _dense_argmax(z, inside, s, n):
    """``(instance_map, stuff_index)`` (``(H, W)`` int64, -1 = none) from the argmax over the whole ``Z``."""
    winner = channel_argmax(z)  # (H, W): z.argmax(0)
    # Instance pixels: the winning channel is an instance's and the pixel is inside its box.
    inst = (winner - s).clamp(0, max(n - 1, 0))
    is_inst = (winner >= s) & (winner < s + n)
    if n:
        is_inst &= inside.gather(0, inst[None])[0]
    return torch.where(is_inst, inst, -1), torch.where(winner < s, winner, -1)


def _channels(sem: torch.Tensor, ids: list[int]) -> torch.Tensor:
    """``sem[ids]``: a view when the ids are an ascending run (COCO's things and stuff are), else a copy."""
    if ids and ids == list(range(ids[0], ids[0] + len(ids))):
        return sem[ids[0] : ids[0] + len(ids)]
    return sem.index_select(0, torch.as_tensor(ids, dtype=torch.int64, device=sem.device))


@torch.no_grad()  # indices only (its in-place maxima would refuse inputs that require grad)
def _grouped_argmax(sem, boxes, labels, mask_logits, kept, *, things, stuff, with_unknown):
    """The argmax over UPSNet's ``Z`` without building it: the best stuff channel, the best instance
    channel (each instance read only inside its box) and the unknown channel, compared in ``Z``'s
    channel order (the earlier group wins a tie, as argmax). Equal to :func:`_dense_argmax` when
    every instance value inside its box exceeds ``OUTSIDE_BOX_LOGIT`` and nothing is NaN; returns
    ``None`` otherwise (one host sync), so that the caller takes the dense argmax; also when the mask
    logits' dtype would promote the semantic one (Z holds the instance values rounded to it)."""
    if torch.result_type(mask_logits, sem) != sem.dtype:
        return None
    h, w = sem.shape[-2:]
    device = sem.device
    floor = torch.tensor(float("-inf"), device=device)
    if stuff:
        stuff_best, stuff_index = channel_max(_channels(sem, stuff))
    else:
        stuff_best, stuff_index = floor.expand(h, w), torch.full((h, w), -1, dtype=torch.int64, device=device)
    n = labels.shape[0]
    inst_best = torch.full((h, w), OUTSIDE_BOX_LOGIT, dtype=sem.dtype, device=device)
    inst_index = torch.zeros((h, w), dtype=torch.int64, device=device)
    lowest = [torch.tensor(float("inf"), device=device)]
    if n:  # box windows from box_masks' pixel-centre test, one axis at a time
        rows, cols = box_rows_and_columns(boxes, (h, w))
        spans = torch.stack([first_true(rows), last_true(rows) + 1, first_true(cols), last_true(cols) + 1], 1)
        for i, (src, label, (y0, y1, x0, x1)) in enumerate(zip(kept.tolist(), labels.tolist(), spans.tolist())):
            if y1 <= y0 or x1 <= x0:
                continue
            value = mask_logits[src, y0:y1, x0:x1] + sem[label, y0:y1, x0:x1]
            best = inst_best[y0:y1, x0:x1]
            better = value > best  # strict: the earlier instance keeps a tie
            inst_index[y0:y1, x0:x1].masked_fill_(better, i)
            torch.maximum(best, value, out=best)
            lowest.append(value.amin())
    if with_unknown:
        thing_max = _channels(sem, things).amax(0) if things else torch.full((h, w), OUTSIDE_BOX_LOGIT, device=device)
        unknown = thing_max - inst_best.clamp(min=0)  # where no box covers a pixel, its instance term is 0
    else:
        unknown = floor.expand(h, w)
    lowest = torch.stack(lowest).amin()
    if bool((lowest <= OUTSIDE_BOX_LOGIT) | lowest.isnan() | stuff_best.isnan().any() | unknown.isnan().any()):
        return None  # one host sync
    stuff_wins = (stuff_best >= inst_best if n else True) & (stuff_best >= unknown)
    if n:  # an instance channel wins only inside its box (elsewhere every instance holds the outside logit)
        inst_wins = ~stuff_wins & (inst_best >= unknown) & (inst_best > OUTSIDE_BOX_LOGIT)
    else:
        inst_wins = torch.zeros_like(stuff_wins)
    return torch.where(inst_wins, inst_index, -1), torch.where(stuff_wins, stuff_index, -1)


class UPSNetFuser(PanopticFuser):
    """UPSNet panoptic head as a fuser (no learned parameters); see :func:`upsnet_fusion`.

    Uses ``instances["mask_logits"]``; without it, the logits of ``instances["masks"]``
    (probabilities clamped to [1e-6, 1 - 1e-6]) stand in.
    """

    uses_mask_logits = True

    def __init__(self, *, with_unknown: bool = True, score_threshold: float = 0.5, stuff_area_limit: int = 0) -> None:
        super().__init__()
        self.with_unknown = with_unknown
        self.score_threshold = score_threshold
        self.stuff_area_limit = stuff_area_limit

    def fuse(self, sem_logits, instances, *, thing_ids, stuff_ids):
        mask_logits = instances.get("mask_logits")
        if mask_logits is None:
            mask_logits = torch.logit(instances["masks"].float(), eps=1e-6)
        return upsnet_fusion(
            sem_logits, instances["boxes"], instances["scores"], instances["labels"], mask_logits,
            thing_ids=thing_ids, stuff_ids=stuff_ids, with_unknown=self.with_unknown,
            score_threshold=self.score_threshold, stuff_area_limit=self.stuff_area_limit,
        )

    def extra_repr(self) -> str:
        return (
            f"with_unknown={self.with_unknown}, score_threshold={self.score_threshold}, "
            f"stuff_area_limit={self.stuff_area_limit}"
        )
