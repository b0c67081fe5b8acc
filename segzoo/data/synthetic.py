"""Synthetic semantic and panoptic benchmarks: seeded scenes a small CPU model can learn.

Not from a paper: a test bed in the COCO panoptic format (Kirillov et al., arXiv:1801.00868)
with the difficulties of real scenes on a small scale. Each scene has:

- 2-4 of 4 *stuff* classes (sky, grass, sand, water) laid out by the arg-max of smoothed
  random fields (irregular boundaries; sky tends to the top, water to the bottom). Each
  has its own texture: sky a smooth vertical gradient, grass strong pixel noise, sand
  blotches and grain, water horizontal waves.
- ``min_objects..max_objects`` *thing* instances of 4 classes, each a shape with its own
  texture: disc (radially shaded), square (rotated, checkered), triangle (rotated,
  striped), ring (noisy, with a hole showing what lies below). Radii are log-uniform from
  2.5 px (or 2.5% of the short side) to 22% of the short side, so small objects are
  common. Later instances are drawn on top; the ground truth is the visible part (fully
  hidden ones are dropped).
- colours that do not give the class away: each class takes one of two base colours and
  each colour is shared by two classes (a nearest-class-mean colour classifier labels
  ~60% of the pixels right).
- per-instance colour jitter, a per-image gain and Gaussian luminance noise.

Scene ``i`` depends only on ``(seed, i)``: the same seed gives identical data, samples can
be read in any order. Category ids are non-contiguous (things 1-4, stuff 101-104) like
COCO's, so the id -> train id mapping is exercised; train ids: things 0-3, stuff 4-7.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .base import SegmentationDataset, Transform
from .panoptic_utils import IGNORE_INDEX, CategoryMap, panoptic_target

__all__ = ["SyntheticPanoptic", "SyntheticSemantic", "SYNTHETIC_CATEGORIES", "render_scene"]

# Each class draws its base colour from two, and each colour belongs to two classes (a ring
# is red or cyan, a disc red or orange, ...): colour alone is ambiguous, texture and shape
# decide. The first colour is the category's display colour.
_RED, _ORANGE, _PURPLE, _CYAN = (205, 50, 45), (235, 150, 35), (135, 60, 175), (45, 185, 190)
_LIGHT_BLUE, _GREY, _BLUE, _GREEN, _OLIVE, _BEIGE = (
    (125, 170, 225), (175, 180, 190), (45, 90, 150), (75, 145, 60), (140, 150, 70), (205, 185, 125)
)
# (id, name, base colours)
_THINGS = (
    (1, "disc", (_RED, _ORANGE)),
    (2, "square", (_ORANGE, _PURPLE)),
    (3, "triangle", (_PURPLE, _CYAN)),
    (4, "ring", (_CYAN, _RED)),
)
_STUFF = (
    (101, "sky", (_LIGHT_BLUE, _GREY)),
    (102, "grass", (_GREEN, _OLIVE)),
    (103, "sand", (_BEIGE, _OLIVE)),
    (104, "water", (_BLUE, _LIGHT_BLUE)),
)
SYNTHETIC_CATEGORIES = [{"id": i, "name": n, "isthing": 1, "color": list(c[0])} for i, n, c in _THINGS] + [
    {"id": i, "name": n, "isthing": 0, "color": list(c[0])} for i, n, c in _STUFF
]


def _base_colour(colours: tuple, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """One of a class's two base colours, jittered per channel."""
    choice = colours[int(rng.integers(len(colours)))]
    return np.array(choice, np.float32) + rng.uniform(-jitter, jitter, 3).astype(np.float32)


def _smooth_fields(rng: np.random.Generator, count: int, height: int, width: int) -> np.ndarray:
    """``(count, H, W)`` smooth random fields: coarse Gaussian noise upsampled bicubically.

    Bicubic to 1/4 size, then bilinear (4x cheaper than bicubic at full size, as smooth).
    """
    grid = int(rng.integers(3, 7))
    coarse = torch.from_numpy(rng.standard_normal((1, count, grid, grid), dtype=np.float32))
    mid_size = (max(height // 4, grid), max(width // 4, grid))
    mid = F.interpolate(coarse, size=mid_size, mode="bicubic", align_corners=False)
    return F.interpolate(mid, size=(height, width), mode="bilinear", align_corners=False)[0].numpy()


def _stuff_texture(name: str, rng: np.random.Generator, grain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stuff class's texture as ``(H, W)`` (or broadcastable) modulation and ``(3,)`` channel weights.

    The texture is ``base colour + modulation * weights``; ``grain`` is a shared ``(H, W)``
    standard normal map (classes occupy disjoint pixels, so sharing it costs nothing).
    """
    height, width = grain.shape
    ones = np.ones(3, np.float32)
    if name == "sky":  # lighter towards the horizon
        return 50 * (np.arange(height, dtype=np.float32)[:, None] / height - 0.5), ones
    if name == "grass":  # strong pixel noise, mostly in green
        return grain, np.array([14, 26, 10], np.float32)
    if name == "sand":  # low-frequency blotches and fine grain
        return 18 * _smooth_fields(rng, 1, height, width)[0] + 7 * grain, ones
    # water: horizontal waves whose phase drifts along x
    period, phase = rng.uniform(0.04, 0.09), rng.uniform(0, 2 * math.pi)
    y = np.arange(height, dtype=np.float32)[:, None] / height
    x = np.arange(width, dtype=np.float32)[None, :] / width
    return 22 * np.sin(2 * math.pi * y / period + phase + 3 * np.sin(2 * math.pi * x)), ones


def _shape_mask(kind: int, dx: np.ndarray, dy: np.ndarray, r: float, angle: float, hole: float) -> np.ndarray:
    """Pixels of a shape centred at the origin, ``dx``/``dy`` pixel offsets, ``r`` its radius."""
    if kind in (0, 3):  # disc, ring
        d2 = dx * dx + dy * dy
        return (d2 <= r * r) & (d2 >= (hole * r) ** 2 if kind == 3 else True)
    c, s = math.cos(angle), math.sin(angle)
    u, v = dx * c + dy * s, -dx * s + dy * c
    if kind == 1:  # square of half side 0.8 r
        return (np.abs(u) <= 0.8 * r) & (np.abs(v) <= 0.8 * r)
    inside = np.ones(dx.shape, bool)  # equilateral triangle: three half-planes at the inradius r/2
    for k in range(3):
        a = angle + k * 2 * math.pi / 3
        inside &= dx * math.cos(a) + dy * math.sin(a) <= r / 2
    return inside


def _thing_texture(kind: int, rng: np.random.Generator, dx, dy, r: float, angle: float) -> np.ndarray:
    """``(h, w, 3)`` float texture of a thing instance over its window."""
    base = _base_colour(_THINGS[kind][2], rng, 25)
    if kind == 0:  # disc: darker towards the rim
        return base * (1 - 0.3 * ((dx * dx + dy * dy) / (r * r)))[..., None]
    c, s = math.cos(angle), math.sin(angle)
    u, v = dx * c + dy * s, -dx * s + dy * c
    if kind == 1:  # square: checkerboard aligned with the square
        cell = max(0.4 * r, 1.5)
        dark = (np.floor(u / cell) + np.floor(v / cell)) % 2
        return base * (1 - 0.4 * dark)[..., None]
    if kind == 2:  # triangle: stripes
        period = max(0.5 * r, 2.0)
        return base * (1 - 0.3 * (np.sin(2 * math.pi * u / period) > 0))[..., None]
    return base + 14 * rng.standard_normal(dx.shape + (1,), dtype=np.float32)  # ring: noisy


def render_scene(
    rng: np.random.Generator, height: int, width: int, *, min_objects: int = 2, max_objects: int = 8, noise: float = 6.0
) -> tuple[np.ndarray, np.ndarray, list[dict[str, int]]]:
    """One scene: ``(H, W, 3)`` uint8 image, ``(H, W)`` int64 segment ids (1..M), segments_info."""
    # Stuff: arg-max of smooth fields over the chosen classes; vertical priors for sky / water.
    chosen = rng.choice(len(_STUFF), size=int(rng.integers(2, len(_STUFF) + 1)), replace=False)
    fields = _smooth_fields(rng, len(chosen), height, width)
    y = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    for k, c in enumerate(chosen):
        fields[k] += {"sky": -1.2, "water": 1.2}.get(_STUFF[c][1], 0.0) * y
    region, best = np.zeros((height, width), np.int64), fields[0]  # arg-max over k, (H, W)
    for k in range(1, len(chosen)):
        better = fields[k] > best
        region[better], best = k, np.where(better, fields[k], best)
    panoptic = region + 1  # stuff segment k has id k + 1
    segments = [{"id": k + 1, "category_id": _STUFF[c][0], "iscrowd": 0} for k, c in enumerate(chosen)]
    grain = rng.standard_normal((height, width), dtype=np.float32)
    bases, weights = np.zeros((len(chosen), 3), np.float32), np.zeros((len(chosen), 3), np.float32)
    modulation = np.zeros((height, width), np.float32)
    for k, c in enumerate(chosen):
        bases[k] = _base_colour(_STUFF[c][2], rng, 15)
        texture, weights[k] = _stuff_texture(_STUFF[c][1], rng, grain)
        modulation = np.where(region == k, texture, modulation)
    image = bases[region] + modulation[:, :, None] * weights[region]  # (H, W, 3)
    # Things, drawn in order (later ones occlude earlier ones).
    short = min(height, width)
    r_min, r_max = max(2.5, 0.025 * short), 0.22 * short
    for _ in range(int(rng.integers(min_objects, max_objects + 1))):
        kind = int(rng.integers(len(_THINGS)))
        r = float(np.exp(rng.uniform(math.log(r_min), math.log(r_max))))
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        angle, hole = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.45, 0.65))
        y0, y1 = max(0, int(cy - r) - 1), min(height, int(cy + r) + 2)
        x0, x1 = max(0, int(cx - r) - 1), min(width, int(cx + r) + 2)
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy  # pixel centres
        dx = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - cx
        dy, dx = np.broadcast_arrays(dy, dx)
        mask = _shape_mask(kind, dx, dy, r, angle, hole)
        texture = _thing_texture(kind, rng, dx, dy, r, angle)
        sid = len(segments) + 1
        panoptic[y0:y1, x0:x1][mask] = sid
        image[y0:y1, x0:x1][mask] = texture[mask]
        segments.append({"id": sid, "category_id": _THINGS[kind][0], "iscrowd": 0})
    # Gain and luminance noise (one normal per pixel: a third of the cost of per-channel noise).
    image = image * rng.uniform(0.85, 1.15) + noise * rng.standard_normal((height, width, 1), dtype=np.float32)
    # Renumber the segments with pixels 1..M (hidden instances and unused stuff dropped).
    present = np.bincount(panoptic.reshape(-1), minlength=len(segments) + 1) > 0
    present[0] = False
    new_id = np.zeros(len(segments) + 1, np.int64)
    new_id[present] = np.arange(1, int(present.sum()) + 1)
    kept = [dict(s, id=int(new_id[s["id"]])) for s in segments if present[s["id"]]]
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), new_id[panoptic], kept


class _SyntheticScenes(SegmentationDataset):
    def __init__(
        self,
        num_images: int,
        *,
        size: tuple[int, int] = (128, 128),
        seed: int = 0,
        min_objects: int = 2,
        max_objects: int = 8,
        noise: float = 6.0,
        transforms: Transform | None = None,
    ) -> None:
        if num_images < 0:
            raise ValueError(f"num_images must be >= 0, got {num_images}.")
        if len(size) != 2 or min(size) < 8:
            raise ValueError(f"size must be (H, W) with both at least 8 pixels, got {size}.")
        if not 0 <= min_objects <= max_objects:
            raise ValueError(f"Need 0 <= min_objects <= max_objects, got {min_objects} and {max_objects}.")
        if seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed}.")
        super().__init__(category_map=CategoryMap(SYNTHETIC_CATEGORIES), transforms=transforms)
        self.num_images, self.size, self.seed = int(num_images), (int(size[0]), int(size[1])), int(seed)
        self.min_objects, self.max_objects, self.noise = min_objects, max_objects, float(noise)

    def __len__(self) -> int:
        return self.num_images

    def render(self, index: int) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, int]]]:
        """Scene ``index``: ``(3, H, W)`` uint8 image, ``(H, W)`` int64 ids, segments (original ids)."""
        rng = np.random.default_rng([self.seed, index])
        image, panoptic, segments = render_scene(
            rng, *self.size, min_objects=self.min_objects, max_objects=self.max_objects, noise=self.noise
        )
        return torch.from_numpy(image).permute(2, 0, 1).contiguous(), torch.from_numpy(panoptic), segments


class SyntheticPanoptic(_SyntheticScenes):
    """Seeded synthetic panoptic scenes (4 thing + 4 stuff classes); see the module docstring.

    Args:
        num_images: dataset length.
        size: ``(H, W)`` of every image.
        seed: scene ``i`` depends only on ``(seed, i)``.
        min_objects, max_objects: instances drawn per scene (some may end up hidden).
        noise: standard deviation of the Gaussian pixel noise (0-255 scale).
        transforms: optional callable ``(image, target) -> (image, target)``.

    Samples: ``(3, H, W)`` uint8 image and the panoptic target of :mod:`segzoo.data`
    (``image_id`` = index).
    """

    task = "panoptic"

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image, panoptic, segments = self.render(index)
        return image, panoptic_target(panoptic, segments, self.category_map, image_id=index)


class SyntheticSemantic(_SyntheticScenes):
    """The scenes of :class:`SyntheticPanoptic` (same arguments, same images) with ``sem_seg`` only.

    Samples: ``(3, H, W)`` uint8 image, ``{"sem_seg": (H, W) int64 train ids, "image_id": index}``.
    """

    task = "semantic"

    def load(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image, panoptic, segments = self.render(index)
        train = torch.full((len(segments) + 1,), IGNORE_INDEX, dtype=torch.int64)
        for s in segments:
            train[s["id"]] = self.category_map.train_id(s["category_id"])
        return image, {"sem_seg": train[panoptic], "image_id": index}
