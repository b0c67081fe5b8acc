"""The panoptic segmentation model: backbone -> FPN -> semantic branch + instance branch -> fuser.

Panoptic FPN (Kirillov et al., arXiv:1901.02446) is the frame; the optional parts are those
of the seeds: seed 000's information flow into the mask head, cross-layer attention fusion
with prototype masks, OANet's spatial ranking module (arXiv:1903.05027) and Kendall's
uncertainty weighting (arXiv:1705.07115); seed 002's Cascade heads, deformable convs and
UPSNet's panoptic head (arXiv:1901.03784). The panoptic fuser is swappable by name.

``model(images)`` returns :class:`PanopticRawOutput` in both modes; in training mode
``model(images, targets)`` adds the detector's losses (the RPN and RoI heads sample their
proposals from the targets) and the mask logits of the ground-truth boxes, and
``model.losses(raw, targets)`` gives the named losses (their sum is the objective);
``model.predict(images)`` returns a :class:`PanopticPrediction` per image.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.roi_heads import project_masks_on_boxes

from ...crf.panoptic import refine_panoptic
from ...fusers.panoptic import (
    UpsampledLogits,
    create_panoptic_fuser,
    masks_to_category_channels,
    spatial_ranking_loss,
    spatial_ranking_scores,
    spatial_ranking_targets,
    upsnet_loss,
    upsnet_panoptic_logits,
    upsnet_targets,
)
from ...fusers.panoptic.crf_unary import refine_panoptic_with_model
from ...heads import PrototypeModule, SpatialRankingModule
from ...losses import UncertaintyWeighting
from ...metrics import PanopticEvaluator
from ..base import SegmentationModel, crf_options
from .detector import LEVEL_NAMES, SEMANTIC_KEY, pyramid_dict
from .mask_paste import binarize_in_windows, paste_logits_and_probs, paste_masks_by_sampling, paste_windows
from .targets import batch_images, detection_targets, semantic_targets

CRF_EXTRA = ("unary_source",)  # crf options handled by refine_panoptic_with_model, not refine_panoptic

__all__ = ["PanopticModel", "PanopticRawOutput", "PanopticPrediction"]

INSTANCE_LOSSES = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask", "loss_proto_mask")


_NO_LOSSES: Mapping[str, torch.Tensor] = MappingProxyType({})


class PanopticRawOutput(NamedTuple):
    """What ``forward`` returns, in train and eval mode.

    Eval mode fills ``detections`` (the tensors the fusers consume); training mode fills
    ``detector_losses`` and ``gt_mask_logits`` instead (torchvision's RPN and RoI heads compute
    their losses while sampling proposals from the targets, so those come out of ``forward``).
    """

    sem_logits: torch.Tensor  # (B, K, Hp/4, Wp/4) over the padded batch
    detections: list[dict[str, torch.Tensor]]  # boxes, scores, labels (train ids), mask_logits (N, 28, 28)
    image_sizes: list[tuple[int, int]]
    detector_losses: Mapping[str, torch.Tensor] = _NO_LOSSES  # RPN and RoI head losses (training mode)
    gt_mask_logits: torch.Tensor | None = None  # (G, 28, 28) mask logits of all GT boxes, when a loss needs them


class PanopticPrediction(NamedTuple):
    """One image's result: ``panoptic_seg (H, W) int32`` and ``segments_info``, plus the semantic
    argmax and the instances the fuser saw (``boxes``, ``scores``, ``labels``, ``masks`` pasted at
    image size, ``windows`` of the pastes with torchvision's paste, ``rank_scores`` with a ranking
    module, and ``mask_logits`` pasted at image size when the fuser or the CRF used them)."""

    panoptic_seg: torch.Tensor
    segments_info: list[dict[str, Any]]
    sem_seg: torch.Tensor
    instances: dict[str, torch.Tensor]


class PanopticModel(SegmentationModel):
    """A two-branch panoptic network; the recipe decides which of the optional parts it has.

    Args:
        backbone, neck: feature extractor and FPN (P2-P5 + P6 for the RPN).
        semantic_head: returns ``(logits at stride 4, features at stride 4)``.
        rpn, roi_heads: torchvision-style RPN and (Cascade) Mask R-CNN heads.
        num_classes, thing_ids, stuff_ids: semantic classes and which train ids are things / stuff.
        info_sharing: the mask RoI pool reads the semantic features (its pool must accept them).
        prototypes, ranking: seed 000's prototype module and OANet's ranking module, or ``None``.
        uncertainty: an :class:`~segzoo.losses.UncertaintyWeighting` of the tasks ``("semantic",
            "instance")`` (or ``True`` for one), weighting them by learned uncertainty; ``None``: plain sum.
        fuser: panoptic fuser name (``heuristic``, ``spatial_ranking``, ``upsnet``) or module.
        panoptic_loss: train UPSNet's panoptic cross entropy (for the ``upsnet`` fuser).
        crf: refine the fused segments' edges in ``predict`` with a dense CRF (seed 002;
            :func:`segzoo.crf.refine_panoptic`): ``True`` for its defaults, a dict of
            its keyword arguments (``iterations``, ``bilateral``, ...), or ``False``/``None`` for
            none. The unary is the model's own per-segment probabilities (UPSNet's panoptic
            logits, :func:`segzoo.fusers.panoptic.crf_unary.segment_logits`); ``{"unary_source":
            "labels", "confidence": 0.8}`` uses the fused labels at a fixed confidence instead.
        upsnet_keep_fraction: share of GT instances kept as instance channels in that loss
            (the dropped ones' pixels are targets of the unknown channel, as in UPSNet).
        mask_paste: how a detection's 28 x 28 mask goes into the image: ``"resize"`` (torchvision's
            ``paste_masks_in_image`` of the logits) or ``"sample"`` (Detectron2's: the probabilities
            sampled bilinearly at pixel centres, :func:`paste_masks_by_sampling`).
    """

    task = "panoptic"
    primary_metric = "PQ"
    ddp_find_unused_parameters = True  # the mask branches see no instance in some batches
    # Exported through segzoo.export.PanopticExportModule (tensors out; fusion after it in Python).
    export_formats: tuple[str, ...] = ("onnx", "torchscript", "torch-export")
    # Learned modules that run in postprocess (OANet's ranking convs read the pasted masks):
    # segzoo.optimize runs them at the network's precision too.
    postprocess_networks: tuple[str, ...] = ("ranking",)

    def __init__(
        self,
        *,
        backbone: nn.Module,
        neck: nn.Module,
        semantic_head: nn.Module,
        rpn: nn.Module,
        roi_heads: nn.Module,
        num_classes: int,
        thing_ids: Sequence[int],
        stuff_ids: Sequence[int],
        in_chans: int = 3,
        info_sharing: bool = False,
        prototypes: PrototypeModule | None = None,
        ranking: SpatialRankingModule | None = None,
        uncertainty: bool | UncertaintyWeighting | None = None,
        fuser: str | nn.Module = "heuristic",
        panoptic_loss: bool = False,
        crf: bool | Mapping[str, Any] | None = False,
        upsnet_keep_fraction: float = 0.7,
        mask_paste: str = "resize",
        size_divisor: int = 32,
        ignore_index: int = 255,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, mean=mean, std=std)
        thing_ids, stuff_ids = [int(i) for i in thing_ids], [int(i) for i in stuff_ids]
        if set(thing_ids) & set(stuff_ids) or not thing_ids:
            raise ValueError("thing_ids must be non-empty and disjoint from stuff_ids.")
        if max(thing_ids + stuff_ids) >= num_classes or min(thing_ids + stuff_ids) < 0:
            raise ValueError(f"thing_ids and stuff_ids must be train ids in [0, {num_classes - 1}].")
        self.backbone, self.neck, self.semantic_head = backbone, neck, semantic_head
        self.rpn, self.roi_heads = rpn, roi_heads
        self.thing_ids, self.stuff_ids = thing_ids, stuff_ids
        lut = torch.zeros(num_classes, dtype=torch.long)  # train id -> detector class (1..T), 0 for stuff
        lut[torch.tensor(thing_ids)] = torch.arange(1, len(thing_ids) + 1)
        self.register_buffer("class_of_train_id", lut, persistent=False)
        self.register_buffer("train_id_of_class", torch.tensor([-1] + thing_ids), persistent=False)
        self.info_sharing = info_sharing
        self.prototypes = prototypes
        self.ranking = ranking
        if uncertainty is True:
            uncertainty = UncertaintyWeighting(("semantic", "instance"))
        if uncertainty is not None and uncertainty is not False and set(uncertainty.tasks) != {"semantic", "instance"}:
            raise ValueError(f"uncertainty weights the tasks ('semantic', 'instance'), got {uncertainty.tasks}.")
        self.uncertainty = uncertainty or None
        self.fuser = create_panoptic_fuser(fuser) if isinstance(fuser, str) else fuser
        self.panoptic_loss = panoptic_loss
        self.crf = crf_options(crf, refine=refine_panoptic, in_chans=in_chans, extra=CRF_EXTRA)
        self.upsnet_keep_fraction = float(upsnet_keep_fraction)
        if mask_paste not in ("resize", "sample"):
            raise ValueError(f"mask_paste must be 'resize' (torchvision's) or 'sample' (Detectron2's), got {mask_paste!r}.")
        self.mask_paste = mask_paste
        self.size_divisor = size_divisor
        self.ignore_index = ignore_index

    # ---- shared feature path -------------------------------------------------------------------

    def _features(self, images):
        image_list = batch_images(images, size_divisor=self.size_divisor)
        pyramid = self.neck(self.backbone(image_list.tensors))
        sem_logits, sem_features = self.semantic_head(pyramid[:4])
        protos = None
        if self.prototypes is not None:
            protos, _ = self.prototypes.prototypes(pyramid[:4])
            sem_logits = self.prototypes.refine_semantic(sem_logits, sem_features, protos)
        fpn = pyramid_dict(pyramid)
        roi_features = {k: fpn[k] for k in LEVEL_NAMES}
        if self.info_sharing:
            roi_features[SEMANTIC_KEY] = sem_features
        return image_list, fpn, roi_features, sem_logits, protos

    def _padded_size(self, sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
        """The padded batch size of images of these sizes (``batch_images``' rule)."""
        d = self.size_divisor
        return -(-max(h for h, _ in sizes) // d) * d, -(-max(w for _, w in sizes) // d) * d

    def mask_logits_for(self, roi_features, boxes: list[torch.Tensor], classes: list[torch.Tensor], image_sizes, protos=None):
        """``(N, 28, 28)`` mask logits of the given boxes for their detector classes (prototype-refined)."""
        heads = self.roi_heads
        logits = heads.mask_predictor(heads.mask_head(heads.mask_roi_pool(roi_features, boxes, image_sizes)))
        flat = torch.cat(classes) if classes else logits.new_zeros(0, dtype=torch.long)
        logits = logits[torch.arange(logits.shape[0], device=logits.device), flat]
        return self.refine_with_prototypes(logits, roi_features, boxes, image_sizes, protos)

    def refine_with_prototypes(self, logits, roi_features, boxes, image_sizes, protos):
        """Add each box's prototype mixture to its mask logits (no-op without the prototype module)."""
        if self.prototypes is None or logits.shape[0] == 0:
            return logits
        box_features = self.roi_heads.box_roi_pool(roi_features, boxes, image_sizes)
        return logits + self.prototypes.instance_masks(box_features, boxes, protos, size=logits.shape[-1])

    # ---- forward ------------------------------------------------------------------------------

    def forward(self, images, targets: Sequence[dict[str, torch.Tensor]] | None = None) -> PanopticRawOutput:
        """Normalised images (a batch or a list) -> :class:`PanopticRawOutput`. In training mode
        ``targets`` (``segzoo.data``'s panoptic targets) are required: the detector samples from them."""
        image_list, fpn, roi_features, sem_logits, protos = self._features(images)
        sizes = list(image_list.image_sizes)
        if self.training:
            if targets is None:
                raise ValueError("In training mode the panoptic model needs targets: model(images, targets).")
            det_targets = detection_targets(targets, class_of_train_id=self.class_of_train_id, image_sizes=sizes)
            proposals, rpn_losses = self.rpn(image_list, fpn, det_targets)  # proposals come back detached
            _, roi_losses = self.roi_heads(roi_features, proposals, sizes, det_targets)
            gt_boxes = [t["boxes"] for t in det_targets]
            needs_gt_masks = self.prototypes is not None or self.ranking is not None or self.panoptic_loss
            gt_logits = None
            if needs_gt_masks and sum(len(b) for b in gt_boxes) > 0:  # the mask head on the GT boxes
                gt_logits = self.mask_logits_for(roi_features, gt_boxes, [t["labels"] for t in det_targets], sizes, protos)
            return PanopticRawOutput(sem_logits, [], sizes, {**rpn_losses, **roi_losses}, gt_logits)
        proposals, _ = self.rpn(image_list, fpn)
        detections, _ = self.roi_heads(roi_features, proposals, image_list.image_sizes)
        boxes = [d["boxes"] for d in detections]
        # The heads give mask probabilities of the detected class; back to logits, then the prototypes.
        probs = torch.cat([d["masks"][:, 0] for d in detections])
        mask_logits = torch.logit(probs.clamp(1e-6, 1 - 1e-6))
        mask_logits = self.refine_with_prototypes(mask_logits, roi_features, boxes, image_list.image_sizes, protos)
        out = []
        for d, m in zip(detections, mask_logits.split([len(b) for b in boxes])):
            out.append({"boxes": d["boxes"], "scores": d["scores"], "labels": self.train_id_of_class[d["labels"]], "mask_logits": m})
        return PanopticRawOutput(sem_logits, out, sizes)

    def losses(self, raw: PanopticRawOutput, targets: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """The named losses of a training-mode ``forward(images, targets)``: the detector's, the
        semantic cross entropy and, with those parts, the prototype, ranking and panoptic losses,
        weighted by learned uncertainty when the recipe has it."""
        if not raw.detector_losses:
            raise ValueError(
                "losses() needs the detector losses of a training-mode forward: call model.train(), "
                "then raw = model(images, targets)."
            )
        sizes = list(raw.image_sizes)
        padded = self._padded_size(sizes)
        det_targets = detection_targets(targets, class_of_train_id=self.class_of_train_id, image_sizes=sizes)
        losses = dict(raw.detector_losses)
        sem_target = semantic_targets(targets, padded, ignore_index=self.ignore_index)
        up = F.interpolate(raw.sem_logits, size=padded, mode="bilinear", align_corners=False)
        losses["loss_semantic"] = _safe_ce(up, sem_target, self.ignore_index)
        gt_logits = raw.gt_mask_logits
        if self.prototypes is not None:
            if gt_logits is None:
                losses["loss_proto_mask"] = raw.sem_logits.sum() * 0.0
            else:
                gt = torch.cat([
                    project_masks_on_boxes(t["masks"], t["boxes"], torch.arange(len(t["boxes"]), device=t["boxes"].device), gt_logits.shape[-1])
                    for t in det_targets
                ])  # fmt: skip
                losses["loss_proto_mask"] = F.binary_cross_entropy_with_logits(gt_logits, gt)
        if self.ranking is not None:
            losses["loss_ranking"] = self._ranking_loss(gt_logits, det_targets, padded)
        if self.panoptic_loss:
            losses["loss_panoptic"] = self._panoptic_loss(raw.sem_logits, gt_logits, det_targets, targets, sizes)
        if self.uncertainty is not None:
            weights = self.uncertainty.weights()
            for name in losses:
                task = "semantic" if name == "loss_semantic" else "instance" if name in INSTANCE_LOSSES or name.startswith(("loss_classifier", "loss_box_reg")) else None
                if task is not None:
                    losses[name] = losses[name] * weights[self.uncertainty.tasks.index(task)]
            losses["loss_uncertainty_reg"] = self.uncertainty.regularizer()
        return losses

    def _per_image_gt_masks(self, gt_logits, det_targets, size_of):
        """Per image: predicted masks of its GT boxes pasted at ``size_of(i)`` (probabilities),
        the GT masks resized there (nearest) and the GT train ids."""
        offset = 0
        for i, t in enumerate(det_targets):
            n = len(t["boxes"])
            size = size_of(i)
            scale = size[0] / t["masks"].shape[-2], size[1] / t["masks"].shape[-1]
            labels = self.train_id_of_class[t["labels"]]
            if n == 0 or gt_logits is None:
                empty = t["boxes"].new_zeros(0, *size)
                yield empty, empty.bool(), labels, empty
                continue
            logits = gt_logits[offset : offset + n, None]
            offset += n
            boxes = t["boxes"] * torch.tensor([scale[1], scale[0], scale[1], scale[0]], device=t["boxes"].device)
            pasted_logits, probs = paste_logits_and_probs(logits[:, 0], boxes, size)
            gt = F.interpolate(t["masks"][None].float(), size=size, mode="nearest")[0] > 0.5
            yield probs, gt, labels, pasted_logits

    def _ranking_loss(self, gt_logits, det_targets, padded) -> torch.Tensor:
        """OANet's loss: the binary predicted masks of the GT boxes (category channels, stride 4) ->
        ranking map, :func:`~segzoo.fusers.panoptic.spatial_ranking_loss` against
        :func:`~segzoo.fusers.panoptic.spatial_ranking_targets` (the visible GT masks)."""
        sizes = [(-(-t["masks"].shape[-2] // 4), -(-t["masks"].shape[-1] // 4)) for t in det_targets]
        size = (padded[0] // 4, padded[1] // 4)
        inputs, targets = [], []
        detached = None if gt_logits is None else gt_logits.detach()
        for i, (probs, gt, labels, _) in enumerate(self._per_image_gt_masks(detached, det_targets, lambda i: sizes[i])):
            pad = (0, size[1] - sizes[i][1], 0, size[0] - sizes[i][0])
            inputs.append(F.pad(masks_to_category_channels(probs > 0.5, labels, thing_ids=self.thing_ids), pad))
            targets.append(F.pad(spatial_ranking_targets(gt, labels, thing_ids=self.thing_ids), pad))
        return spatial_ranking_loss(self.ranking(torch.stack(inputs)), torch.stack(targets))

    def _panoptic_loss(self, sem_logits, gt_logits, det_targets, targets, sizes) -> torch.Tensor:
        """UPSNet's panoptic cross entropy at stride 4, instance channels built from the GT instances."""
        small = [(-(-h // 4), -(-w // 4)) for h, w in sizes]
        total = sem_logits.new_zeros(())
        for i, (_, gt, labels, pasted) in enumerate(self._per_image_gt_masks(gt_logits, det_targets, lambda i: small[i])):
            h, w = small[i]
            boxes = det_targets[i]["boxes"] * torch.tensor(
                [w / sizes[i][1], h / sizes[i][0], w / sizes[i][1], h / sizes[i][0]], device=sem_logits.device
            )
            # UPSNet drops a random share of the GT instances so that their pixels teach the unknown channel.
            keep = torch.rand(len(labels), device=labels.device) < self.upsnet_keep_fraction
            boxes, labels, pasted, gt = boxes[keep], labels[keep], pasted[keep], gt[keep]
            z = upsnet_panoptic_logits(sem_logits[i, :, :h, :w], boxes, labels, pasted, thing_ids=self.thing_ids, stuff_ids=self.stuff_ids)
            sem = F.interpolate(targets[i]["sem_seg"][None, None].float(), size=(h, w), mode="nearest")[0, 0].long()
            target = upsnet_targets(sem, gt, thing_ids=self.thing_ids, stuff_ids=self.stuff_ids, ignore_index=self.ignore_index)
            total = total + upsnet_loss(z, target, ignore_index=self.ignore_index)
        return total / len(det_targets)

    # ---- prediction ------------------------------------------------------------------------------

    def semantic_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Semantic logits ``(B, K, H, W)`` at input size (the semantic branch alone; used by TTA)."""
        image_list, _, _, sem_logits, _ = self._features(x)
        up = F.interpolate(sem_logits, size=image_list.tensors.shape[-2:], mode="bilinear", align_corners=False)
        return up[..., : x.shape[-2], : x.shape[-1]]

    def postprocess(
        self,
        raw: PanopticRawOutput,
        images: torch.Tensor,
        *,
        fuser: str | nn.Module | None = None,
        crf: bool | Mapping[str, Any] | None = None,
    ) -> list[PanopticPrediction]:
        """Per-image panoptic results of ``forward``'s eval output for the normalised ``images``.

        ``fuser``: another fuser for this call (a name or module; default the model's). ``crf``:
        ``True``, ``False`` or a dict of ``refine_panoptic`` options for this call (default the
        model's setting). Pure: nothing on the model changes, so calls with different fusers can
        run side by side.
        """
        if fuser is None:
            fuser = self.fuser
        elif isinstance(fuser, str):
            fuser = create_panoptic_fuser(fuser)
        crf = self.crf if crf is None else crf_options(crf, refine=refine_panoptic, in_chans=self.in_chans, extra=CRF_EXTRA)
        padded = self._padded_size([tuple(images.shape[-2:])])
        results = []
        for i, (h, w) in enumerate(raw.image_sizes):
            det = raw.detections[i]
            # The stride-4 logits stand for their bilinear resize to the padded input, cropped to the
            # image; the fusers compute per-pixel values only where they need them (upsampled_logits.py).
            sem = UpsampledLogits(raw.sem_logits[i], padded, (h, w))
            instances = self.instances(det, (h, w), with_logits=crf is not None or getattr(fuser, "uses_mask_logits", True))
            panoptic_seg, segments_info = fuser(sem, instances, thing_ids=self.thing_ids, stuff_ids=self.stuff_ids)
            if crf is not None:
                rgb = self.denormalize_uint8(images[i : i + 1, :, :h, :w])[0]
                panoptic_seg, segments_info = refine_panoptic_with_model(
                    panoptic_seg, segments_info, rgb, sem.dense(), instances, thing_ids=self.thing_ids,
                    stuff_ids=self.stuff_ids, **crf,
                )  # fmt: skip
            results.append(PanopticPrediction(panoptic_seg, segments_info, sem.argmax(), instances))
        return results

    def instances(
        self, det: dict[str, torch.Tensor], size: tuple[int, int], *, with_logits: bool = True
    ) -> dict[str, torch.Tensor]:
        """One image's detections as the fusers take them: masks pasted at image size (probabilities;
        their logits too unless ``with_logits=False``: ``postprocess`` asks for them only when the
        fuser or the CRF reads them), the window of each paste outside which its mask is 0 (torchvision's
        paste) and, with the ranking module, OANet's rank scores."""
        boxes, logits = det["boxes"], det["mask_logits"][:, None]
        instances = {"boxes": boxes, "scores": det["scores"], "labels": det["labels"]}
        if self.mask_paste == "sample":  # Detectron2: probabilities sampled at pixel centres, 0 outside
            masks = paste_masks_by_sampling(torch.sigmoid(logits[:, 0]), boxes, size)
            mask_logits = torch.logit(masks.clamp(1e-6, 1 - 1e-6)) if with_logits else None
        else:  # torchvision's paste; 0 outside each box's window
            mask_logits, masks = paste_logits_and_probs(logits[:, 0], boxes, size, with_logits=with_logits)
            instances["windows"] = paste_windows(boxes, logits.shape[-1], size)
        instances["masks"] = masks
        if mask_logits is not None:
            instances["mask_logits"] = mask_logits
        if self.ranking is not None:
            windows = instances.get("windows")
            binary = masks > 0.5 if windows is None else binarize_in_windows(masks, windows)
            instances["rank_scores"] = spatial_ranking_scores(
                self.ranking, binary, det["labels"], thing_ids=self.thing_ids, windows=windows
            )
        return instances

    def evaluator(self, *, ignore_index: int = 255) -> PanopticEvaluator:
        """PQ / SQ / RQ over the train ids (things and stuff) plus the semantic branch's mIoU."""
        return PanopticEvaluator(
            num_classes=self.num_classes, thing_ids=self.thing_ids, stuff_ids=self.stuff_ids, ignore_index=ignore_index
        )

    def describe_postprocess(self) -> str:
        crf = " + dense CRF" if self.crf is not None else ""  # seed 002's recipe refines in predict
        return f"panoptic fusion ({getattr(self.fuser, 'name', type(self.fuser).__name__)}){crf}"

    def postprocess_options(
        self, *, fuser: str | nn.Module | None = None, crf: bool | Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``predict``'s ``fuser`` and ``crf`` checked and resolved once for all its batches."""
        if isinstance(fuser, str):
            fuser = create_panoptic_fuser(fuser)
        resolved = self.crf if crf is None else crf_options(crf, refine=refine_panoptic, in_chans=self.in_chans, extra=CRF_EXTRA)
        return {"fuser": fuser, "crf": resolved if resolved is not None else False}

    def predict(
        self,
        images: Any,
        *,
        batch_size: int = 8,
        fuser: str | nn.Module | None = None,
        crf: bool | Mapping[str, Any] | None = None,
    ) -> Any:
        """Panoptic results per image (see :class:`PanopticPrediction`).

        ``fuser`` overrides the model's fuser (a name or module); ``crf`` overrides its dense-CRF
        refinement (``True``, ``False`` or a dict of ``refine_panoptic`` options; ``None`` keeps
        the model's ``crf`` setting). The model itself is not changed (see :meth:`postprocess`)."""
        return super().predict(images, batch_size=batch_size, fuser=fuser, crf=crf)


def _safe_ce(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Cross entropy that is 0 (not NaN) when every pixel is ignored."""
    valid = target != ignore_index
    if not bool(valid.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, ignore_index=ignore_index)
