"""The base class every segzoo model derives from: the model contract, normalisation, ``predict``.

One contract for every task:

- ``forward(images, targets=None) -> raw``: the tensor path (normalised float input, compile
  and export friendly). ``raw`` is a typed output (:class:`~segzoo.models.SemanticOutput`,
  :class:`~segzoo.models.PanopticRawOutput`), the same type in train and eval mode; training
  mode adds what the losses need (auxiliary logits, the detector's sampled losses). Only
  models whose training forward samples from the ground truth (the panoptic detector) read
  ``targets``.
- ``losses(raw, targets) -> dict[str, Tensor]``: the recipe's named, weighted losses of a
  training-mode ``raw``; their sum is the objective.
- ``postprocess(raw, images, **options) -> list``: per-image results, a pure function.
- ``predict(images) = prepare -> forward -> postprocess``: the user path (raw images of any
  size in, per-image results out).

Generic code (trainer, evaluation, benchmarks, export) uses only these and the class
attributes below, never the task name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from ..crf import dense_crf
from ..inputs import IMAGENET_MEAN, IMAGENET_STD, default_mean_std, run_predict
from ..metrics import SemanticEvaluator

__all__ = ["SegmentationModel", "crf_options", "IMAGENET_MEAN", "IMAGENET_STD", "default_mean_std", "run_predict"]


def crf_options(
    crf: bool | Mapping[str, Any] | None, *, refine: Callable, in_chans: int, extra: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """Check a ``crf`` setting: ``None`` (no CRF) or keyword arguments of ``refine``
    (``segzoo.crf.dense_crf`` or ``refine_panoptic``) and the ``extra`` ones the caller handles."""
    if crf is None or crf is False:
        return None
    if crf is True:
        options: dict[str, Any] = {}
    elif isinstance(crf, Mapping):
        options = dict(crf)
    else:
        raise TypeError(f"crf must be True, False or a dict of {refine.__name__} options, got {type(crf).__name__}")
    allowed = [n for n, p in inspect.signature(refine).parameters.items() if p.kind is p.KEYWORD_ONLY and n != "unary"]
    allowed += list(extra)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"unknown crf option(s) {unknown}; {refine.__name__} takes {allowed}")
    if in_chans != 3:
        raise ValueError(f"the dense CRF needs RGB images (in_chans=3), this model takes {in_chans} channels; use crf=False")
    return options


class SegmentationModel(nn.Module):
    """Owns normalisation and ``predict``; subclasses implement ``forward`` (and ``postprocess`` when
    their results are not per-pixel labels).

    ``predict`` = prepare the images -> ``forward`` -> ``postprocess(raw, images)``: the last step is
    public and pure (no attribute of the model changes during a call), so benchmarks time it and
    exports check against it on their own.

    Attributes:
        class_names, category_ids: the classes in output order and their dataset ids, set when
            the model is built with published weights (``segzoo.build("fcn_r50.tv_coco")``) and
            kept by ``segzoo.save`` / ``segzoo.load``; empty otherwise.

    Class attributes:
        task: ``"semantic"`` or ``"panoptic"`` (metadata for listings and data checks).
        primary_metric: the metric of :meth:`evaluator` that ranks checkpoints (``"mIoU"``, ``"PQ"``).
        ddp_find_unused_parameters: whether some parameters can miss a gradient in a training
            step (branches that see no instance), so DistributedDataParallel must look for them.
        export_formats: the export paths the tests check for this model
            (``"torchscript"`` = ``torch.jit.trace``, ``"torch-export"`` = ``torch.export``).
    """

    task: ClassVar[str] = "semantic"
    class_names: tuple[str, ...] = ()  # the classes in output order, when the weights name them
    category_ids: tuple[int, ...] = ()  # their dataset ids (COCO category ids for COCO weights)
    primary_metric: ClassVar[str] = "mIoU"
    ddp_find_unused_parameters: ClassVar[bool] = False
    export_formats: ClassVar[tuple[str, ...]] = ("torchscript", "torch-export")

    def __init__(
        self,
        *,
        num_classes: int,
        in_chans: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}.")
        default_mean, default_std = default_mean_std(in_chans)
        mean = tuple(float(m) for m in (mean if mean is not None else default_mean))
        std = tuple(float(s) for s in (std if std is not None else default_std))
        if len(mean) != in_chans or len(std) != in_chans:
            raise ValueError(f"mean and std need {in_chans} values (one per input channel), got {mean} and {std}.")
        if any(s <= 0 for s in std):
            raise ValueError(f"std values must be positive, got {std}.")
        self.num_classes = num_classes
        self.in_chans = in_chans
        # Not persistent: they are configuration (config.json), not weights.
        self.register_buffer("pixel_mean", torch.tensor(mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std).view(-1, 1, 1), persistent=False)

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters (CPU for a model without any)."""
        for p in self.parameters():
            return p.device
        return self.pixel_mean.device

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` float in 0-1 -> normalised with the model's mean and std."""
        return (images - self.pixel_mean) / self.pixel_std

    def denormalize_uint8(self, images: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`normalize`, rounded to ``uint8`` 0-255 (what a dense CRF's colour kernel reads)."""
        return (images * self.pixel_std + self.pixel_mean).clamp(0, 1).mul(255).round().to(torch.uint8)

    def losses(self, raw: Any, targets: Any) -> dict[str, torch.Tensor]:
        """The recipe's named losses of a training-mode ``forward`` output (subclasses implement it)."""
        raise NotImplementedError(f"{type(self).__name__} declares no loss recipe; it can't be trained.")

    def semantic_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Per-pixel class scores ``(B, K, H, W)`` at input size for normalised ``images`` (what
        test-time augmentation, sliding windows and the dense CRF read)."""
        return self(images).logits

    def evaluator(self, *, ignore_index: int = 255) -> Any:
        """A metric accumulator for this model's ``predict`` results: ``update(predictions, targets)``
        per batch (targets as the data loaders give them), ``compute() -> dict`` at the end."""
        return SemanticEvaluator(self.num_classes, ignore_index=ignore_index)

    @torch.no_grad()
    def predict(self, images: Any, *, batch_size: int = 8, **options: Any) -> Any:
        """Run the model on raw images and return post-processed per-image results.

        Args:
            images: a uint8 (0-255) or float (0-1) image or batch as a torch tensor
                ``(C, H, W)`` / ``(B, C, H, W)``, a numpy array or PIL image ``(H, W, C)`` /
                ``(B, H, W, C)``, or a list of images of different sizes.
            batch_size: images of the same size run together in chunks of this many.
            **options: options of :meth:`postprocess` (``crf``; panoptic models also ``fuser``).

        Returns:
            One result for one image, a list for a batch or list. Semantic models return
            ``(H, W)`` int64 label maps at each image's original size. Numpy input gives
            numpy results; tensor input gives tensors on the input's device.
        """
        options = self.postprocess_options(**options)
        return run_predict(self, images, lambda x: self.postprocess(self(x), x, **options), batch_size=batch_size)

    def postprocess_options(self, *, crf: bool | Mapping[str, Any] | None = None, **unknown: Any) -> dict[str, Any]:
        """Check (and resolve once per ``predict`` call) the options of :meth:`postprocess`."""
        if unknown:
            raise TypeError(f"{type(self).__name__}.predict takes the post-processing option crf only, got {sorted(unknown)}.")
        return {"crf": crf_options(crf, refine=dense_crf, in_chans=self.in_chans)}

    def postprocess(self, raw: Any, images: torch.Tensor, *, crf: bool | Mapping[str, Any] | None = None) -> list[Any]:
        """Per-image results of ``forward``'s output for a normalised batch: ``(H, W)`` label maps (the
        arg-max of ``raw.logits``). Pure: reads the model, changes nothing.

        ``crf``: refine the scores with a dense CRF first (:func:`segzoo.crf.dense_crf` on the
        de-normalised images): ``True`` for its defaults or a dict of its keyword arguments.
        """
        scores = raw.logits
        options = crf_options(crf, refine=dense_crf, in_chans=self.in_chans)
        if options is not None:
            scores = dense_crf(scores.float(), self.denormalize_uint8(images), **options)
        return list(scores.argmax(dim=1).unbind(0))

    def describe_postprocess(self) -> str:
        """One line naming what :meth:`postprocess` does (benchmark tables print it)."""
        return "argmax"
