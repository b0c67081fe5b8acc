"""Visualisation: palettes, semantic and panoptic overlays, scale-attention strips, PNG writing.

Practice of the COCO panoptic API and Detectron2's ``Visualizer``: one colour per category,
thing instances jittered around their category colour so neighbours stay distinguishable,
instance outlines, optional class names at each segment. Palettes: Pascal VOC's bit-interleaving
palette (Everingham et al., IJCV 2010), the official Cityscapes colours (cityscapesScripts),
the category colours a dataset carries (COCO panoptic JSON ``color``, the synthetic set), and
generated distinct colours where segzoo ships none (ADE20K's 150 classes, COCO without its
JSON). Everything returns ``uint8`` numpy arrays ``(H, W, 3)``; :func:`save_png` writes them
with Pillow (atomically). matplotlib is not needed.
"""

from __future__ import annotations

import colorsys
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

__all__ = [
    "PALETTES",
    "palette",
    "colorize",
    "overlay_semantic",
    "overlay_panoptic",
    "render_attention",
    "save_png",
    "to_hwc_uint8",
]

PALETTES = ("voc", "cityscapes", "ade20k", "coco", "synthetic")
_SIZES = {"voc": 21, "cityscapes": 19, "ade20k": 150, "coco": 133, "synthetic": 8}
# A perceptually ordered ramp (dark blue -> teal -> green -> yellow) for attention maps.
_RAMP = np.array([[48, 18, 59], [50, 100, 170], [30, 160, 150], [95, 200, 90], [250, 230, 35]], np.float32)


def _distinct_colors(n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` well-separated colours: hues stepped by the golden ratio, three saturation/value levels."""
    colors = np.zeros((n, 3), np.uint8)
    for i in range(n):
        hue = (seed * 0.1 + i * 0.618033988749895) % 1.0
        sat, val = (0.85, 0.65, 0.5)[i % 3], (0.95, 0.75, 0.9)[(i // 3) % 3]
        colors[i] = np.round(np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255)
    return colors


def palette(spec: str | Sequence[Mapping[str, Any]] | np.ndarray = "voc", num_classes: int | None = None) -> np.ndarray:
    """Colours by train id, ``(K, 3)`` uint8.

    Args:
        spec: a palette name (``voc``, ``cityscapes``, ``ade20k``, ``coco``, ``synthetic``), a
            dataset's ``categories`` (dicts with ``color``, in train-id order), or a ``(K, 3)`` array.
        num_classes: extend (with generated colours) or cut to this many.
    """
    if isinstance(spec, np.ndarray):
        colors = spec.astype(np.uint8).reshape(-1, 3)
    elif isinstance(spec, str):
        name = spec.lower().replace("-", "_")
        if name == "voc":
            from .data.panoptic_utils import colormap

            colors = np.array(colormap(21), np.uint8)
        elif name == "cityscapes":
            from .data import CITYSCAPES_CATEGORIES, CategoryMap

            colors = np.array([c["color"] for c in CategoryMap(CITYSCAPES_CATEGORIES).categories], np.uint8)
        elif name == "synthetic":
            from .data import SYNTHETIC_CATEGORIES, CategoryMap

            colors = np.array([c["color"] for c in CategoryMap(SYNTHETIC_CATEGORIES).categories], np.uint8)
        elif name in ("ade20k", "coco"):
            colors = _distinct_colors(_SIZES[name], seed=1 if name == "coco" else 0)
        else:
            raise ValueError(f"Unknown palette {spec!r}; choose one of {PALETTES}, or pass the dataset's categories.")
    else:
        try:
            colors = np.array([c["color"] for c in spec], np.uint8)
        except (KeyError, TypeError) as err:
            raise TypeError(
                "palette() takes a name, a (K, 3) array, or category dicts with a 'color' (e.g. dataset.categories)."
            ) from err
    if num_classes is not None and num_classes > len(colors):
        colors = np.concatenate([colors, _distinct_colors(num_classes - len(colors), seed=len(colors))])
    elif num_classes is not None:
        colors = colors[:num_classes]
    return colors


_make_palette = palette  # the functions below take a ``palette`` argument that shadows the name


def to_hwc_uint8(image: Any) -> np.ndarray:
    """A tensor ``(C, H, W)`` / numpy or PIL ``(H, W, C)`` image, uint8 or float 0-1 -> ``(H, W, 3)`` uint8."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = image.permute(1, 2, 0).numpy() if image.ndim == 3 and image.shape[0] in (1, 3, 4) else image.numpy()
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"Expected an image (H, W, C) or (C, H, W), got shape {array.shape}.")
    if array.dtype != np.uint8:
        if array.dtype.kind != "f":
            raise TypeError(f"Images must be uint8 (0-255) or float (0-1), got {array.dtype}.")
        array = np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return np.ascontiguousarray(array[..., :3])


def _labels(labels: Any) -> np.ndarray:
    array = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if array.ndim != 2:
        raise ValueError(f"Expected an (H, W) label or id map, got shape {array.shape}.")
    return array.astype(np.int64)


def colorize(labels: Any, *, palette: Any = "voc", ignore_index: int = 255, ignore_color=(0, 0, 0)) -> np.ndarray:
    """``(H, W)`` train ids -> ``(H, W, 3)`` uint8 colours (``ignore_index`` in ``ignore_color``)."""
    lab = _labels(labels)
    valid = (lab != ignore_index) & (lab >= 0)
    top = int(lab[valid].max()) + 1 if valid.any() else 1
    colors = _make_palette(palette, num_classes=top)
    out = np.empty(lab.shape + (3,), np.uint8)
    out[:] = np.asarray(ignore_color, np.uint8)
    out[valid] = colors[lab[valid]]
    return out


def overlay_semantic(image: Any, labels: Any, *, palette: Any = "voc", alpha: float = 0.5, ignore_index: int = 255) -> np.ndarray:
    """Blend label colours over an image: ``(1 - alpha) * image + alpha * colour`` (ignored pixels untouched)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    rgb = to_hwc_uint8(image)
    lab = _labels(labels)
    if lab.shape != rgb.shape[:2]:
        raise ValueError(f"labels {lab.shape} and image {rgb.shape[:2]} differ in size; resize the labels (nearest).")
    colors = colorize(lab, palette=palette, ignore_index=ignore_index)
    blended = np.round((1 - alpha) * rgb + alpha * colors).astype(np.uint8)
    keep = (lab == ignore_index) | (lab < 0)
    blended[keep] = rgb[keep]
    return blended


def _boundaries(ids: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower neighbour has another id, and those neighbours (2-px outlines)."""
    edge = np.zeros(ids.shape, bool)
    dx = ids[:, 1:] != ids[:, :-1]
    dy = ids[1:, :] != ids[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    return edge


def overlay_panoptic(
    image: Any,
    panoptic_seg: Any,
    segments_info: Sequence[Mapping[str, Any]],
    *,
    palette: Any = "coco",
    alpha: float = 0.6,
    jitter: int = 40,
    outline: bool = True,
    outline_color: Sequence[int] = (255, 255, 255),
    class_names: Sequence[str] | None = None,
    thing_ids: Sequence[int] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Overlay a panoptic prediction: category colours, per-instance jitter, outlines, optional names.

    Args:
        panoptic_seg: ``(H, W)`` segment ids (0 = void, left as the image).
        segments_info: ``[{id, category_id (train id), isthing?}]``.
        palette: as :func:`palette`; indexed by ``category_id``.
        jitter: thing instances get their category colour plus a per-instance offset in
            ``[-jitter, jitter]`` per channel (seeded by ``seed`` and the segment id).
        outline: draw the outline of every thing instance.
        class_names: write each segment's class name at its centre (Pillow's default font).
        thing_ids: categories that are things, for segments without ``isthing``.
    """
    rgb = to_hwc_uint8(image)
    ids = _labels(panoptic_seg)
    if ids.shape != rgb.shape[:2]:
        raise ValueError(f"panoptic_seg {ids.shape} and image {rgb.shape[:2]} differ in size.")
    things = set(thing_ids or ())
    top = max([int(s["category_id"]) for s in segments_info] + [0]) + 1
    colors = _make_palette(palette, num_classes=top)
    color_map = np.zeros(rgb.shape, np.float32)
    painted = np.zeros(ids.shape, bool)
    thing_mask = np.zeros(ids.shape, bool)
    centres = []
    for seg in segments_info:
        mask = ids == int(seg["id"])
        if not mask.any():
            continue
        color = colors[int(seg["category_id"])].astype(np.float32)
        isthing = bool(seg.get("isthing", int(seg["category_id"]) in things))
        if isthing and jitter > 0:
            rng = np.random.default_rng([seed, int(seg["id"])])
            color = np.clip(color + rng.integers(-jitter, jitter + 1, 3), 0, 255)
            thing_mask |= mask
        color_map[mask] = color
        painted |= mask
        ys, xs = np.nonzero(mask)
        centres.append((int(np.median(xs)), int(np.median(ys)), int(seg["category_id"])))
    out = rgb.astype(np.float32)
    out[painted] = (1 - alpha) * out[painted] + alpha * color_map[painted]
    out = np.round(out).astype(np.uint8)
    if outline:
        edges = _boundaries(np.where(thing_mask, ids, -1)) & thing_mask
        out[edges] = np.asarray(outline_color, np.uint8)
    if class_names is not None and centres:
        from PIL import Image, ImageDraw

        canvas = Image.fromarray(out)
        draw = ImageDraw.Draw(canvas)
        for x, y, cat in centres:
            text = class_names[cat] if cat < len(class_names) else str(cat)
            draw.text((x, y), text, fill=(255, 255, 255), anchor="mm", stroke_width=1, stroke_fill=(0, 0, 0))
        out = np.asarray(canvas).copy()
    return out


def render_attention(maps: Any, *, gap: int = 2, normalize: str = "each") -> np.ndarray:
    """Scale attention maps ``(S, H, W)`` (or ``(1, S, H, W)``) -> an RGB strip ``(H, S * W + (S - 1) * gap, 3)``.

    ``normalize``: ``"each"`` stretches every map to its own min-max, ``"global"`` uses one
    range for all (compare scales), ``"none"`` expects values in [0, 1]. Maps are coloured with
    a dark-blue-to-yellow ramp and separated by white columns.
    """
    array = maps.detach().float().cpu().numpy() if isinstance(maps, torch.Tensor) else np.asarray(maps, np.float32)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3:
        raise ValueError(f"Expected attention maps (S, H, W) or (1, S, H, W), got shape {array.shape}.")
    if normalize not in ("each", "global", "none"):
        raise ValueError(f"normalize must be 'each', 'global' or 'none', got {normalize!r}.")
    if normalize == "each":
        lo = array.min(axis=(1, 2), keepdims=True)
        hi = array.max(axis=(1, 2), keepdims=True)
    elif normalize == "global":
        lo, hi = array.min(), array.max()
    else:
        lo, hi = 0.0, 1.0
    t = np.clip((array - lo) / np.maximum(hi - lo, 1e-12), 0, 1)  # (S, H, W) in [0, 1]
    pos = t * (len(_RAMP) - 1)
    i0 = np.minimum(pos.astype(np.int64), len(_RAMP) - 2)
    frac = (pos - i0)[..., None]
    colored = np.round(_RAMP[i0] * (1 - frac) + _RAMP[i0 + 1] * frac).astype(np.uint8)  # (S, H, W, 3)
    s, h, w = array.shape
    strip = np.full((h, s * w + (s - 1) * gap, 3), 255, np.uint8)
    for k in range(s):
        strip[:, k * (w + gap) : k * (w + gap) + w] = colored[k]
    return strip


def save_png(array: Any, path: str | os.PathLike) -> Path:
    """Write ``(H, W)`` uint8/uint16 (grey or labels) or ``(H, W, 3|4)`` uint8 as a PNG, atomically."""
    from PIL import Image

    from .files import atomic_write

    a = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    if a.ndim == 2 and a.dtype == np.uint16:
        image = Image.fromarray(a)
    elif a.ndim == 2 and a.dtype != np.uint8:
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"An (H, W) PNG needs values in 0..255 for uint8 (got {a.min()}..{a.max()}); pass uint16.")
        image = Image.fromarray(a.astype(np.uint8))
    elif a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4) and a.dtype == np.uint8):
        image = Image.fromarray(a)
    else:
        raise ValueError(f"save_png takes (H, W) or (H, W, 3|4) uint8 arrays, got {a.dtype} {a.shape}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
    return path
