"""The panoptic-fuser interface shared by the heuristic (Kirillov et al., "Panoptic
Segmentation", arXiv:1801.00868), spatial-ranking (Liu et al., OANet, arXiv:1903.05027) and
UPSNet (Xiong et al., arXiv:1901.03784) fusers.

Every fuser is called the same way, so a model can swap them by name on the same outputs::

    panoptic_seg, segments_info = fuser(sem_logits, instances, thing_ids=..., stuff_ids=...)

with, for one image, ``sem_logits (K, H, W)`` and ``instances`` a dict of ``boxes (N, 4)``
xyxy pixels, ``scores (N,)``, ``labels (N,)`` global train ids (each in ``thing_ids``),
``masks (N, H, W)`` pasted mask probabilities, and optionally ``mask_logits (N, H, W)``
(UPSNet) and ``rank_scores (N,)`` (spatial ranking).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

__all__ = ["PanopticFuser", "INSTANCE_KEYS"]

INSTANCE_KEYS = ("boxes", "scores", "labels", "masks")


class PanopticFuser(nn.Module):
    """Base class: checks the ``instances`` dict, then calls ``fuse``. No learned parameters.

    Subclasses list the extra instance keys they need in ``required_keys`` (and say how to get
    them in ``key_hint``).
    """

    required_keys: tuple[str, ...] = ()
    # True when ``fuse`` reads ``instances["mask_logits"]`` (N, H, W): PanopticModel.postprocess
    # pastes the full-image logits only for such fusers (and for the CRF)
    uses_mask_logits: bool = False
    key_hint: str = ""  # how to provide the extra keys, appended to the error

    def forward(
        self,
        sem_logits: torch.Tensor,
        instances: Mapping[str, torch.Tensor],
        *,
        thing_ids: Sequence[int],
        stuff_ids: Sequence[int],
    ) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        if not isinstance(instances, Mapping):
            raise TypeError(
                f"instances must be a dict with keys {', '.join(INSTANCE_KEYS)}, got {type(instances).__name__}."
            )
        missing = [k for k in (*INSTANCE_KEYS, *self.required_keys) if k not in instances]
        if missing:
            raise ValueError(
                f"{type(self).__name__} needs instances[{', '.join(repr(k) for k in missing)}]; "
                f"got keys {sorted(instances)}. Expected boxes (N, 4), scores (N,), labels (N,), masks (N, H, W)"
                + (f" and {', '.join(self.required_keys)}" if self.required_keys else "")
                + "."
                + self.key_hint
            )
        return self.fuse(sem_logits, instances, thing_ids=thing_ids, stuff_ids=stuff_ids)

    def fuse(
        self,
        sem_logits: torch.Tensor,
        instances: Mapping[str, torch.Tensor],
        *,
        thing_ids: Sequence[int],
        stuff_ids: Sequence[int],
    ) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        raise NotImplementedError
