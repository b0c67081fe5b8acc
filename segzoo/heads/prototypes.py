"""Cross-layer attention fusion and prototype masks (seed 000).

Prototype masks after YOLACT (Bolya et al., arXiv:1904.02689) and BlendMask (Chen et al.,
arXiv:2001.00309); the cross-layer attention fusion is seed 000's ("Panoramic Image
Segmentation Using Attention Mechanism ..."). The seed describes the module in one
sentence; the reading implemented here:

1. cross-layer attention fusion: FPN levels P2..P5 upsampled to stride 4; a 1x1 conv on
   their concatenation predicts one score per level and pixel; softmax over levels gives
   per-pixel level weights; the fused map is the weighted sum of the levels;
2. protonet: 3x3 conv-ReLU x2 and a 1x1 conv to K prototypes (ReLU, as YOLACT);
3. semantic coefficients: from the globally pooled semantic features, a linear layer
   predicts a (num_classes x K) coefficient matrix (tanh); the semantic logits get
   ``coef @ prototypes`` added (a per-class prototype mixture);
4. instance coefficients: from each box's RoI features, two FC layers predict K
   coefficients (tanh); the instance's mask logits (Mask R-CNN, 28 x 28 in its box) get the
   box crop of ``sum_k c_k P_k`` added.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

__all__ = ["CrossLayerAttentionFusion", "PrototypeModule"]


class CrossLayerAttentionFusion(nn.Module):
    """Levels ``[(B, C, H_l, W_l)]`` -> ``(B, C, H_0, W_0)`` weighted per pixel by a softmax over levels."""

    def __init__(self, in_channels: int, *, num_levels: int = 4) -> None:
        super().__init__()
        self.num_levels = num_levels
        self.score = nn.Conv2d(in_channels * num_levels, num_levels, 1)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        ref = features[0]
        levels = [ref] + [
            F.interpolate(f, size=ref.shape[-2:], mode="bilinear", align_corners=False)
            for f in features[1 : self.num_levels]
        ]
        weights = torch.softmax(self.score(torch.cat(levels, dim=1)), dim=1)  # (B, L, H, W)
        fused = (torch.stack(levels, dim=1) * weights.unsqueeze(2)).sum(dim=1)
        return fused, weights


class PrototypeModule(nn.Module):
    """Prototypes from the fused FPN levels and the coefficient heads of both branches."""

    def __init__(
        self,
        in_channels: int,
        *,
        num_classes: int,
        semantic_channels: int,
        num_prototypes: int = 16,
        channels: int = 128,
        num_levels: int = 4,
        roi_size: int = 7,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_prototypes = num_prototypes
        self.fusion = CrossLayerAttentionFusion(in_channels, num_levels=num_levels)
        self.protonet = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, num_prototypes, 1),
            nn.ReLU(inplace=True),
        )
        self.semantic_coefficients = nn.Linear(semantic_channels, num_classes * num_prototypes)
        self.instance_coefficients = nn.Sequential(
            nn.Flatten(), nn.Linear(in_channels * roi_size * roi_size, 256), nn.ReLU(inplace=True), nn.Linear(256, num_prototypes)
        )
        # Start with no refinement: both branches predict as without prototypes.
        for layer in (self.semantic_coefficients, self.instance_coefficients[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def prototypes(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, K, H/4, W/4)`` prototypes and the ``(B, L, H/4, W/4)`` level weights."""
        fused, weights = self.fusion(features)
        return self.protonet(fused), weights

    def refine_semantic(self, sem_logits: torch.Tensor, sem_features: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        """Semantic logits (stride 4) + per-class prototype mixtures."""
        b = sem_logits.shape[0]
        coef = torch.tanh(self.semantic_coefficients(sem_features.mean(dim=(2, 3))))  # (B, K_cls * K)
        coef = coef.view(b, self.num_classes, self.num_prototypes)
        mix = torch.einsum("bck,bkhw->bchw", coef, protos)
        if mix.shape[-2:] != sem_logits.shape[-2:]:
            mix = F.interpolate(mix, size=sem_logits.shape[-2:], mode="bilinear", align_corners=False)
        return sem_logits + mix

    def instance_masks(
        self, roi_features: torch.Tensor, boxes: list[torch.Tensor], protos: torch.Tensor, *, size: int, stride: int = 4
    ) -> torch.Tensor:
        """``(N, size, size)`` prototype mask logits of the boxes (image coordinates), one per RoI feature."""
        coef = torch.tanh(self.instance_coefficients(roi_features))  # (N, K)
        if coef.shape[0] == 0:
            return coef.new_zeros(0, size, size)
        crops = roi_align(protos, boxes, output_size=size, spatial_scale=1.0 / stride, sampling_ratio=2, aligned=True)
        return (coef[:, :, None, None] * crops).sum(dim=1)
