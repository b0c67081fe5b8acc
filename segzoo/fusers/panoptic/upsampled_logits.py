"""Semantic logits at a coarse stride, resized to the image only where a fuser needs values.

A panoptic network's semantic branch predicts ``K`` class logits at stride 4; the fusers decide
per image pixel (the semantic argmax, the mean class probability of each stuff segment).
Resizing all ``K`` channels to the image (``F.interpolate``, bilinear, ``align_corners=False``)
and reducing over them touches ``K x H x W`` values (35 M for COCO's 133 classes at 512x512),
which costs more than the fusion itself. :class:`UpsampledLogits` holds the coarse logits and
answers the two questions the fusers ask from the few channels that can matter at each pixel:

- **argmax.** A bilinear value is a convex combination of the four coarse values of its cell,
  so channel ``c`` lies in ``[min_c, max_c]`` of those four over the whole cell, and the best
  value at any point of the cell is at least the largest ``min_c`` and at least the smallest,
  over the corners, of the mean of the four corners' best channels. A channel whose cell
  maximum is below that bound can't win anywhere in the cell; the others (the candidates,
  usually one to three on a trained network) are interpolated at the cell's pixels and compared
  (the first channel wins a tie, as ``argmax``).
- **class probability** ``p_c = exp(v_c - logsumexp_k v_k)`` on the stuff pixels only, the
  log-sum-exp over the channels whose cell maximum is within ``LSE_MARGIN`` (30) of that bound;
  the others add less than ``K * exp(-30)`` (1e-11 relative) to the sum, far below float32's
  resolution.

Cells with more than 8 argmax candidates (where several classes meet) take every channel at
their pixels; when those pixels are more than a quarter of the image (random weights: near-ties
everywhere), the argmax falls back to the dense resize. The probability takes every channel at
the pixels whose cell has more than a quarter of them within the margin (cells across a class
boundary), and the dense resize when those are more than a quarter of the image.

When the resize factor is an integer (stride-4 logits of a padded input), the argmax runs cell
by cell on ``s x s`` blocks of pixels (``upsampled_blocks.py``), the same values without gathering
source rows and columns per pixel, and the log-sum-exp over every channel reads each cell's
corners once for its pixels (no dense fallback there: it costs less than the resize).

The values are float32 interpolations of the coarse values (taken in float32, also from a bf16
network) with the same source indices and weights as ``F.interpolate``; they can differ from
its result in the last bit (its kernel rounds in another order), so a label can differ only
where the two best channels are within float32 rounding of each other.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .upsampled_blocks import BlockGrid, block_axis

__all__ = [
    "UpsampledLogits", "LSE_MARGIN", "as_dense_logits", "channel_argmax", "channel_count", "channel_max",
    "semantic_argmax", "class_probability",
]

LSE_MARGIN = 30.0  # channels further below the cell's bound than this are left out of the log-sum-exp
_DENSE_SHARE = 0.25  # every channel at more than this share of the pixels: the dense resize is cheaper
_CHUNK = 2048  # pixels per step when every channel counts
_CELL_CHUNK = 8192  # pixels per step of the cell-by-cell path (whole cells)
_SLOTS = 8  # cells with more argmax candidates take every channel (at their pixels only)


def _source_index(in_size: int, out_size: int, keep: int, device: torch.device):
    """``F.interpolate``'s bilinear source rows for the first ``keep`` of ``out_size`` output rows
    (``align_corners=False``): ``(i0, i1, lambda)``, ``i1 = i0 + 1`` except on the last row."""
    scale = torch.tensor(in_size / out_size, dtype=torch.float32, device=device)
    dst = torch.arange(keep, dtype=torch.float32, device=device)
    src = ((dst + 0.5) * scale - 0.5).clamp(min=0)
    i0 = src.to(torch.int64).clamp(max=in_size - 1)
    lam = (src - i0.to(torch.float32)).clamp(0, 1)
    i1 = torch.where(i0 < in_size - 1, i0 + 1, i0)
    return i0, i1, lam


def channel_argmax(logits: torch.Tensor) -> torch.Tensor:
    """``(K, H, W)`` -> ``(H, W)`` int64: ``logits.argmax(0)``, the first maximal channel, from four
    vectorised passes (the maximum; where each channel reaches it; those hits weighted K..1; their
    maximum) instead of the strided scalar ``argmax`` over dimension 0."""
    return channel_max(logits)[1]


def channel_count(flags: torch.Tensor) -> torch.Tensor:
    """``(K, ...)`` bool -> ``(...)``: how many of the ``K`` are True, summed in the narrowest integer type
    that holds ``K`` (uint8 below 256 channels: no widened copy of the flags, as ``flags.sum(0)`` makes)."""
    k = flags.shape[0]
    if k < 256:
        return flags.view(torch.uint8).sum(0, dtype=torch.uint8)
    return flags.sum(0, dtype=torch.int16 if k < 32768 else torch.int64)


def channel_max(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(K, H, W)`` -> ``(values, indices)``, both ``(H, W)``: ``logits.max(0)`` with the first maximal
    channel, as :func:`channel_argmax` computes it."""
    k = logits.shape[0]
    if k == 0 or k > 32767 or not logits.is_floating_point():
        return logits.max(0)
    best = logits.amax(0)
    weights = torch.arange(k, 0, -1, device=logits.device, dtype=torch.uint8 if k < 256 else torch.int16)
    index = k - ((logits == best) * weights.view(k, *([1] * (logits.ndim - 1)))).amax(0).long()
    if bool((index == k).any()):  # NaN somewhere (no channel equals the maximum): argmax's own rule
        return logits.max(0)
    return best, index


class UpsampledLogits:
    """``(K, h, w)`` logits standing for ``F.interpolate(logits, size, mode="bilinear")[:, :H, :W]``.

    Args:
        logits: ``(K, h, w)`` coarse logits of one image.
        size: ``(Hp, Wp)`` the size they are resized to (the padded input).
        crop: ``(H, W)`` the image inside it (top-left); default ``size``.

    ``shape``/``dim()`` are the resized map's, so the fusers' argument checks accept it;
    :meth:`dense` materialises it, :meth:`argmax` and :meth:`class_probability` avoid that.
    """

    def __init__(self, logits: torch.Tensor, size: Sequence[int], crop: Sequence[int] | None = None) -> None:
        if logits.dim() != 3:
            raise ValueError(f"logits must be (K, h, w) for one image, got shape {tuple(logits.shape)}.")
        self.logits = logits.float().contiguous()  # float32, channels first (a network may hand channels-last bf16)
        self.size = (int(size[0]), int(size[1]))
        crop = self.size if crop is None else (int(crop[0]), int(crop[1]))
        if not (0 < crop[0] <= self.size[0] and 0 < crop[1] <= self.size[1]):
            raise ValueError(f"crop {crop} must lie inside the resized size {self.size}.")
        self.crop = crop
        self._dense: torch.Tensor | None = None
        self._argmax: torch.Tensor | None = None
        self._bounds: tuple[torch.Tensor, torch.Tensor] | None = None
        self._padded_values: torch.Tensor | None = None
        self._grid_values: tuple[torch.Tensor, ...] | None = None
        # values this large overflow the bounds' sums: such logits take the dense path
        if self.logits.numel():  # one pass; NaN fails the test too
            low, high = torch.aminmax(self.logits)
            self._finite = bool((low > -1e30) & (high < 1e30))
        else:
            self._finite = True
        self._blocks: BlockGrid | None | bool = False  # not looked at yet

    def _block_grid(self) -> BlockGrid | None:
        """The cell-by-cell layout when the resize factor is an integer (upsampled_blocks.py), else None."""
        if self._blocks is False:
            y0, y1, ly, x0, x1, lx = self._grid()
            (h, w), (hp, wp) = self.logits.shape[-2:], self.size
            ay, ax = block_axis(y0, y1, ly, h, hp), block_axis(x0, x1, lx, w, wp)
            ok = ay is not None and ax is not None and self._finite and self.logits.shape[0] > 0
            if ok:  # the cells holding pixels of the crop: coarse rows -1 .. n - 2, clamped (replicated edges)
                n_y, n_x = -(-(ay.start + self.crop[0]) // ay.scale), -(-(ax.start + self.crop[1]) // ax.scale)
                if (n_y, n_x) == (h + 1, w + 1):
                    padded = self._padded()
                else:
                    rows = torch.arange(-1, n_y, device=self.device).clamp(0, h - 1)
                    cols = torch.arange(-1, n_x, device=self.device).clamp(0, w - 1)
                    padded = self.logits.index_select(1, rows).index_select(2, cols)
                self._blocks = BlockGrid(padded, ay, ax, self.crop)
            else:
                self._blocks = None
        return self._blocks

    # tensor-like surface the fusers' checks use
    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.logits.shape[0], *self.crop))

    def dim(self) -> int:
        return 3

    @property
    def device(self) -> torch.device:
        return self.logits.device

    @property
    def dtype(self) -> torch.dtype:
        return self.logits.dtype  # float32

    def dense(self) -> torch.Tensor:
        """``(K, H, W)`` the resized logits (computed once)."""
        if self._dense is None:
            up = F.interpolate(self.logits[None], size=self.size, mode="bilinear", align_corners=False)[0]
            self._dense = up[:, : self.crop[0], : self.crop[1]]
        return self._dense

    # cells and their bounds
    def _grid(self):
        """Source rows and columns of the output pixels (computed once, on the logits' device)."""
        if self._grid_values is None:
            (h, w), (hp, wp), (hc, wc) = self.logits.shape[-2:], self.size, self.crop
            self._grid_values = (*_source_index(h, hp, hc, self.device), *_source_index(w, wp, wc, self.device))
        return self._grid_values

    def _padded(self) -> torch.Tensor:
        """``(K, h + 2, w + 2)`` the logits with one replicated row and column around (computed once)."""
        if self._padded_values is None:
            self._padded_values = F.pad(self.logits[None], (1, 1, 1, 1), mode="replicate")[0]
        return self._padded_values

    def _corners(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(K, h, w)`` float32 values at each cell's four corners: the cell's own (top left), the
        next column's, the next row's and the diagonal's (repeated on the last row/column); views."""
        p = self._padded()
        return p[:, 1:-1, 1:-1], p[:, 1:-1, 2:], p[:, 2:, 1:-1], p[:, 2:, 2:]

    def _cell_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(K, h, w)`` max of each channel over each cell's four corners, and ``(h, w)`` a lower
        bound of the best value anywhere in the cell (the larger of the largest per-channel minimum
        and the mean bound below): no value of a channel in the cell exceeds the first."""
        if self._bounds is None:
            x = self.logits
            hi, lo = x.clone(), x.clone()
            torch.maximum(x[:, :, :-1], x[:, :, 1:], out=hi[:, :, :-1])  # over the cell's two columns
            torch.minimum(x[:, :, :-1], x[:, :, 1:], out=lo[:, :, :-1])
            top, low = hi.clone(), lo.clone()
            torch.maximum(hi[:, :-1], hi[:, 1:], out=top[:, :-1])  # then over its two rows
            torch.minimum(lo[:, :-1], lo[:, 1:], out=low[:, :-1])
            # A second lower bound: the best value anywhere in the cell is at least the mean of the
            # corners' own best channels there, so at least its smallest value over the four corners
            # (tight where two classes meet: half way, not the losing side's value).
            corners = self._corners()
            am = channel_argmax(x)[None]  # (1, h, w) best channel of each coarse pixel, then at each corner
            right = torch.cat([am[:, :, 1:], am[:, :, -1:]], 2)
            best = [am, right, torch.cat([am[:, 1:], am[:, -1:]], 1), torch.cat([right[:, 1:], right[:, -1:]], 1)]
            mean = torch.stack([sum(c.gather(0, b)[0] for b in best) / 4 for c in corners]).amin(0)
            self._bounds = (top, torch.maximum(low.amax(0), mean))
        return self._bounds

    def argmax(self) -> torch.Tensor:
        """``(H, W)`` int64: the argmax over channels of the resized logits (computed once)."""
        if self._argmax is None:  # from the resize when a fuser made it already (UPSNet's panoptic logits)
            self._argmax = channel_argmax(self._dense) if self._dense is not None else self._compute_argmax()
        return self._argmax

    def _compute_argmax(self) -> torch.Tensor:
        k = self.logits.shape[0]
        if k == 0 or not self._finite:
            return channel_argmax(self.dense())
        if self._block_grid() is not None:
            return self._block_argmax()
        top, floor = self._cell_bounds()
        candidate = top >= floor
        count = channel_count(candidate)  # (h, w) candidates per cell
        hard_cells = count > _SLOTS  # e.g. where several classes meet: every channel there
        y0, _, ly, x0, _, lx = self._grid()
        hard = hard_cells.index_select(0, y0).index_select(1, x0)  # (H, W)
        n_hard, m = (int(v) for v in torch.stack([hard.sum(), count.clamp(max=_SLOTS).max()]).tolist())  # one sync
        if n_hard > _DENSE_SHARE * hard.numel():
            return channel_argmax(self.dense())
        slots = self._candidate_slots(candidate, m)  # (m, h, w), increasing channel order
        if m == 1:
            label = slots[0].index_select(0, y0).index_select(1, x0)
        else:
            corners = [c.gather(0, slots) for c in self._corners()]  # (m, h, w) each
            wy, wx = ly[:, None], lx[None, :]
            best = best_slot = None
            for j in range(m):  # rows first, then between rows (up to rounding, F.interpolate's weights)
                a, b, c, d = (corner[j].index_select(1, x0) for corner in corners)  # (h, W)
                upper, lower = torch.lerp(a, b, wx), torch.lerp(c, d, wx)
                value = torch.lerp(upper.index_select(0, y0), lower.index_select(0, y0), wy)  # (H, W)
                if best is None:
                    best, best_slot = value, torch.zeros(value.shape, dtype=torch.uint8, device=value.device)
                else:  # strict: on a tie the earlier (lower) channel stays
                    better = value > best
                    best = torch.maximum(best, value)
                    best_slot.masked_fill_(better, j)
            h, w = top.shape[-2:]
            cell = (y0 * w)[:, None] + x0[None, :]
            label = slots.reshape(-1).take(best_slot.to(torch.int64) * (h * w) + cell)
        if n_hard:  # every channel at those pixels, in chunks whose K values stay in cache
            rows, cols = torch.nonzero(hard, as_tuple=True)
            label[rows, cols] = torch.cat([
                self.values_at(None, rows[i : i + _CHUNK], cols[i : i + _CHUNK]).argmax(0)
                for i in range(0, n_hard, _CHUNK)
            ])  # fmt: skip
        return label

    def _block_argmax(self) -> torch.Tensor:
        """:meth:`argmax` cell by cell (upsampled_blocks.py): the same candidates, bounds and values."""
        grid = self._block_grid()
        top, floor = grid.bounds()
        candidate = top >= floor
        count = channel_count(candidate)  # candidates per cell
        hard = count > _SLOTS
        sy, sx = grid.ay.scale, grid.ax.scale
        hard_pixels = grid.to_image(hard[:, None, :, None].expand(-1, sy, -1, sx)).sum()
        most = count.clamp(max=_SLOTS).max().long()
        n_hard, m = (int(v) for v in torch.stack([hard_pixels, most]).tolist())  # one sync
        if n_hard > _DENSE_SHARE * self.crop[0] * self.crop[1]:
            return channel_argmax(self.dense())
        slots = self._candidate_slots(candidate, m)  # (m, h + 1, w + 1), increasing channel order
        cells = slots[:, :, None, :, None].expand(-1, -1, sy, -1, sx)
        if m == 1:
            label = cells[0].clone()
        else:  # the first slot (lowest channel) wins a tie, as argmax
            values = grid.values(*(c.gather(0, slots) for c in grid.corners()))  # (m, h + 1, sy, w + 1, sx)
            label = cells.gather(0, channel_argmax(values)[None])[0]
        if n_hard:  # every channel in those cells, a few cells at a time
            ci, cj = torch.nonzero(hard, as_tuple=True)
            step = max(1, _CELL_CHUNK // (sy * sx))
            for i in range(0, ci.shape[0], step):
                a, b = ci[i : i + step], cj[i : i + step]
                label[a, :, b, :] = grid.cell_values(None, a, b).argmax(0)
        return grid.to_image(label)

    @staticmethod
    def _candidate_slots(candidate: torch.Tensor, m: int) -> torch.Tensor:
        """``(K, h, w)`` bool -> ``(m, h, w)`` int64: the first ``m`` candidate channels of each cell in
        increasing order (cells with fewer repeat their first one)."""
        k, h, w = candidate.shape
        channel, cell = torch.nonzero(candidate.reshape(k, h * w), as_tuple=True)  # sorted by channel, then cell
        order = torch.argsort(cell, stable=True)  # by cell, then channel
        cell, channel = cell[order], channel[order]
        counts = torch.bincount(cell, minlength=h * w)
        rank = torch.arange(cell.shape[0], device=cell.device) - (counts.cumsum(0) - counts)[cell]
        keep = rank < m
        slots = torch.full((m, h * w), -1, dtype=torch.int64, device=candidate.device)
        slots[rank[keep], cell[keep]] = channel[keep]
        slots = torch.where(slots < 0, slots[:1], slots)
        return slots.view(m, h, w)

    def values_at(self, channels: torch.Tensor | None, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Bilinear values of ``channels[..., p]`` (every channel when None: ``(K, P)``) at the output
        pixels ``(rows[p], cols[p])``, from the padded logits (the same corners as :meth:`_corners`)."""
        padded = self._padded()
        k, hp, wp = padded.shape
        y0, _, ly, x0, _, lx = self._grid()
        cell = (y0[rows] + 1) * wp + x0[cols] + 1
        if channels is None:
            flat = padded.reshape(k, hp * wp)
            a, b, c, d = (flat.index_select(1, cell + o) for o in (0, 1, wp, wp + 1))
        else:
            index = channels * (hp * wp) + cell
            a, b, c, d = (padded.reshape(-1).take(index + o) for o in (0, 1, wp, wp + 1))
        wy, wx = ly[rows], lx[cols]
        return torch.lerp(torch.lerp(a, b, wx), torch.lerp(c, d, wx), wy)

    def window_values(self, channel: int, rows: slice, cols: slice) -> torch.Tensor:
        """``(len(rows), len(cols))`` the bilinear values of one channel over a window of output pixels
        (the same corners, weights and order as :meth:`values_at`)."""
        padded = self._padded()[channel]
        y0, _, ly, x0, _, lx = self._grid()
        r, c = y0[rows] + 1, x0[cols] + 1  # the window's cells in the padded map
        top, bottom = padded.index_select(0, r), padded.index_select(0, r + 1)
        wx, wy = lx[cols], ly[rows, None]
        upper = torch.lerp(top.index_select(1, c), top.index_select(1, c + 1), wx)
        return torch.lerp(upper, torch.lerp(bottom.index_select(1, c), bottom.index_select(1, c + 1), wx), wy)

    def _pixel_bounds(self, rows: torch.Tensor, cols: torch.Tensor):
        """``(top (K, C), floor (C,), cell (P,))``: the cell bounds of the block or the general layout,
        flattened, and the cell of each output pixel ``(rows[p], cols[p])``."""
        grid = self._block_grid()
        if grid is not None:
            top, floor = grid.bounds()
            cell = grid.pixel_cells(rows, cols)
        else:
            top, floor = self._cell_bounds()
            y0, _, _, x0, _, _ = self._grid()
            cell = y0[rows] * top.shape[-1] + x0[cols]
        return top.reshape(top.shape[0], -1), floor.reshape(-1), cell

    def class_probability(self, classes: torch.Tensor) -> torch.Tensor:
        """``(H, W)`` float32: the softmax probability of ``classes[y, x]`` at each pixel where it is
        ``>= 0``, 0 elsewhere; see the module docstring."""
        out = torch.zeros(self.crop, dtype=torch.float32, device=self.device)
        where = torch.nonzero(classes >= 0)
        if where.shape[0] == 0:
            return out
        cells = self._block_grid() is not None  # the log-sum-exp by cells costs less than reading a resize
        if self._dense is not None and not cells:  # already resized (UPSNet's panoptic logits): read it
            return class_probability(self._dense, classes)
        rows, cols = where[:, 0], where[:, 1]
        k = self.logits.shape[0]
        cap = max(1, int(_DENSE_SHARE * k))
        if self._finite:
            top, floor, cell = self._pixel_bounds(rows, cols)
            near = channel_count(top >= floor - LSE_MARGIN)[cell]  # channels that count at each pixel
            easy = near <= cap  # most pixels; cells across a class boundary may need every channel
        else:
            easy = torch.zeros_like(rows, dtype=torch.bool)
        hard = ~easy
        n_hard = int(hard.sum())  # one host sync
        if n_hard > _DENSE_SHARE * classes.numel() and not cells:  # many pixels need every channel: resize all
            return class_probability(self.dense(), classes)
        lse = torch.empty(rows.shape, dtype=torch.float32, device=self.device)
        if n_hard < rows.shape[0]:
            e_rows, e_cols = rows[easy], cols[easy]
            m = int(near[easy].max())
            channels = top.topk(m, dim=0).indices[:, cell[easy]]  # (m, S_easy)
            lse[easy] = torch.logsumexp(self.values_at(channels, e_rows, e_cols), dim=0)
        grid = self._block_grid()
        if n_hard and grid is not None:  # every channel, cell by cell (upsampled_blocks.py)
            h_index = torch.nonzero(hard).squeeze(1)
            values, done = grid.log_sum_exp(rows[h_index], cols[h_index])
            lse[h_index] = values
            hard[h_index[~done]] = True  # cells too spread out for the shifted sums: below, pixel by pixel
            hard[h_index[done]] = False
            n_hard = int(hard.sum())
        if n_hard:  # every channel, in chunks of pixels whose K values stay in cache
            h_rows, h_cols = rows[hard], cols[hard]
            lse[hard] = torch.cat([
                torch.logsumexp(self.values_at(None, h_rows[i : i + _CHUNK], h_cols[i : i + _CHUNK]), dim=0)
                for i in range(0, n_hard, _CHUNK)
            ])  # fmt: skip
        own = self.values_at(classes[rows, cols].to(torch.int64), rows, cols)
        out[rows, cols] = torch.exp(own - lse)
        return out


def as_dense_logits(sem_logits) -> torch.Tensor:
    """A ``(K, H, W)`` tensor of ``sem_logits`` (materialising an :class:`UpsampledLogits`)."""
    return sem_logits.dense() if isinstance(sem_logits, UpsampledLogits) else sem_logits


def semantic_argmax(sem_logits) -> torch.Tensor:
    """``(H, W)`` int64 argmax over the channels of a tensor or an :class:`UpsampledLogits`."""
    if isinstance(sem_logits, UpsampledLogits):
        return sem_logits.argmax()
    return channel_argmax(sem_logits)


def class_probability(sem_logits, classes: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` softmax probability of ``classes[y, x]`` (``>= 0``; 0 elsewhere) under ``sem_logits``."""
    if isinstance(sem_logits, UpsampledLogits):
        return sem_logits.class_probability(classes)
    logits = sem_logits.float()
    where = torch.nonzero((classes >= 0).reshape(-1)).squeeze(1)
    if where.shape[0] > classes.numel() // 3:  # many pixels: the whole map (gathering costs more)
        cls = classes.clamp(min=0)
        return torch.exp(logits.gather(0, cls[None])[0] - torch.logsumexp(logits, dim=0)) * (classes >= 0)
    out = torch.zeros(classes.shape, dtype=torch.float32, device=logits.device)
    values = logits.reshape(logits.shape[0], -1).index_select(1, where)  # (K, P): only the pixels asked for
    own = values.gather(0, classes.reshape(-1)[where].to(torch.int64)[None])[0]
    out.view(-1)[where] = torch.exp(own - torch.logsumexp(values, dim=0))
    return out
