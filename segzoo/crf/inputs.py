"""Input checking for the dense CRF (Krahenbuhl & Koltun, arXiv:1210.5644).

Turns the accepted forms of ``unary`` and ``image`` (a batch ``(B, K, H, W)`` with
``(B, 3, H, W)``, one image ``(K, H, W)`` with ``(3, H, W)``, or lists of per-image tensors of
mixed sizes) into lists of per-image tensors, validates them, and converts images to float
RGB in 0-255 (the unit of pydensecrf's ``srgb``).

Image convention: uint8 tensors are 0-255. Floating-point images are read per image: a
maximum above 1.5 means the image is in 0-255, otherwise in 0-1 (and is multiplied by 255).
Values outside [0, 1] resp. [0, 255] are rejected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

__all__ = ["CRFInputs", "KernelSpec", "abs_weights", "as_lists", "image_to_255", "kernel_spec", "unary_to_log_probs"]

INPUT_KINDS = ("logits", "probs")


@dataclass
class CRFInputs:
    """Per-image tensors: ``unaries`` [(K, H, W)], ``images`` [(3, H, W) float 0-255]."""

    unaries: list[torch.Tensor]
    images: list[torch.Tensor]
    batched: bool  # the caller passed a (B, K, H, W) tensor
    single: bool  # the caller passed one (K, H, W) tensor
    max_value: float  # largest unary entry (bounds log-probabilities for input='probs')

    def pack(self, outputs: list[torch.Tensor]):
        """Return per-image results in the structure the caller passed."""
        if self.single:
            return outputs[0]
        if self.batched:
            return torch.stack(outputs) if outputs else outputs
        return outputs


def image_to_255(image: torch.Tensor, *, name: str = "image") -> torch.Tensor:
    """(3, H, W) uint8 or float image -> float32 RGB in 0-255 (see the module docstring)."""
    if image.dtype == torch.uint8:
        return image.float()
    if not image.is_floating_point():
        raise TypeError(f"{name} must be uint8 (0-255) or floating point (0-1 or 0-255), got dtype {image.dtype}")
    lo, hi = (float(v) for v in torch.aminmax(image.detach()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or infinite values")
    scale = 1.0 if hi > 1.5 else 255.0
    if lo < 0.0 or hi * scale > 255.0 + 1e-3:
        raise ValueError(
            f"{name} values must lie in [0, 1] or [0, 255] (a float image with max > 1.5 is read as 0-255), "
            f"got range [{lo:.4g}, {hi:.4g}]; undo any mean/std normalisation before the CRF"
        )
    return image.float() * scale


def _as_list(x, name: str, dims: int):
    if isinstance(x, torch.Tensor):
        if x.dim() == dims + 1:
            return list(x.unbind(0)), True, False
        if x.dim() == dims:
            return [x], False, True
        raise ValueError(
            f"{name} must be a (B, C, H, W) batch, one (C, H, W) tensor or a list of (C, H, W) tensors, "
            f"got shape {tuple(x.shape)}"
        )
    if isinstance(x, Sequence) and not isinstance(x, (str, bytes)):
        if not all(isinstance(t, torch.Tensor) and t.dim() == dims for t in x):
            shapes = [tuple(getattr(t, "shape", ())) for t in x]
            raise ValueError(f"a list {name} must hold (C, H, W) tensors, got shapes {shapes}")
        return list(x), False, False
    raise TypeError(f"{name} must be a torch.Tensor or a list of tensors, got {type(x).__name__}")


def as_lists(unary, image, *, input: str) -> CRFInputs:
    """Validate ``unary``/``image`` and split them into per-image tensors (see module docstring)."""
    if input not in INPUT_KINDS:
        raise ValueError(f"input must be one of {INPUT_KINDS}, got {input!r}")
    unaries, batched, single = _as_list(unary, "unary", 3)
    images, ibatched, isingle = _as_list(image, "image", 3)
    if (batched, single) != (ibatched, isingle) or len(unaries) != len(images):
        raise ValueError(
            "unary and image must have the same structure: a (B, K, H, W) batch with a (B, 3, H, W) batch, "
            f"one (K, H, W) with one (3, H, W), or two lists of equal length; got {len(unaries)} unaries "
            f"and {len(images)} images"
        )
    if not unaries:
        raise ValueError("unary is empty: pass at least one image")
    k = unaries[0].shape[0]
    out_images = []
    top = -math.inf
    for i, (u, im) in enumerate(zip(unaries, images)):
        if u.shape[0] != k:
            raise ValueError(f"all unaries must have the same number of labels K; image 0 has {k}, "
                             f"image {i} has {u.shape[0]}")
        if k < 2:
            raise ValueError(f"the CRF needs K >= 2 labels, got unary of shape {tuple(u.shape)}")
        if not u.is_floating_point():
            raise TypeError(f"unary must be a floating-point tensor, got dtype {u.dtype}")
        if im.shape[0] != 3:
            raise ValueError(f"image {i} must be RGB (3, H, W) (channels first), got shape {tuple(im.shape)}")
        if u.shape[1:] != im.shape[1:]:
            raise ValueError(
                f"image {i} is {tuple(im.shape[1:])} (H, W) but its unary is {tuple(u.shape[1:])}; "
                "resize the unary (e.g. F.interpolate(logits, size=image.shape[-2:], mode='bilinear')) first"
            )
        if u.device != im.device:
            raise ValueError(f"unary is on {u.device} but image on {im.device}; move both to the same device")
        lo, hi = (float(v) for v in torch.aminmax(u.detach()))  # one pass; NaN propagates
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"unary {i} contains NaN or infinite values")
        if input == "probs" and lo < 0:
            raise ValueError(f"unary {i} has negative probabilities ({lo:.4g}); with input='probs' pass softmax "
                             "outputs (or use input='logits')")
        top = max(top, hi)
        out_images.append(image_to_255(im, name=f"image {i}"))
    return CRFInputs(unaries, out_images, batched, single, top)


def unary_to_log_probs(unary: torch.Tensor, *, input: str, clip: float, dim: int = 0) -> torch.Tensor:
    """Log of the initial marginals Q0 = softmax(-psi_u), up to a per-pixel constant.

    'probs': psi_u = -log(max(p, clip)) exactly as pydensecrf's ``unary_from_softmax``;
    'logits': psi_u = -log_softmax(logits).
    """
    if input == "probs":
        return unary.clamp_min(clip).log()
    return torch.log_softmax(unary, dim=dim)


@dataclass(frozen=True)
class KernelSpec:
    """One pairwise kernel: widths (sx, sy) in px, (sr, sg, sb) in 0-255 units or None, weight w."""

    sxy: tuple[float, float]
    srgb: tuple[float, float, float] | None
    weight: float | torch.Tensor


def _widths(value, n: int, name: str) -> tuple[float, ...]:
    vals = (value,) * n if isinstance(value, (int, float)) else tuple(value)
    if len(vals) != n or not all(isinstance(v, (int, float)) and v > 0 for v in vals):
        raise ValueError(f"{name} must be a positive number or {n} positive numbers, got {value!r}")
    return tuple(float(v) for v in vals)


def kernel_spec(spec: Mapping | None, *, name: str, bilateral: bool) -> KernelSpec | None:
    """Parse ``gaussian=dict(sxy, compat)`` / ``bilateral=dict(sxy, srgb, compat)`` (None: no kernel)."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise TypeError(f"{name} must be a dict like {_EXAMPLE[bilateral]} or None, got {type(spec).__name__}")
    valid = {"sxy", "srgb", "compat"} if bilateral else {"sxy", "compat"}
    unknown = set(spec) - valid
    missing = valid - set(spec)
    if unknown or missing:
        raise TypeError(f"{name} takes exactly the keys {sorted(valid)} (e.g. {_EXAMPLE[bilateral]}); "
                        f"unknown: {sorted(unknown)}, missing: {sorted(missing)}")
    weight = spec["compat"]
    if not isinstance(weight, (int, float, torch.Tensor)) or (isinstance(weight, torch.Tensor) and weight.numel() != 1):
        raise TypeError(f"{name}['compat'] (the kernel weight) must be a number or a 1-element tensor, got {weight!r}")
    srgb = _widths(spec["srgb"], 3, f"{name}['srgb']") if bilateral else None
    weight = weight if isinstance(weight, torch.Tensor) else float(weight)
    return KernelSpec(_widths(spec["sxy"], 2, f"{name}['sxy']"), srgb, weight)


_EXAMPLE = {False: "dict(sxy=3, compat=3)", True: "dict(sxy=80, srgb=13, compat=10)"}


def abs_weights(weights) -> list[float]:
    """|w| of kernel weights given as numbers or (learnable) 1-element tensors."""
    return [abs(float(w.detach() if isinstance(w, torch.Tensor) else w)) for w in weights]
