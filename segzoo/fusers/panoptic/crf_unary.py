"""The model's own per-segment probabilities as the panoptic dense CRF's unary (seed 002).

Seed 002 refines its UPSNet head's output with a dense CRF; the natural unary is the head's own
panoptic logits (Xiong et al., arXiv:1901.03784, Sec. 3.3): a stuff segment's channel is its
class's semantic logit, an instance's is its mask logit plus its class's semantic logit inside its
box (a finite "-inf" outside), void's is UPSNet's unknown channel (the strongest thing-class
semantic logit minus the strongest instance logit). :func:`segment_logits` arranges those channels
in ``segments_info`` order (void last, when the map has void pixels), for
``refine_panoptic(..., unary=logits, input="logits")``. It serves any fuser: heuristic and
spatial-ranking results are scored by the same parameter-free construction.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ...crf.panoptic import refine_panoptic
from .upsnet import upsnet_panoptic_logits

__all__ = ["segment_logits", "refine_panoptic_with_model", "UNARY_SOURCES"]

# where the CRF's unary comes from: the model's panoptic logits, or the labels at a fixed confidence
UNARY_SOURCES = ("model", "labels")


def segment_logits(
    sem_logits: torch.Tensor,
    instances: dict[str, torch.Tensor],
    segments_info: list[dict],
    panoptic_seg: torch.Tensor,
    *,
    thing_ids: Sequence[int],
    stuff_ids: Sequence[int],
    fill_void: bool = False,
) -> torch.Tensor:
    """``(L, H, W)`` logits, one channel per segment of ``segments_info`` (+ void, last, when
    ``panoptic_seg`` has void pixels and ``fill_void`` is False).

    Args:
        sem_logits: ``(K, H, W)`` semantic logits at the map's size.
        instances: the fuser's input (``boxes``, ``labels``, ``mask_logits`` pasted at image size);
            thing segments name theirs by ``instance_id``.
        segments_info, panoptic_seg: the fused prediction.
    """
    stuff = list(stuff_ids)
    things = [s for s in segments_info if s.get("isthing")]
    missing = [s["id"] for s in things if "instance_id" not in s]
    if missing:
        raise ValueError(f"thing segments {missing} have no 'instance_id' (index into the fuser's instances).")
    index = torch.as_tensor([int(s["instance_id"]) for s in things], dtype=torch.int64, device=sem_logits.device)
    mask_logits = instances.get("mask_logits")
    if mask_logits is None:
        mask_logits = torch.logit(instances["masks"].float(), eps=1e-6)
    z = upsnet_panoptic_logits(
        sem_logits.float(), instances["boxes"][index], instances["labels"][index], mask_logits[index].float(),
        thing_ids=thing_ids, stuff_ids=stuff_ids, with_unknown=True,
    )  # fmt: skip
    channel, next_thing = [], len(stuff)
    for s in segments_info:
        if s.get("isthing"):
            channel.append(next_thing)
            next_thing += 1
        else:
            channel.append(stuff.index(int(s["category_id"])))
    if bool((panoptic_seg == 0).any()) and not fill_void:
        channel.append(z.shape[0] - 1)  # unknown -> void
    return z.index_select(0, torch.as_tensor(channel, dtype=torch.int64, device=z.device))


def refine_panoptic_with_model(
    panoptic_seg: torch.Tensor,
    segments_info: list[dict],
    image: torch.Tensor,
    sem_logits: torch.Tensor,
    instances: dict[str, torch.Tensor],
    *,
    thing_ids: Sequence[int],
    stuff_ids: Sequence[int],
    unary_source: str = "model",
    **options,
) -> tuple[torch.Tensor, list[dict]]:
    """:func:`~segzoo.crf.refine_panoptic` with the unary of ``unary_source``: ``"model"`` (default,
    :func:`segment_logits` of the fuser's inputs) or ``"labels"`` (the fused labels at ``confidence``,
    pydensecrf's ``unary_from_labels``). ``options``: ``refine_panoptic``'s other keywords."""
    if unary_source not in UNARY_SOURCES:
        raise ValueError(f"unary_source must be one of {UNARY_SOURCES}, got {unary_source!r}.")
    if unary_source == "model":
        options.update(input="logits", unary=segment_logits(
            sem_logits, instances, segments_info, panoptic_seg, thing_ids=thing_ids, stuff_ids=stuff_ids,
            fill_void=options.get("fill_void", False)))  # fmt: skip
    return refine_panoptic(panoptic_seg, segments_info, image, **options)
