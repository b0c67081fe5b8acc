"""An exportable graph of a panoptic model's inference path: image in, tensors out.

The eval path of :class:`segzoo.models.panoptic.PanopticModel` (Panoptic FPN, Kirillov et al.,
arXiv:1901.02446, on torchvision's Mask R-CNN parts, He et al., arXiv:1703.06870) runs Python
code that export can't follow: lists of per-image results, branches on the number of
detections, per-box loops, level scales inferred from shapes. :class:`PanopticExportModule`
runs the same computation, with the model's own weights and submodules, written for one
image with tensor operations only:

- RPN: per-level top-k (``k = min(pre_nms_top_n, anchors in the level)`` as a symbolic min),
  clipping, small-box and score filters as one mask, per-level NMS by the coordinate trick
  (what ``torchvision.ops.batched_nms`` does for up to 1000 boxes on CPU);
- multi-scale RoI align: every box is pooled on every FPN level and the box's level
  (the FPN paper's ``floor(4 + log2(sqrt(area) / 224))``, clamped) is selected, instead of
  gathering the boxes of each level (data-dependent shapes); the level scales are the FPN
  strides (torchvision infers them from the unpadded image size, which gives the same
  scales for images at least 76 px high);
- box head post-processing (softmax, class-specific boxes, score threshold, per-class NMS,
  ``detections_per_img``), Cascade R-CNN's stage refinement and score averaging up to the
  heads' ``detection_stage`` (Cai & Vasconcelos, arXiv:1906.09756), the mask head, seed 000's prototype refinement and
  OANet's spatial ranking (arXiv:1903.05027, with a vectorised mask paste).

Outputs (``PANOPTIC_OUTPUTS``), for an input ``(1, C, H, W)`` of normalised pixels:
``sem_logits (1, K, H, W)``, ``boxes (N, 4)`` xyxy pixels, ``scores (N,)``, ``labels (N,)``
int64 train ids, ``mask_logits (N, 28, 28)`` in each box, ``rank_scores (N,)`` (OANet's
ranking scores; the detection scores for models without a ranking module). The panoptic
fusion runs on them in plain Python: :func:`segzoo.export.fuse_panoptic`.

With ``outputs="network"`` the graph stops where ``PanopticModel.forward`` does
(``NETWORK_OUTPUTS``): the semantic logits stay at stride 4 over the padded image, and the
ranking scores are left to the model's post-processing. ``segzoo.optimize(model,
backend="onnxruntime")`` runs that graph and hands it to the model's own ``postprocess``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import nms, roi_align

from ..models.panoptic.cascade import CascadeRoIHeads
from ..models.panoptic.detector import SemanticInfusedRoIPool, pyramid_dict

__all__ = ["PanopticExportModule", "PANOPTIC_OUTPUTS", "NETWORK_OUTPUTS", "OUTPUT_SETS", "eager_panoptic_outputs", "paste_mask_logits"]

PANOPTIC_OUTPUTS = ("sem_logits", "boxes", "scores", "labels", "mask_logits", "rank_scores")
NETWORK_OUTPUTS = ("sem_logits_stride4", "boxes", "scores", "labels", "mask_logits")
OUTPUT_SETS = {"panoptic": PANOPTIC_OUTPUTS, "network": NETWORK_OUTPUTS}


def _sym_min(a, b):
    """``min`` of two sizes without a Python branch (int, SymInt, or a traced 0-dim tensor)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return torch.minimum(torch.as_tensor(a), torch.as_tensor(b))
    return torch.sym_min(a, b)


def _clip(boxes: torch.Tensor, h, w) -> torch.Tensor:
    """``torchvision.ops.clip_boxes_to_image`` for ``(..., 4)`` boxes and a (symbolic) size."""
    x = boxes[..., 0::2].clamp(min=0, max=w)
    y = boxes[..., 1::2].clamp(min=0, max=h)
    return torch.stack((x, y), dim=-1).reshape(boxes.shape)


def _batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou: float) -> torch.Tensor:
    """``torchvision.ops.batched_nms`` by the coordinate trick, also for zero boxes (no branch)."""
    top = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    shifted = boxes + (groups.to(boxes) * (top + 1))[:, None]
    return nms(shifted, scores, iou)


def _decode(coder, codes: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``BoxCoder.decode`` for one image: ``(N, 4 * C)`` codes -> ``(N, C, 4)`` boxes."""
    return coder.decode_single(codes, reference).reshape(codes.shape[0], -1, 4)


def _anchors(generator, padded: torch.Tensor, levels: list[torch.Tensor]) -> list[torch.Tensor]:
    """``AnchorGenerator`` for one image, per level, same anchors in the same (y, x, anchor) order:
    the grid shifts (stride = padded size // grid size) plus the cell anchors. Built by
    broadcasting, not ``meshgrid`` + ``reshape``, whose view-or-copy decision on a level one
    cell wide would freeze that size in the exported graph."""
    generator.set_cell_anchors(levels[0].dtype, levels[0].device)
    out = []
    for level, cell in zip(levels, generator.cell_anchors):
        gh, gw = level.shape[-2], level.shape[-1]
        xs = torch.arange(gw, dtype=torch.int64, device=level.device) * (padded.shape[-1] // gw)  # (gw,)
        ys = torch.arange(gh, dtype=torch.int64, device=level.device) * (padded.shape[-2] // gh)  # (gh,)
        zero = torch.zeros(gh, gw, dtype=torch.int64, device=level.device)
        x, y = xs[None, :] + zero, ys[:, None] + zero  # (gh, gw), contiguous
        shifts = torch.stack((x, y, x, y), dim=-1).reshape(-1, 1, 4)  # (gh * gw, 1, 4)
        out.append((shifts + cell.reshape(1, -1, 4)).reshape(-1, 4))
    return out


def _per_location(maps: torch.Tensor, channels: int) -> torch.Tensor:
    """``(1, A * c, H, W)`` head output -> ``(H * W * A, c)`` in (y, x, anchor) order, as torchvision's
    ``permute_and_flatten``; by an index gather rather than ``permute`` + ``reshape`` (whose
    view-or-copy decision freezes 1-wide levels in export)."""
    hw = maps.shape[-2] * maps.shape[-1]
    per_anchor = maps.shape[1]  # A * c
    pos = torch.arange(hw, device=maps.device)[:, None]  # (HW, 1)
    chan = torch.arange(per_anchor, device=maps.device)[None, :]  # (1, A * c)
    index = (pos + chan * hw).reshape(-1)  # (HW * A * c,): location-major, then anchor, then c
    return maps.reshape(-1).index_select(0, index).reshape(-1, channels)


def _rois(boxes: torch.Tensor) -> torch.Tensor:
    """``(N, 4)`` boxes of image 0 -> ``(N, 5)`` RoIs (batch index first)."""
    return torch.cat([boxes.new_zeros(boxes.shape[0], 1), boxes], dim=1)


class _LevelRoIAlign(nn.Module):
    """``MultiScaleRoIAlign`` (or segzoo's ``LevelRoIAlign``) over fixed FPN strides, without data-dependent shapes."""

    def __init__(self, pool: nn.Module, strides: list[int]) -> None:
        super().__init__()
        self.names = list(pool.featmap_names)
        self.strides = [int(s) for s in strides[: len(self.names)]]
        self.output_size = tuple(pool.output_size)
        self.sampling_ratio = int(pool.sampling_ratio)
        self.aligned = bool(getattr(pool, "aligned", False))  # segzoo's LevelRoIAlign (ROIAlignV2) sets it
        self.canonical_scale = float(pool.canonical_scale)
        self.canonical_level = float(pool.canonical_level)
        self.k_min = self.strides[0].bit_length() - 1
        self.k_max = self.strides[-1].bit_length() - 1

    def forward(self, features: dict[str, torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        rois = _rois(boxes)
        pooled = torch.stack([
            roi_align(features[name], rois, self.output_size, 1.0 / stride, self.sampling_ratio, self.aligned)
            for name, stride in zip(self.names, self.strides)
        ])  # fmt: skip  (L, N, C, S, S)
        # torchvision's LevelMapper (FPN paper, Eqn. 1), same operations.
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        eps = torch.tensor(1e-6, dtype=area.dtype, device=area.device)
        level = torch.floor(self.canonical_level + torch.log2(torch.sqrt(area) / self.canonical_scale) + eps)
        level = (level.clamp(min=self.k_min, max=self.k_max).to(torch.int64) - self.k_min)
        return pooled[level, torch.arange(boxes.shape[0], device=boxes.device)]


class _RoIPool(nn.Module):
    """A box or mask RoI pool: multi-level, plus seed 000's semantic features when the model has them."""

    def __init__(self, pool: nn.Module, strides: list[int]) -> None:
        super().__init__()
        self.semantic = pool if isinstance(pool, SemanticInfusedRoIPool) else None
        self.levels = _LevelRoIAlign(pool.pool if self.semantic is not None else pool, strides)

    def forward(self, features: dict[str, torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        pooled = self.levels(features, boxes)
        if self.semantic is None:
            return pooled
        semantic = roi_align(
            features["semantic"], _rois(boxes), self.levels.output_size, 1.0 / self.semantic.semantic_stride, 2, True
        )
        return pooled + self.semantic.project(semantic)


def _interp_matrix(start: torch.Tensor, end: torch.Tensor, length, size: int) -> torch.Tensor:
    """``(N, length, size)`` weights of a bilinear resize (align_corners=False) of ``size`` samples
    onto pixels ``start..end`` (inclusive) of a line of ``length`` pixels; 0 outside."""
    pos = torch.arange(length, device=start.device)[None]  # (1, L)
    extent = (end - start + 1).clamp(min=1).to(torch.float32)[:, None]  # (N, 1)
    offset = (pos - start[:, None]).to(torch.float32)  # (N, L) index inside the resized mask
    src = ((offset + 0.5) * (size / extent) - 0.5).clamp(min=0)  # PyTorch's source index
    i0 = src.floor().clamp(max=size - 1)
    lam = src - i0
    i1 = (i0 + 1).clamp(max=size - 1)
    grid = torch.arange(size, device=start.device, dtype=torch.float32)  # (S,)
    weights = (grid == i0[..., None]) * (1 - lam)[..., None] + (grid == i1[..., None]) * lam[..., None]
    inside = (pos >= start[:, None]) & (pos <= end[:, None])
    return weights * inside[..., None]


def _antialias_matrix(n_in, n_out, like: torch.Tensor) -> torch.Tensor:
    """``(n_out, n_in)`` weights of PyTorch's antialiased bilinear downsampling (``n_in >= n_out``):
    output ``i`` averages inputs ``j`` with the triangle filter ``max(0, 1 - |j + 0.5 - c| / s)``,
    ``c = s * (i + 0.5)``, ``s = n_in / n_out``, normalised. ONNX Runtime's antialiased resize
    differs from PyTorch's by up to ~1e-3 at non-integer ratios; a matrix gives the same numbers."""
    scale = n_in / n_out
    i = torch.arange(n_out, device=like.device, dtype=torch.float32)[:, None]
    j = torch.arange(n_in, device=like.device, dtype=torch.float32)[None, :]
    weights = (1 - ((j + 0.5 - scale * (i + 0.5)) / scale).abs()).clamp(min=0)
    return weights / weights.sum(dim=1, keepdim=True)


def paste_mask_logits(mask_logits: torch.Tensor, boxes: torch.Tensor, h, w) -> torch.Tensor:
    """``(N, M, M)`` box mask logits -> ``(N, h, w)`` image logits, 0 outside each box.

    The numbers of ``torchvision.models.detection.roi_heads.paste_masks_in_image`` (1-pixel zero
    padding, boxes scaled by ``(M + 2) / M`` and truncated to integers, bilinear resize into
    the box) as two batched matrix products, with no per-box loop.
    """
    m = mask_logits.shape[-1]
    padded = F.pad(mask_logits, (1, 1, 1, 1))  # (N, M + 2, M + 2)
    scale = (m + 2) / m
    half_w = (boxes[:, 2] - boxes[:, 0]) * 0.5 * scale
    half_h = (boxes[:, 3] - boxes[:, 1]) * 0.5 * scale
    cx = (boxes[:, 2] + boxes[:, 0]) * 0.5
    cy = (boxes[:, 3] + boxes[:, 1]) * 0.5
    x0, x1 = (cx - half_w).to(torch.int64), (cx + half_w).to(torch.int64)
    y0, y1 = (cy - half_h).to(torch.int64), (cy + half_h).to(torch.int64)
    rows = _interp_matrix(y0, y1, h, m + 2)  # (N, h, M + 2)
    cols = _interp_matrix(x0, x1, w, m + 2)  # (N, w, M + 2)
    return rows @ padded @ cols.transpose(1, 2)


class PanopticExportModule(nn.Module):
    """A panoptic model's eval path as one exportable graph (see the module docstring).

    ``forward(image (1, C, H, W))`` returns the tensors of ``PANOPTIC_OUTPUTS`` in that order
    (``outputs="panoptic"``), or of ``NETWORK_OUTPUTS`` (``outputs="network"``: what
    ``PanopticModel.forward`` computes, before its post-processing). The wrapped model's weights
    are shared, not copied; it is put in eval mode.
    """

    def __init__(self, model: nn.Module, *, outputs: str = "panoptic") -> None:
        super().__init__()
        if outputs not in OUTPUT_SETS:
            raise ValueError(f"outputs must be one of {tuple(OUTPUT_SETS)}, got {outputs!r}.")
        self.output_names = OUTPUT_SETS[outputs]
        if getattr(model, "mask_paste", "resize") != "resize":
            raise ValueError(
                f"The exported graph pastes masks torchvision's way; this model uses mask_paste={model.mask_paste!r} "
                "(Detectron2's), so its exported panoptic output would differ from predict's. Export a model built "
                "with mask_paste='resize', or run it eagerly (model.predict)."
            )
        self.model = model.eval()
        heads = model.roi_heads
        strides = [f.stride for f in model.neck.feature_info]
        if isinstance(heads, CascadeRoIHeads):  # up to the stage whose boxes are the detections (seed 002: the middle)
            self.stages = list(heads.stages)[: heads.detection_stage + 1]
        elif isinstance(heads, RoIHeads):
            self.stages = [heads]
        else:
            raise TypeError(f"Can't export RoI heads of type {type(heads).__name__} (expected RoIHeads or CascadeRoIHeads).")
        self.box_pool = _RoIPool(heads.box_roi_pool, strides)
        self.mask_pool = _RoIPool(heads.mask_roi_pool, strides)
        self.size_divisor = int(model.size_divisor)
        self.num_things = len(model.thing_ids)

    # ---- RPN -------------------------------------------------------------------------------------

    def _proposals(self, padded: torch.Tensor, levels: list[torch.Tensor], h, w) -> torch.Tensor:
        rpn = self.model.rpn
        objectness, deltas = rpn.head(levels)
        anchors = _anchors(rpn.anchor_generator, padded, levels)
        boxes, scores, level_ids = [], [], []
        for i, (logits, codes, cells) in enumerate(zip(objectness, deltas, anchors)):
            logits = _per_location(logits, 1).reshape(-1)  # (n,)
            # Per level: the top pre_nms_top_n objectness scores (torchvision's _get_top_n_idx).
            top_logits, idx = logits.topk(_sym_min(rpn._pre_nms_top_n["testing"], logits.shape[0]))
            codes = _per_location(codes, 4).index_select(0, idx)
            boxes.append(rpn.box_coder.decode_single(codes.detach(), cells.index_select(0, idx)))
            scores.append(top_logits)
            level_ids.append(torch.full_like(idx, i))
        boxes = _clip(torch.cat(boxes), h, w)
        scores, level_ids = torch.sigmoid(torch.cat(scores)), torch.cat(level_ids)
        size_w, size_h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        keep = (size_w >= rpn.min_size) & (size_h >= rpn.min_size) & (scores >= rpn.score_thresh)
        keep = torch.where(keep)[0]
        boxes, scores, level_ids = boxes[keep], scores[keep], level_ids[keep]
        keep = _batched_nms(boxes, scores, level_ids, rpn.nms_thresh)[: rpn._post_nms_top_n["testing"]]
        return boxes[keep]

    # ---- RoI heads -------------------------------------------------------------------------------

    def _box_stage(self, stage: RoIHeads, features, proposals):
        return stage.box_predictor(stage.box_head(self.box_pool(features, proposals)))

    def _detections(self, features, proposals: torch.Tensor, h, w):
        probs = []
        for t, stage in enumerate(self.stages):
            class_logits, regression = self._box_stage(stage, features, proposals)
            if len(self.stages) > 1:  # Cascade: refine by the predicted class, average the scores
                probs.append(F.softmax(class_logits, dim=-1))
                if t + 1 < len(self.stages):
                    predicted = class_logits[:, 1:].argmax(dim=1) + 1
                    decoded = _decode(stage.box_coder, regression.detach(), proposals)
                    proposals = _clip(decoded[torch.arange(decoded.shape[0], device=decoded.device), predicted], h, w)
        if len(self.stages) > 1:
            class_logits = torch.stack(probs).mean(0).clamp_min(1e-12).log()
        last = self.stages[-1]
        num_classes = class_logits.shape[-1]
        boxes = _clip(_decode(last.box_coder, regression, proposals), h, w)[:, 1:].reshape(-1, 4)
        scores = F.softmax(class_logits, -1)[:, 1:].reshape(-1)
        labels = torch.arange(1, num_classes, device=scores.device).repeat(class_logits.shape[0])
        size_w, size_h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        # torchvision filters scores first, then small boxes: the same set.
        keep = torch.where((scores > last.score_thresh) & (size_w >= 1e-2) & (size_h >= 1e-2))[0]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = _batched_nms(boxes, scores, labels, last.nms_thresh)[: last.detections_per_img]
        return boxes[keep], scores[keep], labels[keep]

    def _mask_logits(self, features, boxes, labels, protos) -> torch.Tensor:
        heads, model = self.model.roi_heads, self.model
        logits = heads.mask_predictor(heads.mask_head(self.mask_pool(features, boxes)))  # (N, T + 1, M, M)
        probs = torch.sigmoid(logits[torch.arange(labels.shape[0], device=labels.device), labels])
        mask_logits = torch.logit(probs.clamp(1e-6, 1 - 1e-6))  # as PanopticModel.forward
        if model.prototypes is not None:
            coef = torch.tanh(model.prototypes.instance_coefficients(self.box_pool(features, boxes)))  # (N, P)
            size = int(mask_logits.shape[-1])  # static (28); int() for torch.jit.trace
            crops = roi_align(protos, _rois(boxes), size, 0.25, 2, True)  # (N, P, M, M)
            mask_logits = mask_logits + (coef[:, :, None, None] * crops).sum(dim=1)
        return mask_logits

    def _rank_scores(self, mask_logits, boxes, channels, h, w) -> torch.Tensor:
        """OANet ranking scores, as ``PanopticModel.instances`` computes them."""
        pasted = paste_mask_logits(mask_logits, boxes, h, w)  # (N, H, W)
        inside = paste_mask_logits(torch.ones_like(mask_logits), boxes, h, w) > 0.5
        masks = torch.sigmoid(pasted) * inside
        binary = (masks > 0.5).to(masks.dtype)  # the ranking module takes the binary masks (OANet)
        category = masks.new_zeros(self.num_things, masks.shape[1], masks.shape[2])
        index = channels[:, None, None].expand(-1, masks.shape[1], masks.shape[2])
        category = category.scatter_reduce(0, index, binary, reduce="amax")  # (T, H, W)
        # Antialiased bilinear resize to stride 4, as masks_to_category_channels(..., size=small) does.
        rows = _antialias_matrix(h, -(-h // 4), masks)  # (h / 4, H)
        cols = _antialias_matrix(w, -(-w // 4), masks)  # (w / 4, W)
        category = rows @ category @ cols.transpose(0, 1)  # (T, h / 4, w / 4)
        ranking = self.model.ranking(category[None])
        ranking = F.interpolate(ranking, size=(h, w), mode="bilinear", align_corners=False)[0]
        prob = torch.sigmoid(ranking).index_select(0, channels)  # (N, H, W)
        return (prob * binary).flatten(1).sum(1) / binary.flatten(1).sum(1).clamp(min=1)

    # ---- the graph -------------------------------------------------------------------------------

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        model = self.model
        h, w = image.shape[-2], image.shape[-1]
        d = self.size_divisor
        padded = F.pad(image, (0, (-w) % d, 0, (-h) % d))  # as batch_images: bottom/right zeros
        pyramid = model.neck(model.backbone(padded))
        sem_logits, sem_features = model.semantic_head(pyramid[:4])
        protos = None
        if model.prototypes is not None:
            protos, _ = model.prototypes.prototypes(pyramid[:4])
            sem_logits = model.prototypes.refine_semantic(sem_logits, sem_features, protos)
        features = dict(pyramid_dict(pyramid))
        if model.info_sharing:
            features["semantic"] = sem_features
        proposals = self._proposals(padded, pyramid, h, w)
        boxes, scores, classes = self._detections(features, proposals, h, w)
        mask_logits = self._mask_logits(features, boxes, classes, protos)
        labels = model.train_id_of_class[classes]
        if self.output_names is NETWORK_OUTPUTS:
            return sem_logits, boxes, scores, labels, mask_logits
        if model.ranking is not None:
            rank_scores = self._rank_scores(mask_logits, boxes, classes - 1, h, w)
        else:
            rank_scores = scores
        sem = F.interpolate(sem_logits, size=padded.shape[-2:], mode="bilinear", align_corners=False)[..., :h, :w]
        return sem, boxes, scores, labels, mask_logits, rank_scores


@torch.no_grad()
def eager_panoptic_outputs(model: nn.Module, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The ``PANOPTIC_OUTPUTS`` of one normalised image ``(1, C, H, W)`` computed by the model's own
    eager path (``PanopticModel.forward`` and ``instances``), for comparisons with an export."""
    was_training = model.training
    model.eval()
    try:
        raw = model(image)
        det = raw.detections[0]
        h, w = raw.image_sizes[0]
        d = model.size_divisor
        padded = (-(-image.shape[-2] // d) * d, -(-image.shape[-1] // d) * d)
        sem = F.interpolate(raw.sem_logits, size=padded, mode="bilinear", align_corners=False)[..., :h, :w]
        rank = model.instances(det, (h, w)).get("rank_scores", det["scores"])
    finally:
        model.train(was_training)
    return sem, det["boxes"], det["scores"], det["labels"], det["mask_logits"], rank
