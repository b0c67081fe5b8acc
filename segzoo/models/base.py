"""The base class every segzoo model derives from: normalisation, ``predict`` and metadata.

``forward`` is the tensor path (normalised float input, compile/export friendly, the same
output types in train and eval); ``predict`` is the user path (raw images of any size in,
per-image results out).
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from ..inputs import IMAGENET_MEAN, IMAGENET_STD, default_mean_std, run_predict

__all__ = ["SegmentationModel", "IMAGENET_MEAN", "IMAGENET_STD", "default_mean_std", "run_predict"]  # stats: segzoo.inputs

class SegmentationModel(nn.Module):
    """Owns normalisation and ``predict``; subclasses implement ``forward`` (and ``postprocess`` when
    their results are not per-pixel labels).

    ``predict`` = prepare the images -> ``forward`` -> ``postprocess(raw, images)``: the last step is
    public and pure (no attribute of the model changes during a call), so benchmarks time it and
    exports check against it on their own.

    Class attributes:
        task: ``"semantic"`` or ``"panoptic"``.
        export_formats: the export paths the tests check for this model
            (``"torchscript"`` = ``torch.jit.trace``, ``"torch-export"`` = ``torch.export``).
    """

    task: ClassVar[str] = "semantic"
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

    @torch.no_grad()
    def predict(self, images: Any, *, batch_size: int = 8, **options: Any) -> Any:
        """Run the model on raw images and return post-processed per-image results.

        Args:
            images: a uint8 (0-255) or float (0-1) image or batch as a torch tensor
                ``(C, H, W)`` / ``(B, C, H, W)``, a numpy array or PIL image ``(H, W, C)`` /
                ``(B, H, W, C)``, or a list of images of different sizes.
            batch_size: images of the same size run together in chunks of this many.
            **options: options of :meth:`postprocess` (panoptic models: ``fuser``, ``crf``).

        Returns:
            One result for one image, a list for a batch or list. Semantic models return
            ``(H, W)`` int64 label maps at each image's original size. Numpy input gives
            numpy results; tensor input gives tensors on the input's device.
        """
        options = self.postprocess_options(**options)
        return run_predict(self, images, lambda x: self.postprocess(self(x), x, **options), batch_size=batch_size)

    def postprocess_options(self, **options: Any) -> dict[str, Any]:
        """Check (and resolve once per ``predict`` call) the options of :meth:`postprocess`."""
        if options:
            raise TypeError(f"{type(self).__name__}.predict takes no post-processing options, got {sorted(options)}.")
        return options

    def postprocess(self, raw: Any, images: torch.Tensor) -> list[Any]:
        """Per-image results of ``forward``'s output for a normalised batch: ``(H, W)`` label maps (the
        arg-max of the per-pixel scores). Pure: reads the model, changes nothing."""
        return list(raw.argmax(dim=1).unbind(0))
