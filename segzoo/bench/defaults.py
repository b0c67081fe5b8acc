"""What ``segzoo bench`` runs by default, and its size syntax (torch-free: the CLI's help reads them)."""

from __future__ import annotations

__all__ = ["DEFAULT_MODELS", "parse_size"]

DEFAULT_MODELS = (
    "fcn_r50",
    "deeplabv3_r50",
    "deeplabv3p_mobilenetv2",
    "pspnet_r50",
    "ocrnet_hrnet_w18",
    "hmsa_deeplabv3p_mobilenetv2",
    "panoptic_fpn_r50",
)


def parse_size(text: str) -> tuple[int, int]:
    """``"512x1024"`` (H x W) or ``"512"`` (square) -> ``(512, 1024)``."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        h, w = (int(parts[0]), int(parts[0])) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    except (ValueError, IndexError):
        raise ValueError(f"Input size must be HxW or N, e.g. 512x1024, got {text!r}.") from None
    if len(parts) > 2 or h < 8 or w < 8:
        raise ValueError(f"Input size must be HxW with both at least 8, got {text!r}.")
    return h, w
