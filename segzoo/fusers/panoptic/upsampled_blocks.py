""":class:`UpsampledLogits`' semantic argmax when the resize factor is an integer, cell by cell.

When the resized map is exactly ``s`` times the coarse one (a panoptic network's stride-4
semantic logits resized to its padded input: ``s = 4``), ``F.interpolate``'s bilinear rows
(``align_corners=False``) come in blocks of ``s`` consecutive rows per coarse cell, with the
same ``s`` weights in every block; the first ``s // 2`` rows and the last ones read one coarse
row only. Padding the coarse map with one replicated row and column on each side makes those
partial blocks whole (a lerp between two equal values is that value), so the resized map is
``(h + 1) x (w + 1)`` cells of ``s x s`` pixels, shifted by ``s - s // 2`` pixels. Every
per-pixel value is then a broadcast of the cell's four corners against the ``s`` row and ``s``
column weights: no gather of source rows and columns per pixel, which dominated the time of
the general path (``upsampled_logits.py``), and the same ``torch.lerp`` of the same corners
with the same weights, so the same values to the bit. Where a class probability needs every
channel, :meth:`BlockGrid.log_sum_exp` reads each cell's corners once for all its pixels.

Only the cells that hold pixels of the crop are laid out (a small image in a large padded batch
pays for its own cells).

:func:`block_axis` checks the layout against ``F.interpolate``'s source indices and weights
(``_source_index``) rather than assuming it: any size where they differ takes the general path.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = ["BlockAxis", "block_axis", "BlockGrid"]


class BlockAxis(NamedTuple):
    """One axis of the block layout: ``scale`` pixels per cell, output pixel 0 at position
    ``start`` of the cells laid end to end, and the ``(scale,)`` float32 ``weights`` of a block."""

    scale: int
    start: int
    weights: torch.Tensor


def block_axis(i0: torch.Tensor, i1: torch.Tensor, lam: torch.Tensor, in_size: int, out_size: int) -> BlockAxis | None:
    """The block layout of one axis, or ``None`` when ``(i0, i1, lam)`` (``F.interpolate``'s source
    indices and weights of the kept output pixels) don't follow it exactly."""
    s = out_size // in_size
    if s < 2 or s * in_size != out_size or i0.numel() == 0:
        return None
    start = s - s // 2
    q = torch.arange(i0.shape[0], device=i0.device) + start
    cell, pos = q // s, q % s  # cell of the padded map (0..in_size) and position in its block
    first, second = (cell - 1).clamp(0, in_size - 1), cell.clamp(0, in_size - 1)  # coarse rows it reads
    interior = (cell >= 1) & (cell < in_size)
    weights = torch.zeros(s, dtype=lam.dtype, device=lam.device)
    weights[pos[interior]] = lam[interior]
    same = (first == i0) & (second == i1) & (weights[pos] == lam)
    # a block reading one row twice equals F.interpolate's value there when it reads that row only
    flat = (first == second) & (first == i0) & ((lam == 0) | (i1 == i0))
    if not bool((same | flat).all()):
        return None
    return BlockAxis(s, start, weights)


class BlockGrid:
    """Coarse ``(K, h, w)`` float32 logits (finite, below 1e30 in magnitude) as ``(h + 1) x (w + 1)``
    cells of ``sy x sx`` output pixels; the output ``crop`` starts at ``(ay.start, ax.start)``."""

    def __init__(self, padded: torch.Tensor, ay: BlockAxis, ax: BlockAxis, crop: tuple[int, int]) -> None:
        self.padded = padded  # (K, h + 2, w + 2): the logits with one replicated row and column around
        self.ay, self.ax, self.crop = ay, ax, crop
        k, hp, wp = self.padded.shape
        self.cells = (hp - 1, wp - 1)
        self._bounds: tuple[torch.Tensor, torch.Tensor] | None = None

    def pixel_cells(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Index of each output pixel's cell among the ``(h + 1) * (w + 1)`` cells (row-major)."""
        return (rows + self.ay.start) // self.ay.scale * self.cells[1] + (cols + self.ax.start) // self.ax.scale

    def corners(self) -> tuple[torch.Tensor, ...]:
        """``(K, h + 1, w + 1)`` views: each cell's top-left, top-right, bottom-left and bottom-right values."""
        p = self.padded
        return p[:, :-1, :-1], p[:, :-1, 1:], p[:, 1:, :-1], p[:, 1:, 1:]

    def bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(K, h + 1, w + 1)`` each channel's maximum over each cell, and ``(h + 1, w + 1)`` a lower
        bound of the best value anywhere in the cell (the largest per-channel minimum, or the
        smallest over the corners of the mean of the four corners' best channels there); computed once."""
        if self._bounds is None:
            self._bounds = self._compute_bounds()
        return self._bounds

    def _compute_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        a, b, c, d = self.corners()
        top = torch.maximum(a, b)  # in place from there: one full-size buffer each (fewer fresh pages)
        low = torch.minimum(a, b)
        for corner in (c, d):
            torch.maximum(top, corner, out=top)
            torch.minimum(low, corner, out=low)
        # a best channel of each coarse pixel (ties don't matter for a bound): the last channel equal to
        # the maximum, from vectorised passes (a strided argmax over the channels is several times slower)
        k = self.padded.shape[0]
        hits = self.padded == self.padded.amax(0)
        small = torch.uint8 if k < 256 else torch.int16 if k < 32768 else torch.int32
        weights = torch.arange(1, k + 1, dtype=small, device=hits.device)
        best = ((hits * weights[:, None, None]).amax(0).long() - 1).clamp(min=0)[None]  # (1, h + 2, w + 2)
        ends = (best[:, :-1, :-1], best[:, :-1, 1:], best[:, 1:, :-1], best[:, 1:, 1:])
        mean = torch.stack([sum(c.gather(0, b)[0] for b in ends) / 4 for c in self.corners()]).amin(0)
        return top, torch.maximum(low.amax(0), mean)

    @torch.no_grad()  # the argmax compares them; writing into slices (out=) takes no gradient
    def values(self, a, b, c, d) -> torch.Tensor:
        """Corner values ``(..., h', w')`` -> ``(..., h', sy, w', sx)`` bilinear values of the cells'
        pixels (rows first, then between rows, as ``UpsampledLogits`` and up to rounding F.interpolate).
        One lerp per weight over whole corner tensors: broadcasting the ``s`` weights instead would
        make ``s`` the kernels' inner loop, several times slower. Each lerp writes straight into its
        slice of the result (no stacking copies)."""
        wx, wy = self.ax.weights.tolist(), self.ay.weights.tolist()
        shape = torch.broadcast_shapes(a.shape, b.shape, c.shape, d.shape)
        upper = a.new_empty((*shape, len(wx)))  # (..., h', w', sx)
        lower = a.new_empty((*shape, len(wx)))
        for j, w in enumerate(wx):
            torch.lerp(a, b, w, out=upper[..., j])
            torch.lerp(c, d, w, out=lower[..., j])
        out = a.new_empty((*shape[:-1], len(wy), shape[-1], len(wx)))  # (..., h', sy, w', sx)
        for i, w in enumerate(wy):
            torch.lerp(upper, lower, w, out=out[..., i, :, :])
        return out

    def cell_values(self, channels: torch.Tensor | None, ci: torch.Tensor, cj: torch.Tensor) -> torch.Tensor:
        """Values of ``channels (m, n)`` (every channel when None) in the cells ``(ci, cj)`` -> ``(m, n, sy, sx)``."""
        k, hp, wp = self.padded.shape
        flat = self.padded.reshape(k, hp * wp)
        cell = ci * wp + cj
        if channels is None:
            a, b, c, d = (flat.index_select(1, cell + o) for o in (0, 1, wp, wp + 1))  # the four corners
        else:
            a, b, c, d = (flat.reshape(-1).take(channels * (hp * wp) + cell + o) for o in (0, 1, wp, wp + 1))
        values = self.values(*(t[..., None] for t in (a, b, c, d)))  # (m, n, sy, 1, sx)
        return values.squeeze(-2)

    def log_sum_exp(
        self, rows: torch.Tensor, cols: torch.Tensor, *, chunk: int = 512
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lse (P,), done (P,) bool)``: the log-sum-exp over every channel at the output pixels
        ``(rows[p], cols[p])``, computed for whole cells, ``chunk`` cells at a time: each cell's
        corners are read once for its ``sy x sx`` pixels, shifted by the cell's lower bound of the
        best value (so the exponentials neither overflow nor vanish), and the sum of exponentials
        needs no per-pixel maximum. Pixels of cells whose channels spread too far above that bound
        for float32 are not done (``done`` False): take ``torch.logsumexp`` there; nor is any pixel when
        they are so scattered that whole cells hold over three times as many pixels."""
        k, hp, wp = self.padded.shape
        (sy, sx), width = (self.ay.scale, self.ax.scale), self.cells[1]
        top, floor = self.bounds()
        cell = self.pixel_cells(rows, cols)
        cells, inverse = torch.unique(cell, return_inverse=True)
        if cells.shape[0] * sy * sx > 3 * rows.shape[0]:  # scattered pixels: whole cells would cost more
            nothing = torch.zeros(rows.shape, dtype=self.padded.dtype, device=rows.device)
            return nothing, torch.zeros_like(rows, dtype=torch.bool)
        shift = floor.reshape(-1)[cells]  # (n,)
        headroom = 80.0 - math.log(max(k, 1))  # exp(headroom) * K stays below float32's maximum
        safe = top.amax(0).reshape(-1)[cells] - shift < headroom
        base = cells // width * wp + cells % width  # each cell's top-left corner in the padded map
        flat = self.padded.reshape(k, hp * wp)
        wx, wy = self.ax.weights.tolist(), self.ay.weights.tolist()
        sums = torch.empty((cells.shape[0], sy, sx), dtype=flat.dtype, device=flat.device)
        for i in range(0, cells.shape[0], chunk):
            at, below = base[i : i + chunk], shift[i : i + chunk]
            a, b, c, d = (flat.index_select(1, at + o) - below for o in (0, 1, wp, wp + 1))  # (K, n)
            upper = [torch.lerp(a, b, w) for w in wx]
            lower = [torch.lerp(c, d, w) for w in wx]
            for y, v in enumerate(wy):
                for x in range(sx):
                    sums[i : i + chunk, y, x] = torch.lerp(upper[x], lower[x], v).exp_().sum(0)
        lse = sums.log_() + shift[:, None, None]
        position = (rows + self.ay.start) % sy, (cols + self.ax.start) % sx
        return lse[inverse, position[0], position[1]], safe[inverse]

    def to_image(self, blocks: torch.Tensor) -> torch.Tensor:
        """``(..., h + 1, sy, w + 1, sx)`` -> ``(..., H, W)``: the crop of the cells laid end to end."""
        (h, w), (sy, sx) = self.cells, (self.ay.scale, self.ax.scale)
        image = blocks.reshape(*blocks.shape[:-4], h * sy, w * sx)
        return image[..., self.ay.start : self.ay.start + self.crop[0], self.ax.start : self.ax.start + self.crop[1]]
