"""Local-window message passing for the dense CRF (``method="local"``).

After ConvCRF (Teichmann & Cipolla, "Convolutional CRFs for Semantic Segmentation",
arXiv:1805.04777): the pairwise kernels of Krahenbuhl & Koltun (arXiv:1210.5644) are
evaluated *exactly* but only between pixels at most ``window // 2`` cells apart, on a grid
downsampled by ``blur``:

- each ``blur`` x ``blur`` cell carries the sum of its pixels' Q, the mean of their
  positions and colours, and their count (partial cells at the border are exact);
- per kernel, k(i, j) = exp(-|f_i - f_j|^2 / 2) between cell features, normalised
  symmetrically as in pydensecrf (n_i = 1 / sqrt(sum_j k(i, j) count_j) within the window);
- the kernels are merged once per image into one weight per (cell, offset):
  W_o(i) = sum_m w_m n_m(i) n_m(i+o) k_m(i, i+o), so an iteration costs window^2 fused
  multiply-adds per cell and label, then a bilinear upsampling back to pixels.

With ``blur=1`` the message is the exact normalised Gaussian filter truncated to the window.
Trade-off: the permutohedral lattice approximates the *full* kernel (the 80 px bilateral
reaches the whole image); the local window drops every interaction beyond
``window // 2 * blur`` px (20 px for 11x11 at blur 4), so long-range colour consistency is
lost, while the kernel shape inside the window is exact and the cost is regular dense tensor
work (fast on GPUs; on this CPU it is compared in ``benchmarks/crf_speed.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .inputs import KernelSpec, abs_weights
from .solver import LOG2E, mean_field

__all__ = ["LocalMessage", "run_local"]


def _sum_pool(x: torch.Tensor, blur: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, ceil(H/blur), ceil(W/blur)) sums over blur x blur cells."""
    if blur == 1:
        return x
    # ceil_mode covers partial border cells; divisor 1 turns the average into a sum (3x faster than view+sum)
    return F.avg_pool2d(x, blur, blur, ceil_mode=True, divisor_override=1)


def _shifted(x: torch.Tensor, span: int):
    """Yield views of x (B, C, h, w) zero-padded by ``span``, one per window offset (dy, dx)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (span, span, span, span))
    for dy in range(2 * span + 1):
        for dx in range(2 * span + 1):
            yield padded[..., dy : dy + h, dx : dx + w]


class LocalMessage:
    """Q (B, C, H, W) -> log2(e) * sum_m w_m n_m * K_m(n_m * Q), kernels truncated to a window
    (in bits, like ``PermutohedralMessage``)."""

    def __init__(self, images: torch.Tensor, specs: list[KernelSpec], *, window: int, blur: int, dtype):
        b, _, h, w = images.shape
        self.size, self.blur, self.span = (h, w), blur, window // 2
        self.weights = [spec.weight for spec in specs]
        device = images.device
        y, x = torch.meshgrid(torch.arange(h, dtype=dtype, device=device),
                              torch.arange(w, dtype=dtype, device=device), indexing="ij")
        count = _sum_pool(torch.ones(1, 1, h, w, dtype=dtype, device=device), blur)  # (1, 1, h', w')
        cells = _sum_pool(torch.cat([x.expand(b, 1, h, w), y.expand(b, 1, h, w), images.to(dtype)], 1), blur) / count
        self.kernels, self.norms = [], []
        for spec in specs:
            scale = torch.tensor(spec.sxy + (spec.srgb or ()), dtype=dtype, device=device).view(1, -1, 1, 1)
            feats = cells[:, : scale.shape[1]] / scale  # (B, 2 or 5, h', w')
            # (B, window^2, h', w'): exp(-|f_i - f_(i+o)|^2 / 2); zero outside the image
            counts = count.expand(b, 1, -1, -1)
            k = torch.stack([torch.exp(-0.5 * ((feats - f) ** 2).sum(1)) * (c[:, 0] > 0)
                             for f, c in zip(_shifted(feats, self.span), _shifted(counts, self.span))], 1)
            mass = sum(kj * c[:, 0] for kj, c in zip(k.unbind(1), _shifted(counts, self.span)))
            self.kernels.append(k)
            self.norms.append(mass.clamp_min(1e-20).rsqrt()[:, None])  # (B, 1, h', w')
        self.merged = self._merge(self.weights)

    def _merge(self, weights) -> torch.Tensor:
        """(B, window^2, h', w') combined normalised kernel weights W_o(i)."""
        total = 0
        for k, n, wm in zip(self.kernels, self.norms, weights):
            n_shift = torch.cat(list(_shifted(n, self.span)), 1)  # (B, window^2, h', w')
            total = total + wm * (n * n_shift * k)
        return total * LOG2E  # messages in bits, as mean_field expects

    def __call__(self, q: torch.Tensor, weights: list | None = None) -> torch.Tensor:
        merged = self.merged if weights is None else self._merge(weights)
        cells = _sum_pool(q, self.blur)  # (B, C, h', w')
        out = torch.zeros_like(cells)
        for o, shifted in enumerate(_shifted(cells, self.span)):
            out.addcmul_(merged[:, o : o + 1], shifted)
        if self.blur > 1:
            # bilinear from cell centres to pixels at the exact size (scale = blur, no crop copy)
            out = torch.ops.aten.upsample_bilinear2d(out, list(self.size), False, float(self.blur), float(self.blur))
        return out

    def bound(self) -> float:
        """Largest possible message entry (Q sums to 1 per pixel)."""
        ones = torch.ones(self.merged.shape[0], 1, *self.size, dtype=self.merged.dtype, device=self.merged.device)
        return float(self(ones, abs_weights(self.weights)).max())


def run_local(logq0s, images, specs, *, window: int, blur: int, log_rests=None, **options):
    """Mean field with ``LocalMessage``; images of equal size run as one batch (on the CPU one
    image at a time, which keeps the working set in cache). Returns lists of (K, H, W) Q and
    (H, W) log normalisers."""
    if not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ValueError(f"window must be an odd positive int (e.g. 7 or 11), got {window!r}")
    if not isinstance(blur, int) or blur < 1:
        raise ValueError(f"blur must be a positive int (1 = full resolution), got {blur!r}")
    qs, log_zs = [None] * len(logq0s), [None] * len(logq0s)
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, lq in enumerate(logq0s):
        by_size.setdefault(tuple(lq.shape[1:]), []).append(i)
    groups = list(by_size.values())
    if logq0s[0].device.type == "cpu":
        groups = [[i] for idx in groups for i in idx]
    for idx in groups:
        logq0 = torch.stack([logq0s[i] for i in idx])  # (B, K, H, W)
        log_rest = None if log_rests is None else torch.stack([log_rests[i] for i in idx])[:, None]  # (B, 1, H, W)
        batch = torch.stack([images[i] for i in idx])
        message = LocalMessage(batch, specs, window=window, blur=blur, dtype=logq0.dtype)
        q, log_z = mean_field(logq0, message, log_rest=log_rest, **options)
        for j, i in enumerate(idx):
            qs[i], log_zs[i] = q[j], log_z[j, 0]
    return qs, log_zs
