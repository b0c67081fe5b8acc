"""Errors raised when a backbone's ImageNet weights can't be obtained or don't fit.

Backbone weights come from the papers' ImageNet checkpoints (ResNet, arXiv:1512.03385;
HRNet, arXiv:1908.07919; VGG, arXiv:1409.1556; ...) downloaded through timm or
torchvision. Downloads are never required: every backbone also accepts a local file
(``weights="/path/to/file.safetensors"`` or a ``.pth`` state dict), and the errors
below say so.
"""

from __future__ import annotations

from ..errors import BackboneOfflineError, BackboneWeightsError

__all__ = ["BackboneWeightsError", "BackboneOfflineError", "download_error", "LOCAL_FILE_FIX", "LOCAL_FILE_CLI_FIX"]

LOCAL_FILE_FIX = (
    'Without network access, download the file on another machine and pass it as a local file: '
    'create_backbone({backbone!r}, weights="/path/to/file.safetensors") (or a .pth state dict), or '
    'backbone_weights="/path/to/file.safetensors" in segzoo.build; or use pretrained=False to start from random weights.'
)
LOCAL_FILE_CLI_FIX = (
    "Without network access, download the file on another machine and pass it with "
    "--set backbone_weights=PATH (a .safetensors file or a .pth state dict), or drop --set pretrained_backbone=true "
    "to start from random weights."
)


def download_error(
    backbone: str, reason: BaseException | str, *, source: str, hint: str = ""
) -> BackboneWeightsError:
    """The error for a failed download of ``backbone``'s ImageNet weights from ``source``.

    The message names the backbone, the underlying reason, and how to pass a local file
    instead, so that it is actionable on a machine without network access; ``hint`` is
    appended.
    """
    if isinstance(reason, BaseException):
        text = str(reason).strip().splitlines()[0] if str(reason).strip() else ""
        reason = f"{type(reason).__name__}: {text}" if text else type(reason).__name__
    return BackboneWeightsError(
        f"Could not download the ImageNet weights of backbone {backbone!r} from {source} ({reason}).",
        fix=LOCAL_FILE_FIX.format(backbone=backbone) + (f" {hint}" if hint else ""),
        cli_fix=LOCAL_FILE_CLI_FIX,
    )
