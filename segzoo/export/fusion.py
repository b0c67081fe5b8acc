"""Panoptic fusion after an exported panoptic graph (no model, no training code).

The exported graph (:class:`segzoo.export.panoptic.PanopticExportModule`) ends in tensors;
this is the step ``PanopticModel.predict`` runs after them: paste each box's 28 x 28 mask
logits into the image (torchvision's ``paste_masks_in_image``, as the model does), then one
of the panoptic fusers, which are pure tensor functions: heuristic (Kirillov et al.,
arXiv:1801.00868), spatial ranking (OANet, arXiv:1903.05027) or UPSNet (arXiv:1901.03784).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from ..fusers.panoptic import create_panoptic_fuser
from ..models.panoptic.mask_paste import paste_logits_and_probs
from .panoptic import PANOPTIC_OUTPUTS

__all__ = ["fuse_panoptic", "panoptic_instances"]


def panoptic_instances(outputs: Sequence[Any] | Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Exported outputs of one image -> ``(sem_logits (K, H, W), instances)`` as the fusers take them."""
    if isinstance(outputs, Mapping):
        outputs = [outputs[name] for name in PANOPTIC_OUTPUTS]
    sem, boxes, scores, labels, mask_logits, rank_scores = (torch.as_tensor(o) for o in outputs)
    h, w = sem.shape[-2:]
    logits = mask_logits[:, None]  # (N, 1, 28, 28)
    pasted, masks = paste_logits_and_probs(logits[:, 0], boxes, (h, w))  # (N, H, W), 0 outside the box
    instances = {
        "boxes": boxes, "scores": scores, "labels": labels, "masks": masks,
        "mask_logits": pasted, "rank_scores": rank_scores,
    }  # fmt: skip
    return sem[0], instances


def fuse_panoptic(
    outputs: Sequence[Any] | Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
    *,
    thing_ids: Sequence[int] | None = None,
    stuff_ids: Sequence[int] | None = None,
    fuser: str | torch.nn.Module | None = None,
    image: torch.Tensor | None = None,
    crf: bool | Mapping[str, Any] | None = None,
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Panoptic prediction ``(panoptic_seg (H, W) int32, segments_info)`` from an exported
    panoptic model's outputs for one image (tensors or numpy arrays, in ``PANOPTIC_OUTPUTS``
    order or by name).

    ``thing_ids``, ``stuff_ids`` and ``fuser`` default to what the artefact's ``metadata``
    recorded (the model's fuser with its options); pass a fuser name or module to swap it.
    With ``image`` (the (3, H, W) RGB input, uint8 or floats in 0-1, *not* normalised) the dense
    CRF the model's ``predict`` runs (``metadata["crf"]``, or ``crf``: ``True``/a dict of
    ``refine_panoptic`` options/``False``) refines the segments as ``predict`` does.
    """
    meta = dict(metadata or {})
    thing_ids = meta.get("thing_ids") if thing_ids is None else thing_ids
    stuff_ids = meta.get("stuff_ids") if stuff_ids is None else stuff_ids
    if thing_ids is None or stuff_ids is None:
        raise ValueError("Pass thing_ids and stuff_ids, or the artefact's metadata (load_exported(path).metadata).")
    if fuser is None:
        spec = meta.get("fuser") or {"name": "heuristic", "options": {}}
        fuser = create_panoptic_fuser(spec["name"], **spec.get("options", {}))
    elif isinstance(fuser, str):
        fuser = create_panoptic_fuser(fuser)
    sem, instances = panoptic_instances(outputs)
    panoptic_seg, segments_info = fuser(sem, instances, thing_ids=thing_ids, stuff_ids=stuff_ids)
    crf = meta.get("crf") if crf is None else crf
    if image is not None and crf not in (None, False):
        from ..fusers.panoptic.crf_unary import refine_panoptic_with_model

        options = {} if crf is True else dict(crf)
        image = torch.as_tensor(image)  # uint8, or floats in 0-1 / 0-255 (dense_crf's convention)
        panoptic_seg, segments_info = refine_panoptic_with_model(
            panoptic_seg, segments_info, image.to(panoptic_seg.device), sem, instances, thing_ids=thing_ids,
            stuff_ids=stuff_ids, **options,
        )  # fmt: skip
    return panoptic_seg, segments_info
