"""Property-based tests of the COCO panoptic reader (segzoo.data.COCOPanoptic) on broken JSON files.

Kirillov et al., "Panoptic Segmentation", arXiv:1801.00868 (the COCO panoptic format).
Hypothesis writes a small valid dataset (1-3 images with their PNGs), then breaks it the
ways hand-made or converted annotation files break: a required field dropped or of the
wrong type, an annotation pointing at an image id or category id that does not exist,
repeated ids, a missing image or PNG file, a top level that is not an object. The reader
must either give back the samples the JSON describes (optional fields dropped) or raise a
``ValueError`` naming the JSON file and the field (``annotations[1].segments_info[0].id``),
or a ``FileNotFoundError`` naming the missing file; never a raw ``KeyError``/``TypeError``.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from segzoo.data import COCOPanoptic, id2rgb

# 150 examples in ~10 s here (each writes 2-6 small PNGs); derandomize keeps CI deterministic.
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

CATEGORIES = [
    {"id": 1, "name": "person", "isthing": 1, "color": [220, 20, 60]},
    {"id": 7, "name": "car", "isthing": 1},
    {"id": 40, "name": "sky", "isthing": 0, "color": [70, 130, 180]},
]


@st.composite
def dataset(draw):
    """A valid COCO panoptic dataset: ``(json dict, {png name: id map}, {image name: (H, W)})``."""
    images, annotations, pngs = [], [], {}
    for n in range(draw(st.integers(1, 3))):
        h, w = draw(st.integers(2, 8)), draw(st.integers(2, 8))
        ids = draw(st.lists(st.integers(1, 256**3 - 1), min_size=1, max_size=3, unique=True))
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        id_map = np.array([0, *ids])[rng.integers(0, len(ids) + 1, (h, w))]
        id_map.reshape(-1)[: len(ids)] = ids  # every listed segment has pixels
        image_id = draw(st.sampled_from([n + 1, 1000 + n, f"city_{n}"]))
        images.append({"id": image_id, "file_name": f"img{n}.png", "height": h, "width": w})
        segments = [
            {"id": int(i), "category_id": draw(st.sampled_from([1, 7, 40])), "iscrowd": draw(st.sampled_from([0, 1])),
             "area": int((id_map == i).sum()), "bbox": [0, 0, w, h]}
            for i in ids
        ]
        annotations.append({"image_id": image_id, "file_name": f"img{n}_pan.png", "segments_info": segments})
        pngs[f"img{n}_pan.png"] = id_map
    return {"images": images, "annotations": annotations, "categories": copy.deepcopy(CATEGORIES)}, pngs


# Field -> (required, wrong values). Optional fields may be dropped without changing the samples.
FIELDS = {
    ("images", "id"): (True, [None, 1.5, [1], True]),
    ("images", "file_name"): (True, [5, None, ""]),
    ("images", "height"): (False, []),
    ("annotations", "image_id"): (True, [None, 2.5, {"id": 1}]),
    ("annotations", "file_name"): (True, [7, None, ["a.png"]]),
    ("annotations", "segments_info"): (True, [{}, "x", None, 5]),
    ("segments_info", "id"): (True, ["5", None, 0, -3, 1.0, 256**3, True]),
    ("segments_info", "category_id"): (True, ["1", None, 999, 2.0]),
    ("segments_info", "iscrowd"): (False, ["yes", 2, None]),
    ("segments_info", "area"): (False, []),
    ("segments_info", "bbox"): (False, []),
    ("categories", "id"): (True, ["1", None, -1, 1.5]),
    ("categories", "name"): (True, [3, None]),
    ("categories", "isthing"): (False, ["no", 2, None]),
    ("categories", "color"): (False, ["red", [1, 2], [0, 0, 256]]),
}


@st.composite
def broken(draw):
    """``(json, pngs, remove, expected)``: one edit and what the reader must do.

    ``expected``: ``None`` (reads fine), ``("field", regex)`` (ValueError naming the JSON file and
    the field) or ``("file", name)`` (FileNotFoundError naming the file).
    """
    data, pngs = draw(dataset())
    remove = []
    kind = draw(st.sampled_from(["none", "drop", "retype", "drop", "retype", "orphan", "duplicate", "file", "top"]))
    if kind == "none":
        return data, pngs, remove, None
    if kind == "top":
        return draw(st.sampled_from([[], "coco", 3, None, [data]])), pngs, remove, ("field", r"the top level")
    if kind == "file":
        n = draw(st.integers(0, len(data["images"]) - 1))
        name = draw(st.sampled_from([data["images"][n]["file_name"], data["annotations"][n]["file_name"]]))
        remove.append(name)
        return data, pngs, remove, ("file", name)
    if kind == "orphan":  # an annotation whose image is not listed
        n = draw(st.integers(0, len(data["images"]) - 1))
        data["annotations"][n]["image_id"] = "no such image"
        return data, pngs, remove, ("field", rf"annotations\[{n}\]\.image_id")
    if kind == "duplicate":
        what = draw(st.sampled_from(["images", "annotations", "categories", "segments_info"]))
        if what == "segments_info":
            segments = data["annotations"][0]["segments_info"]
            segments.append(dict(segments[0]))
            return data, pngs, remove, ("field", rf"annotations\[0\]\.segments_info\[{len(segments) - 1}\]\.id")
        records = data[what]
        records.append(copy.deepcopy(records[0]))
        field = "image_id" if what == "annotations" else "id"
        return data, pngs, remove, ("field", rf"{what}\[{len(records) - 1}\]\.{field}")
    (table, key) = draw(st.sampled_from(sorted(FIELDS)))
    required, wrong = FIELDS[(table, key)]
    if table == "segments_info":
        n = draw(st.integers(0, len(data["annotations"]) - 1))
        records, where = data["annotations"][n]["segments_info"], f"annotations\\[{n}\\]\\.segments_info"
    else:
        records, where = data[table], table
    i = draw(st.integers(0, len(records) - 1))
    if kind == "drop" or not wrong:
        del records[i][key]
        return data, pngs, remove, (("field", rf"{where}\[{i}\]\.{key}") if required else None)
    records[i][key] = draw(st.sampled_from(wrong))
    return data, pngs, remove, ("field", rf"{where}\[{i}\]\.{key}")


def write(root: Path, data, pngs, remove) -> Path:
    (root / "images").mkdir()
    (root / "panoptic").mkdir()
    for name, id_map in pngs.items():
        Image.fromarray(id2rgb(id_map)).save(root / "panoptic" / name)
        image_name = name.replace("_pan", "")
        Image.fromarray(np.full((*id_map.shape, 3), 128, dtype=np.uint8)).save(root / "images" / image_name)
    for name in remove:
        for folder in ("images", "panoptic"):
            (root / folder / name).unlink(missing_ok=True)
    path = root / "panoptic.json"
    path.write_text(json.dumps(data))
    return path


def read_all(root: Path) -> list:
    ds = COCOPanoptic(root)
    return [ds[i] for i in range(len(ds))]


@SETTINGS
@given(case=broken())
@example(case=({"images": [], "annotations": [{"file_name": "a.png", "segments_info": []}], "categories": CATEGORIES},
               {}, [], ("field", r"annotations\[0\]\.image_id")))  # was KeyError: 'image_id'
@example(case=({"images": [{"id": 1}], "annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": []}],
                "categories": CATEGORIES},
               {}, [], ("field", r"images\[0\]\.file_name")))  # was KeyError: 'file_name' (at the first sample)
@example(case=(3, {}, [], ("field", r"the top level")))  # was TypeError: argument of type 'int' is not iterable
@example(case=({"images": [], "annotations": [], "categories": [{"id": 1}]},
               {}, [], ("field", r"categories\[0\]\.name")))  # was KeyError: 'name' from CategoryMap
@example(case=({"images": [], "annotations": [], "categories": [{"id": 1, "name": "a", "color": "red"}]},
               {}, [], ("field", r"categories\[0\]\.color")))  # was "invalid literal for int()", no file named
def test_reader_gives_the_samples_or_names_file_and_field(case):
    data, pngs, remove, expected = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        json_path = write(root, data, pngs, remove)
        if expected is None:
            samples = read_all(root)
            assert len(samples) == len(data["annotations"])
            for (image, target), info, ann in zip(samples, data["images"], data["annotations"]):
                h, w = pngs[ann["file_name"]].shape
                assert image.shape == (3, h, w) and target["image_id"] == info["id"]
                assert torch.equal(target["panoptic"], torch.from_numpy(pngs[ann["file_name"]]))
                listed = {s["id"]: s for s in ann["segments_info"]}
                assert {s["id"] for s in target["segments_info"]} == set(listed)
                for seg in target["segments_info"]:
                    assert seg["category_id"] == listed[seg["id"]]["category_id"]
                    assert seg["iscrowd"] == bool(listed[seg["id"]].get("iscrowd", 0))
                    assert seg["area"] == int((pngs[ann["file_name"]] == seg["id"]).sum())
            return
        what, detail = expected
        error = FileNotFoundError if what == "file" else ValueError
        with pytest.raises(error) as info:
            read_all(root)
        message = str(info.value)
        if what == "file":
            assert detail in message and str(json_path) in message, message
        else:
            assert str(json_path) in message and re.search(detail, message), (detail, message)
