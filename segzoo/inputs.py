"""What every model's input shares: ImageNet statistics, and turning what users pass to
``predict`` into checked float tensors, and results back (``run_predict``).

Accepted images: a torch tensor ``(C, H, W)`` or ``(B, C, H, W)``; a numpy array or PIL
image ``(H, W, C)`` or ``(B, H, W, C)`` (the layout PIL and OpenCV give); ``(H, W)`` when the
model takes one channel; or a list of any of these with different sizes. ``uint8`` images
are read as 0-255, float images as 0-1.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "PreparedImages", "default_mean_std", "format_results", "prepare_images",
    "run_predict",
]  # fmt: skip

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass
class PreparedImages:
    """Checked images ``(C, H, W)`` float32 in 0-1, and how to hand results back."""

    images: list[torch.Tensor]
    single: bool  # one image given (not a batch or list): return one result, not a list
    as_numpy: bool  # the input was numpy / PIL: return numpy arrays
    device: torch.device | None  # the input tensors' device (None for numpy input)


def _to_tensor(image: Any, index: int, in_chans: int) -> tuple[torch.Tensor, bool]:
    """One image as a ``(C, H, W)`` tensor (no dtype change); also whether it was numpy."""
    if type(image).__module__.startswith("PIL."):
        image = np.asarray(image)
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3:
            raise ValueError(
                f"Image {index}: a numpy image must be (H, W, C) or (H, W), got shape {tuple(image.shape)}."
            )
        if image.shape[-1] != in_chans and image.shape[0] == in_chans:
            raise ValueError(
                f"Image {index}: numpy images are read as (H, W, C); shape {tuple(image.shape)} looks like "
                f"(C, H, W). Pass image.transpose(1, 2, 0), or torch.from_numpy(image) (tensors are (C, H, W))."
            )
        if image.dtype.kind not in "uf" and image.dtype != np.bool_:
            raise TypeError(f"Image {index}: expected uint8 (0-255) or float (0-1) pixels, got numpy {image.dtype}.")
        if not image.dtype.isnative:  # e.g. big-endian '>f4' from FITS or network data; torch can't read it
            image = image.astype(image.dtype.newbyteorder("="))
        # torch.from_numpy reads neither read-only memory (np.asarray of a PIL image) nor negative
        # strides (image[::-1]; numpy calls a flipped 1-pixel-high view contiguous, so
        # ascontiguousarray keeps it as is): copy both.
        if not image.flags.writeable or any(stride < 0 for stride in image.strides):
            image = image.copy()
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1), True
    if isinstance(image, torch.Tensor):
        if image.ndim == 2:
            image = image[None]
        if image.ndim != 3:
            raise ValueError(f"Image {index}: a tensor image must be (C, H, W) or (H, W), got shape {tuple(image.shape)}.")
        return image, False
    raise TypeError(
        f"Image {index}: expected a torch.Tensor, numpy array or PIL image, got {type(image).__name__}."
    )


def _check(image: torch.Tensor, index: int, in_chans: int) -> torch.Tensor:
    """Check channels, size, dtype and values; return float32 in 0-1."""
    channels, height, width = image.shape
    if channels != in_chans:
        raise ValueError(
            f"Image {index}: expected {in_chans} channels, got {channels} (shape {tuple(image.shape)}). "
            f"Convert the image (e.g. to RGB) or build the model with in_chans={channels}."
        )
    if height == 0 or width == 0:
        raise ValueError(f"Image {index}: empty image of size {height}x{width}.")
    if image.dtype == torch.uint8:
        return image.float().div_(255.0)
    if image.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"Image {index}: expected uint8 (0-255) or floating point (0-1) pixels, got {image.dtype}. "
            "Convert with image.to(torch.uint8) or image.float() / 255."
        )
    if not torch.isfinite(image).all():
        raise ValueError(f"Image {index}: contains NaN or Inf pixels; clean or replace them before predict().")
    dtype, image = image.dtype, image.float()
    if not torch.isfinite(image).all():  # float64 beyond float32's range (about 3.4e38)
        raise ValueError(
            f"Image {index}: has {dtype} pixel values too large for float32 (|x| > 3.4e38); "
            "float images should be in 0-1."
        )
    return image


def prepare_images(images: Any, *, in_chans: int) -> PreparedImages:
    """Validate the images given to ``predict`` and convert them to float32 0-1 ``(C, H, W)``.

    Raises ``TypeError`` for a wrong type or dtype and ``ValueError`` for a wrong rank,
    channel count, empty batch or non-finite pixels; each message names the image.
    """
    single = False
    if isinstance(images, (list, tuple)):
        items: Sequence[Any] = images
    elif isinstance(images, torch.Tensor) and images.ndim == 4:
        items = list(images.unbind(0))
    elif isinstance(images, np.ndarray) and images.ndim == 4:
        items = list(images)
    elif isinstance(images, (torch.Tensor, np.ndarray)) or type(images).__module__.startswith("PIL."):
        if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim not in (2, 3):
            raise ValueError(
                f"Expected one image (C, H, W) / (H, W, C), a batch (B, C, H, W) / (B, H, W, C) or a list of "
                f"images; got an array of shape {tuple(images.shape)}."
            )
        items, single = [images], True
    else:
        raise TypeError(
            f"predict() takes a tensor, numpy array, PIL image or a list of them; got {type(images).__name__}."
        )
    if len(items) == 0:
        raise ValueError("predict() got an empty batch: pass at least one image.")
    tensors, numpy_flags, devices = [], [], set()
    for i, item in enumerate(items):
        tensor, was_numpy = _to_tensor(item, i, in_chans)
        tensors.append(_check(tensor, i, in_chans))
        numpy_flags.append(was_numpy)
        if not was_numpy:
            devices.add(item.device)
    as_numpy = all(numpy_flags)
    device = next(iter(devices)) if len(devices) == 1 else None
    return PreparedImages(images=tensors, single=single, as_numpy=as_numpy, device=device)


def format_results(results: list[Any], prepared: PreparedImages) -> Any:
    """Hand per-image results back in the caller's terms (one or a list; numpy or tensors)."""

    def convert(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            if prepared.as_numpy:
                return value.cpu().numpy()
            if prepared.device is not None:
                return value.to(prepared.device)
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # NamedTuple results keep their type
            return type(value)(*(convert(v) for v in value))
        if isinstance(value, (tuple, list)):
            return type(value)(convert(v) for v in value)
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    out = [convert(r) for r in results]
    return out[0] if prepared.single else out


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def default_mean_std(in_chans: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """ImageNet statistics for 3 channels; their average repeated for any other count."""
    if in_chans == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    return (sum(IMAGENET_MEAN) / 3,) * in_chans, (sum(IMAGENET_STD) / 3,) * in_chans


def run_predict(
    model: Any, images: Any, batch_fn: Callable[[torch.Tensor], list[Any]], *, batch_size: int = 8
) -> Any:
    """The ``predict`` machinery: check and convert ``images``, group them by size, normalise with
    ``model``'s statistics, call ``batch_fn`` on each chunk in eval mode (restoring the mode
    after), and hand results back in the caller's terms."""
    try:
        batch_size = operator.index(batch_size)  # ints and numpy ints; not 1.5, "2" or None
    except TypeError:
        raise TypeError(f"batch_size must be a positive int, got {batch_size!r} ({type(batch_size).__name__}).") from None
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    prepared = prepare_images(images, in_chans=model.in_chans)
    by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, image in enumerate(prepared.images):
        by_size[tuple(image.shape[-2:])].append(i)
    results: list[Any] = [None] * len(prepared.images)
    was_training = model.training
    model.eval()
    try:
        device = model.device
        for indices in by_size.values():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start : start + batch_size]
                batch = torch.stack([prepared.images[i] for i in chunk]).to(device)
                for i, result in zip(chunk, batch_fn(model.normalize(batch))):
                    results[i] = result
    finally:
        model.train(was_training)
    return format_results(results, prepared)
