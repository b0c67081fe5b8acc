"""Dilated convolutions as per-tap 1x1 matrix products and shifted additions, for bf16 on the CPU.

oneDNN's bf16 kernels for a 3x3 convolution slow down steeply with the dilation: on an AMX CPU a
2048->256 convolution at 64x64 takes 0.27 s at dilation 1 but 0.65 s at 12 and 2.0 s at 36 (the
ASPP rates of DeepLabV3 at output stride 8), slower than in fp32. The same convolution is
``sum over taps (i, j) of W[:, :, i, j] @ x`` shifted by ``(i d, j d)``: for each tap, a 1x1
convolution (a plain GEMM, AMX-fast) over only the input rows and columns whose products land
inside the output (with a large dilation most of the map is zero padding for the outer taps: at
rate 36 on a 64x64 map the nine taps read 39% of what a padded convolution multiplies), added at
its offset into a float32 sum kept in the input's memory format. Equal to the convolution up to
the summation order. ``python benchmarks/dilated_conv.py`` times it against oneDNN.

:class:`TapSumConv2d` wraps a ``Conv2d`` (stride 1, one group, "same" padding) and takes this path
only under CPU bf16 autocast; otherwise it calls the convolution itself. ``optimize`` puts it in
place of every such convolution with dilation >= ``MIN_DILATION``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TapSumConv2d", "MIN_DILATION", "rewrite_dilated_convs"]

MIN_DILATION = 8  # below it oneDNN's bf16 kernel is about as fast (dilation 4: faster)


def _eligible(conv: nn.Module) -> bool:
    if type(conv) is not nn.Conv2d or conv.groups != 1 or conv.stride != (1, 1) or conv.padding_mode != "zeros":
        return False
    (kh, kw), (dh, dw), (ph, pw) = conv.kernel_size, conv.dilation, conv.padding
    same = ph == dh * (kh - 1) // 2 and pw == dw * (kw - 1) // 2 and kh % 2 == 1 and kw % 2 == 1
    return same and min(dh, dw) >= MIN_DILATION and kh * kw > 1


class TapSumConv2d(nn.Module):
    """``conv`` computed as a 1x1 GEMM per tap plus shifted additions under CPU bf16 autocast."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if not _eligible(conv):
            raise ValueError(f"TapSumConv2d takes a stride-1, one-group, 'same'-padded dilated Conv2d, got {conv}.")
        self.conv = conv
        out_c, in_c, kh, kw = conv.weight.shape  # tap t = i * kw + j holds W[:, :, i, j]; fixed at wrapping (inference)
        for t in range(kh * kw):  # one buffer per tap: no view of a buffer in forward (inductor freezing)
            self.register_buffer(f"tap{t}", conv.weight.detach()[:, :, t // kw, t % kw, None, None].clone())
        bias = conv.bias.detach().reshape(1, out_c, 1, 1).clone() if conv.bias is not None else None
        self.register_buffer("taps_bias", bias)  # shaped for the sum: no view of a parameter in forward (inductor freezing)

    def _taps_path(self, x: torch.Tensor) -> bool:
        return x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16

    @torch.compiler.disable  # eager inside a compiled model: inductor's tap loop made DeepLabV3 2.9x slower
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._taps_path(x):
            return self.conv(x)
        conv = self.conv
        out_c, in_c, kh, kw = conv.weight.shape
        (dh, dw), (ph, pw) = conv.dilation, conv.padding
        n, _, h, w = x.shape
        # The float32 sum in the input's memory format: adding channels-last tap maps into a
        # contiguous sum was a strided copy that cost more than the products.
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        product = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        dtype = torch.promote_types(product, torch.float32)
        if channels_last:
            out = torch.zeros(n, h, w, out_c, dtype=dtype, device=x.device).permute(0, 3, 1, 2)
        else:
            out = torch.zeros(n, out_c, h, w, dtype=dtype, device=x.device)
        for i in range(kh):
            dy = i * dh - ph  # the input row of output row y is y + dy
            y0, y1 = max(0, -dy), min(h, h - dy)
            if y1 <= y0:
                continue
            for j in range(kw):
                dx = j * dw - pw
                x0, x1 = max(0, -dx), min(w, w - dx)
                if x1 <= x0:
                    continue
                t = i * kw + j  # this tap's product, only over the input it reads: one 1x1 GEMM
                part = F.conv2d(x[:, :, y0 + dy : y1 + dy, x0 + dx : x1 + dx], getattr(self, f"tap{t}"))
                out[:, :, y0:y1, x0:x1] += part
        if self.taps_bias is not None:
            out += self.taps_bias
        layout = torch.channels_last if channels_last else torch.contiguous_format
        return out.to(product).contiguous(memory_format=layout)


def rewrite_dilated_convs(model: nn.Module) -> int:
    """Wrap every eligible dilated ``Conv2d`` of ``model`` in :class:`TapSumConv2d`; returns how many."""
    count = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if _eligible(child):
                setattr(module, child_name, TapSumConv2d(child))
                count += 1
    return count
