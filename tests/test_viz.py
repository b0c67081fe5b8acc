"""Palettes, overlays, attention strips and PNG writing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from segzoo.viz import colorize, overlay_panoptic, overlay_semantic, palette, render_attention, save_png, to_hwc_uint8


def test_palettes_have_the_known_colours():
    voc = palette("voc")
    assert voc.shape == (21, 3) and voc.dtype == np.uint8
    assert voc[0].tolist() == [0, 0, 0] and voc[1].tolist() == [128, 0, 0] and voc[15].tolist() == [192, 128, 128]
    city = palette("cityscapes")
    assert city.shape == (19, 3) and city[0].tolist() == [128, 64, 128] and city[10].tolist() == [70, 130, 180]
    ade = palette("ade20k")
    assert ade.shape == (150, 3) and len({tuple(c) for c in ade.tolist()}) == 150  # all distinct
    assert palette("coco").shape == (133, 3)
    cats = [{"color": [1, 2, 3]}, {"color": [4, 5, 6]}]
    assert palette(cats).tolist() == [[1, 2, 3], [4, 5, 6]]
    assert palette("voc", num_classes=25).shape == (25, 3) and palette("voc", num_classes=3).shape == (3, 3)
    with pytest.raises(ValueError, match="Unknown palette"):
        palette("kitti")


def test_colorize_and_overlay_semantic_blend():
    labels = np.array([[0, 1], [255, 2]])
    colors = colorize(labels, palette="voc")
    assert colors[0, 1].tolist() == [128, 0, 0] and colors[1, 0].tolist() == [0, 0, 0]
    image = np.full((2, 2, 3), 200, np.uint8)
    out = overlay_semantic(image, labels, palette="voc", alpha=0.25)
    assert out[0, 1].tolist() == [round(0.75 * 200 + 0.25 * 128), 150, 150]
    assert out[1, 0].tolist() == [200, 200, 200]  # ignored pixels keep the image
    chw = torch.full((3, 2, 2), 200, dtype=torch.uint8)
    assert np.array_equal(overlay_semantic(chw, torch.tensor(labels), palette="voc", alpha=0.25), out)
    with pytest.raises(ValueError, match="differ in size"):
        overlay_semantic(image, np.zeros((3, 3), int))


def test_overlay_panoptic_jitters_instances_and_draws_outlines():
    ids = np.zeros((12, 12), np.int64)
    ids[:, :] = 1  # stuff, category 4
    ids[2:6, 2:6] = 2  # two instances of category 0
    ids[6:10, 6:10] = 3
    segments = [
        {"id": 1, "category_id": 4, "isthing": False},
        {"id": 2, "category_id": 0, "isthing": True},
        {"id": 3, "category_id": 0, "isthing": True},
    ]
    image = np.zeros((12, 12, 3), np.uint8)
    pal = palette("synthetic")
    out = overlay_panoptic(image, ids, segments, palette=pal, alpha=1.0, outline=False, jitter=30)
    assert out[0, 0].tolist() == pal[4].tolist()  # stuff: exactly its category colour
    a, b = out[3, 3].astype(int), out[7, 7].astype(int)
    assert not np.array_equal(a, b)  # two instances of one class are told apart
    assert np.abs(a - pal[0].astype(int)).max() <= 30 and np.abs(b - pal[0].astype(int)).max() <= 30
    again = overlay_panoptic(image, ids, segments, palette=pal, alpha=1.0, outline=False, jitter=30)
    assert np.array_equal(out, again)  # deterministic
    outlined = overlay_panoptic(image, ids, segments, palette=pal, alpha=1.0, outline_color=(255, 0, 255))
    edge = (outlined == [255, 0, 255]).all(-1)
    assert edge[2, 3] and edge[5, 3] and not edge[3, 3] and not edge[0, 0]  # the instance border only
    named = overlay_panoptic(np.zeros((40, 40, 3), np.uint8), np.kron(ids, np.ones((4, 4), np.int64))[:40, :40],
                             segments, palette=pal, alpha=0.0, outline=False, class_names=["disc"] * 8)  # fmt: skip
    assert named.any()  # text was drawn on an otherwise black image


def test_render_attention_strip():
    maps = torch.zeros(3, 4, 5)
    maps[0] = 1.0
    maps[1, :, 2:] = 0.5
    strip = render_attention(maps, gap=2, normalize="none")
    assert strip.shape == (4, 3 * 5 + 2 * 2, 3) and strip.dtype == np.uint8
    assert (strip[:, 5:7] == 255).all()  # white gaps
    low, high = strip[0, 14], strip[0, 0]
    assert low.tolist() != high.tolist() and int(high.sum()) > int(low.sum())  # bright = high attention
    assert np.array_equal(render_attention(maps[None], normalize="none"), strip)
    with pytest.raises(ValueError, match="S, H, W"):
        render_attention(torch.zeros(4, 5))


def test_save_png_round_trips_and_is_atomic(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    labels = np.arange(30, dtype=np.int64).reshape(5, 6)
    wide = (np.arange(30, dtype=np.uint16) * 1000).reshape(5, 6)
    save_png(rgb, tmp_path / "a" / "rgb.png")
    save_png(labels, tmp_path / "labels.png")
    save_png(torch.from_numpy(wide.astype(np.int32)).numpy().astype(np.uint16), tmp_path / "wide.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a" / "rgb.png")), rgb)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "labels.png")), labels)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "wide.png")), wide)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "labels.png", "wide.png"]  # no temp files
    with pytest.raises(ValueError, match="uint16"):
        save_png(labels * 100, tmp_path / "bad.png")
    assert to_hwc_uint8(torch.ones(3, 2, 2)).tolist() == [[[255] * 3] * 2] * 2
