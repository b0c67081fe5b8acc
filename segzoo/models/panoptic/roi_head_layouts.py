"""The RoI box and mask heads of the detector, in Mask R-CNN's layout or the improved one.

- ``"2fc"`` box head, plain mask convs: Mask R-CNN (He et al., arXiv:1703.06870) as torchvision's
  ``maskrcnn_resnet50_fpn`` builds it: two fully connected layers (``TwoMLPHead``) and four 3x3
  convs with bias in the mask head.
- ``"4conv1fc"`` box head with normalised convs: the improved Mask R-CNN of Li et al.,
  "Benchmarking Detection Transfer Learning with Vision Transformers", arXiv:2111.11429, as
  torchvision's ``maskrcnn_resnet50_fpn_v2`` builds it: four 3x3 convs (FPN width) + BatchNorm +
  ReLU, then one fully connected layer (``FastRCNNConvFCHead``; the "4conv1fc" head of Wu & He,
  "Group Normalization", arXiv:1803.08494), and BatchNorm after each of the mask head's convs.
  (The same layout also has BatchNorm in the FPN and two convs in the RPN head: see
  :class:`~segzoo.necks.FPN` ``norm`` and :func:`~segzoo.models.panoptic.detector.build_rpn` ``conv_depth``.)

The modules are torchvision's, so the state-dict keys are those of torchvision's files.
"""

from __future__ import annotations

import functools
from typing import Callable

from torch import nn
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads

from ...layers import make_norm

__all__ = ["BOX_HEADS", "HEAD_NORMS", "build_box_head", "build_mask_head", "head_norm_layer"]

BOX_HEADS = ("2fc", "4conv1fc")
HEAD_NORMS = (None, "bn", "syncbn", "gn")  # the names segzoo.layers.make_norm knows


def head_norm_layer(norm: str | None) -> Callable[[int], nn.Module] | None:
    """torchvision's ``norm_layer`` for a norm name: ``None`` keeps convs with bias and no norm
    (torchvision's convention), otherwise channels -> :func:`segzoo.layers.make_norm` ``(norm, channels)``."""
    if norm not in HEAD_NORMS:
        raise ValueError(f"Unknown head norm {norm!r}; use one of {HEAD_NORMS}.")
    return None if norm is None else functools.partial(make_norm, norm)


def build_box_head(
    kind: str = "2fc", *, in_channels: int, channels: int, norm: str | None = None, resolution: int = 7
) -> nn.Module:
    """The box head: ``(N, in_channels, resolution, resolution)`` RoI features -> ``(N, channels)``.

    ``kind`` is ``"2fc"`` (two FC layers of ``channels``; ``norm`` is unused, there is no conv) or
    ``"4conv1fc"`` (four 3x3 convs of ``in_channels`` with ``norm``, then one FC of ``channels``).
    """
    if kind == "2fc":
        return TwoMLPHead(in_channels * resolution * resolution, channels)
    if kind == "4conv1fc":
        return FastRCNNConvFCHead(
            (in_channels, resolution, resolution), [in_channels] * 4, [channels], norm_layer=head_norm_layer(norm)
        )
    raise ValueError(f"Unknown box head {kind!r}; use one of {BOX_HEADS}.")


def build_mask_head(*, in_channels: int, channels: int, norm: str | None = None) -> MaskRCNNHeads:
    """The mask head: four 3x3 convs of ``channels`` + ReLU, with ``norm`` after each conv when given."""
    return MaskRCNNHeads(in_channels, (channels,) * 4, 1, norm_layer=head_norm_layer(norm))
