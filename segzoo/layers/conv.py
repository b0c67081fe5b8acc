"""Convolution helpers shared by heads and blocks: conv + norm + activation in one module."""

from __future__ import annotations

from torch import nn

__all__ = ["ConvNormAct", "SeparableConvNormAct", "make_norm"]


def make_norm(norm: str | None, channels: int) -> nn.Module:
    """A normalisation layer by name: ``"bn"`` (BatchNorm2d), ``"gn"`` (GroupNorm, 32 groups
    or fewer), ``"syncbn"`` (SyncBatchNorm) or ``None`` (identity)."""
    if norm is None:
        return nn.Identity()
    if norm == "bn":
        return nn.BatchNorm2d(channels)
    if norm == "syncbn":
        return nn.SyncBatchNorm(channels)
    if norm == "gn":
        groups = min(32, channels)
        while channels % groups:
            groups -= 1
        return nn.GroupNorm(groups, channels)
    raise ValueError(f"Unknown norm {norm!r}; use 'bn', 'syncbn', 'gn' or None.")


class ConvNormAct(nn.Sequential):
    """``Conv2d -> norm -> ReLU`` with 'same' padding for odd kernels at any dilation.

    The convolution has a bias only when there is no norm after it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        norm: str | None = "bn",
        act: bool = True,
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=groups,
                bias=norm is None,
            ),
            make_norm(norm, out_channels),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SeparableConvNormAct(nn.Sequential):
    """Depthwise separable ``k x k`` conv: depthwise conv -> norm -> ReLU, then pointwise 1x1 conv ->
    norm -> ReLU.

    Chen et al., DeepLabV3+, arXiv:1802.02611, Sec. 3.2: "atrous separable convolution" (the
    depthwise conv carries the dilation), with batch normalisation and ReLU after each depthwise
    conv as in MobileNet; about ``k*k / out_channels + 1 / k*k`` of a full conv's multiply-adds.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        dilation: int = 1,
        norm: str | None = "bn",
    ) -> None:
        super().__init__(
            ConvNormAct(in_channels, in_channels, kernel_size, dilation=dilation, groups=in_channels, norm=norm),
            ConvNormAct(in_channels, out_channels, 1, norm=norm),
        )
