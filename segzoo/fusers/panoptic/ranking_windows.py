"""OANet's ranking input and rank scores computed from the paste windows only.

Liu et al., "An End-to-End Network for Panoptic Segmentation" (OANet), arXiv:1903.05027, Sec. 3.3;
the whole-image versions are in ``spatial_ranking.py``. A pasted mask is empty outside its paste
window (``PanopticModel.instances``' ``windows``), so:

- **category channels at stride 4**: each class's masks are merged (max) only over the union of
  its windows, and that block is resized with the antialiased bilinear resize written as two
  matrices (``F.interpolate``'s own weights, taken from resizing an identity): ``A_y @ block @
  A_x^T``, each matrix cut to the band of output rows its input rows reach (an output row outside it
  is 0). No full-image channel is built or resized.
- **rank scores**: the ranking map stays at stride 4; its bilinear values are computed over each
  instance's window only, where the mean of ``sigmoid(map)`` over the mask is taken: by
  ``F.interpolate`` of the coarse cells the window reads (with one cell of margin, so each pixel
  reads the same source cells as in the whole map's resize; the weights and the kernel's rounding
  can differ in the last bits) when the image is a whole multiple of the map, else by
  :meth:`UpsampledLogits.window_values`.

Both equal the whole-image computation in float32 up to rounding (the sums run in another order;
the products run in float64, also under autocast), so two instances whose rank scores differ by a
few ulps may swap places.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .upsampled_logits import UpsampledLogits

__all__ = ["antialias_matrix", "category_channels_in_windows", "rank_scores_in_windows"]


@functools.lru_cache(maxsize=16)
def _antialias_matrix(size_in: int, size_out: int, device: str) -> torch.Tensor:
    eye = torch.eye(size_in, device=device)[None, None]  # resizing rows of an identity gives each row's weights
    return F.interpolate(eye, size=(size_out, size_in), mode="bilinear", align_corners=False, antialias=True)[0, 0]


def antialias_matrix(size_in: int, size_out: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(size_out, size_in)`` float32: the weights of ``F.interpolate(..., mode="bilinear",
    antialias=True)`` along one axis (row ``o`` holds output ``o``'s weights of the input pixels)."""
    return _antialias_matrix(int(size_in), int(size_out), str(device))


@functools.lru_cache(maxsize=16)
def _reach(size_in: int, size_out: int, device: str) -> tuple[list[int], list[int]]:
    """For each input pixel, the first output row of :func:`antialias_matrix` that weighs it and one past the last."""
    weighs = _antialias_matrix(size_in, size_out, device) != 0  # (size_out, size_in)
    rows = torch.arange(size_out, device=weighs.device)[:, None]
    first = torch.where(weighs, rows, size_out).amin(0)
    last = torch.where(weighs, rows + 1, 0).amax(0)
    return first.tolist(), last.tolist()


def _band(size_in: int, size_out: int, device: torch.device, start: int, stop: int) -> tuple[int, int]:
    """``(first, stop)``: the output rows whose weights of the input pixels ``start:stop`` are not all 0."""
    first, last = _reach(int(size_in), int(size_out), str(device))
    return min(first[start:stop]), max(last[start:stop])


def category_channels_in_windows(
    masks: torch.Tensor, channel: torch.Tensor, windows: torch.Tensor, *, num_channels: int, size: tuple[int, int]
) -> torch.Tensor:
    """``(T, h, w)`` float32: binary ``masks (N, H, W)`` (bool) merged by ``channel (N,)`` and resized to
    ``size`` (antialiased bilinear), reading each mask only inside its window."""
    big_h, big_w = masks.shape[-2:]
    out = torch.zeros((num_channels, *size), dtype=torch.float32, device=masks.device)
    if masks.shape[0] == 0:
        return out
    a_y = antialias_matrix(big_h, size[0], masks.device)
    a_x = antialias_matrix(big_w, size[1], masks.device)
    rows = windows.tolist()
    by_channel: dict[int, list[int]] = {}
    for i, c in enumerate(channel.tolist()):  # one host copy
        if rows[i][1] > rows[i][0] and rows[i][3] > rows[i][2]:
            by_channel.setdefault(c, []).append(i)
    steps = (big_h // size[0], big_w // size[1])
    whole = all(n == step * m and step >= 2 for n, m, step in zip((big_h, big_w), size, steps))
    for c, members in by_channel.items():
        y0, y1 = min(rows[i][0] for i in members), max(rows[i][1] for i in members)
        x0, x1 = min(rows[i][2] for i in members), max(rows[i][3] for i in members)
        # only the output rows and columns the block reaches (the antialiased resize is banded: at stride 4
        # an output reads 8 input pixels): the others are exactly 0
        oy0, oy1 = _band(big_h, size[0], masks.device, y0, y1)
        ox0, ox1 = _band(big_w, size[1], masks.device, x0, x1)
        if whole:  # resize the block with F.interpolate itself: the same weights and sums, the same values
            (sy, sx), (h, w) = steps, size
            top, left = max(oy0 - 1, 0), max(ox0 - 1, 0)  # an output reads less than a step each side
            bottom, right = min(oy1 + 1, h), min(ox1 + 1, w)  # of its own: these hold the whole of their reach
            y0, y1, x0, x1 = top * sy, bottom * sy, left * sx, right * sx
        block = torch.zeros((y1 - y0, x1 - x0), dtype=torch.uint8, device=masks.device)
        for i in members:
            wy0, wy1, wx0, wx1 = rows[i]
            target = block[wy0 - y0 : wy1 - y0, wx0 - x0 : wx1 - x0]
            torch.maximum(target, masks[i, wy0:wy1, wx0:wx1].view(torch.uint8), out=target)
        if whole:
            resized = F.interpolate(
                block[None, None].to(torch.float32), size=(bottom - top, right - left), mode="bilinear",
                align_corners=False, antialias=True,
            )[0, 0]  # fmt: skip
            out[c, oy0:oy1, ox0:ox1] = resized[oy0 - top : oy1 - top, ox0 - left : ox1 - left]
            continue
        with torch.autocast(masks.device.type, enabled=False):  # float64: no bf16 autocast, no TF32
            product = a_y[oy0:oy1, y0:y1].double() @ block.double() @ a_x[ox0:ox1, x0:x1].double().t()
        out[c, oy0:oy1, ox0:ox1] = product.to(torch.float32)
    return out


def rank_scores_in_windows(
    ranking_map: torch.Tensor, masks: torch.Tensor, channel: torch.Tensor, windows: torch.Tensor
) -> torch.Tensor:
    """``(N,)`` mean of ``sigmoid`` of the bilinear resize of ``ranking_map (T, h, w)`` to the masks'
    ``(H, W)``, in channel ``channel[i]``, over each binary mask ``masks[i]`` (0 for an empty mask);
    the map's values are computed over each window only."""
    n, size = masks.shape[0], tuple(masks.shape[-2:])
    if n == 0:
        return torch.zeros(0, dtype=torch.float32, device=masks.device)
    (h, w), (big_h, big_w) = ranking_map.shape[-2:], size
    whole = big_h % h == 0 and big_w % w == 0  # an integer factor: resize each window's cells with F.interpolate
    upsampled = None if whole else UpsampledLogits(ranking_map, size)
    sy, sx = big_h // h, big_w // w
    source = ranking_map.float()
    sums, areas = [], []
    for i, (c, (y0, y1, x0, x1)) in enumerate(zip(channel.tolist(), windows.tolist())):  # two host copies
        if y1 <= y0 or x1 <= x0:
            sums.append(masks.new_zeros((), dtype=torch.float32))
            areas.append(masks.new_zeros((), dtype=torch.int64))
            continue
        inside = masks[i, y0:y1, x0:x1]  # 0/1
        if whole:
            # the coarse rows and columns the window's pixels read, plus one each side: F.interpolate of
            # that crop reads the whole map's source cells for them (equal values up to float32 rounding)
            q0, q1 = max(y0 // sy - 1, 0), min((y1 - 1) // sy + 2, h)
            p0, p1 = max(x0 // sx - 1, 0), min((x1 - 1) // sx + 2, w)
            crop = source[c : c + 1, q0:q1, p0:p1][None]
            resized = F.interpolate(crop, size=((q1 - q0) * sy, (p1 - p0) * sx), mode="bilinear", align_corners=False)
            values = resized[0, 0, y0 - q0 * sy : y1 - q0 * sy, x0 - p0 * sx : x1 - p0 * sx]
        else:
            values = upsampled.window_values(c, slice(y0, y1), slice(x0, x1))
        sums.append(torch.sigmoid(values).mul_(inside).sum())
        areas.append(torch.count_nonzero(inside))
    return torch.stack(sums) / torch.stack(areas).clamp(min=1)
