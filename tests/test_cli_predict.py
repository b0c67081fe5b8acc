"""``segzoo predict``: streaming batches, resizing back to each image's size, the panoptic score
threshold and dataset category ids that ``pq_compute`` reads beside the ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TINY_PANOPTIC_SET, build_tiny
from PIL import Image

import segzoo
from segzoo.cli import main
from segzoo.cli.predict import category_table, resize_rule
from segzoo.cli.progress import progress_enabled

PANOPTIC = TINY_PANOPTIC_SET


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _photos(folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.mark.parametrize(
    ("hw", "size", "max_size", "expected"),
    [
        ((480, 640), 800, 1333, (800, 1067)),  # Detectron2's rule: shorter side 800
        ((400, 1200), 800, 1333, (444, 1333)),  # ... unless the longer side would pass 1333
        ((480, 640), None, 320, (240, 320)),  # --max-size alone caps the longer side
        ((100, 50), None, 320, (100, 50)),  # ... and never enlarges
        ((480, 640), 240, None, (240, 320)),
        ((37, 53), None, None, (37, 53)),
    ],
)
def test_resize_rule_known_answers(hw, size, max_size, expected):
    assert resize_rule(*hw, size=size, max_size=max_size) == expected


def test_predict_streams_in_batches_and_maps_back_to_each_size(tmp_path, monkeypatch, capsys):
    """5 images, batch 2: the model sees 2, 2, 1 images at the resized size; images are read one batch
    ahead at most (never all first), and every label PNG has its image's own size."""
    import segzoo.data as io
    from segzoo.models.semantic import SemanticModel

    sizes = [(40, 60), (50, 30), (64, 64), (30, 90), (45, 45)]
    folder = _photos(tmp_path / "in", sizes)
    events: list[tuple] = []
    read, predict = io.read_image, SemanticModel.predict
    monkeypatch.setattr(io, "read_image", lambda path: (events.append(("read", path.name)), read(path))[1])

    def spy(self, images, **kwargs):
        batch = images if isinstance(images, list) else [images]
        events.append(("predict", [tuple(im.shape[-2:]) for im in batch]))
        return predict(self, images, **kwargs)

    monkeypatch.setattr(SemanticModel, "predict", spy)
    out = tmp_path / "out"
    argv = ["predict", str(folder), "--out", str(out), "--model", "fcn_r50", "--set", "backbone=tiny", "--set",
            "num_classes=3", "--batch-size", "2", "--max-size", "32", "--threads", "1", "--no-overlay"]  # fmt: skip
    assert main(argv) == 0
    assert torch.get_num_threads() == 1
    calls = [e[1] for e in events if e[0] == "predict"]
    assert [len(c) for c in calls] == [2, 2, 1]
    assert all(max(hw) <= 32 for c in calls for hw in c)
    kinds = [e[0] for e in events]
    assert kinds == ["read", "read", "predict", "read", "read", "predict", "read", "predict"]
    for i, (h, w) in enumerate(sizes):
        label = np.asarray(Image.open(out / f"img{i}.png"))
        assert label.shape == (h, w) and label.max() < 3
    assert len(capsys.readouterr().out.strip().splitlines()) == 5  # one line per image


def test_progress_bar_rule(monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert progress_enabled(False) and not progress_enabled(True)
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert not progress_enabled(False)


@pytest.fixture
def coco_folder(tmp_path):
    """Synthetic panoptic scenes written in COCO panoptic format (category ids as the dataset has them)."""
    from segzoo.data import SyntheticPanoptic, write_coco_panoptic

    return write_coco_panoptic(SyntheticPanoptic(2, size=(48, 48), seed=0), tmp_path / "coco").parent


def test_panoptic_json_uses_dataset_ids_and_pq_compute_reads_it(coco_folder, tmp_path):
    from segzoo.data import SyntheticPanoptic
    from segzoo.metrics import pq_compute

    gt_json = json.loads((coco_folder / "panoptic.json").read_text())
    out = tmp_path / "pred"
    data = SyntheticPanoptic(1, size=(48, 48), seed=0)
    argv = ["predict", str(coco_folder / "images"), "--out", str(out), "--model", "panoptic_fpn_r50", *PANOPTIC,
            "--set", f"num_classes={data.num_classes}", "--set", f"thing_ids={list(data.thing_ids)}",
            "--set", f"stuff_ids={list(data.stuff_ids)}", "--score-threshold", "0.0", "--no-overlay"]  # fmt: skip
    assert main(argv) == 0
    pred = json.loads((out / "predictions.json").read_text())
    gt_ids = {c["id"]: c["name"] for c in gt_json["categories"]}
    assert {c["id"]: c["name"] for c in pred["categories"]} == gt_ids  # the dataset's ids and names, not 0..K-1
    used = {s["category_id"] for a in pred["annotations"] for s in a["segments_info"]}
    assert used and used <= set(gt_ids)
    # COCO names images by their zero-padded id: the predictions carry the same image ids, as is
    assert sorted(a["image_id"] for a in pred["annotations"]) == sorted(i["id"] for i in gt_json["images"])
    result = pq_compute(coco_folder / "panoptic.json", out / "predictions.json", coco_folder / "panoptic", out)
    assert 0.0 <= result.pq <= 1.0
    gt_used = {s["category_id"] for a in gt_json["annotations"] for s in a["segments_info"]}
    assert all(result.per_class[c]["tp"] + result.per_class[c]["fn"] > 0 for c in gt_used)  # same id space
    assert all(result.per_class[c]["tp"] + result.per_class[c]["fp"] > 0 for c in used)


def test_score_threshold_drops_detections_without_changing_the_model(coco_folder, tmp_path, monkeypatch):
    """--score-threshold 1.0 keeps no detection (scores are < 1), 0.0 keeps some; the model's fuser is untouched."""
    from segzoo.data import SyntheticPanoptic
    from segzoo.models.panoptic.model import PanopticModel

    seen = []
    original = PanopticModel.predict

    def spy(self, images, **kwargs):
        seen.append((self.fuser.score_threshold, kwargs.get("fuser")))
        return original(self, images, **kwargs)

    monkeypatch.setattr(PanopticModel, "predict", spy)
    data = SyntheticPanoptic(1, size=(48, 48), seed=0)
    counts = {}
    for threshold in ("1.0", "0.0"):
        out = tmp_path / f"t{threshold}"
        argv = ["predict", str(coco_folder / "images"), "--out", str(out), "--model", "panoptic_fpn_r50", *PANOPTIC,
                "--set", f"num_classes={data.num_classes}", "--set", f"thing_ids={list(data.thing_ids)}",
                "--set", f"stuff_ids={list(data.stuff_ids)}", "--score-threshold", threshold, "--no-overlay"]  # fmt: skip
        assert main(argv) == 0
        pred = json.loads((out / "predictions.json").read_text())
        thing_ids = {c["id"] for c in pred["categories"] if c["isthing"]}
        counts[threshold] = sum(s["category_id"] in thing_ids for a in pred["annotations"] for s in a["segments_info"])
    assert counts["1.0"] == 0 and counts["0.0"] > 0
    assert all(model_threshold == 0.5 and fuser.score_threshold in (0.0, 1.0) for model_threshold, fuser in seen)


def test_coco_model_writes_coco_category_ids(tmp_path):
    """A 133-class COCO layout model: train id 0 -> COCO id 1 'person', 132 -> 200 'rug-merged'."""
    from segzoo.cli.predict import category_table

    model = segzoo.build("panoptic_fpn_r50", backbone="tiny", fpn_channels=32, box_channels=64, mask_channels=32)
    table = category_table(model, None)
    assert len(table) == 133 and table[0]["id"] == 1 and table[0]["name"] == "person"
    assert table[-1]["id"] == 200 and table[-1]["name"] == "rug-merged" and sum(c["isthing"] for c in table) == 80


def test_category_table_uses_the_classes_the_weights_name():
    model = build_tiny("panoptic_fpn_r50")  # 5 classes: things 0-2, stuff 3-4
    model.class_names = ("cat", "dog", "car", "sky", "road")
    model.category_ids = (17, 18, 3, 119, 149)
    table = category_table(model, None)
    assert [(c["id"], c["name"], c["isthing"], c["train_id"]) for c in table] == [
        (17, "cat", 1, 0), (18, "dog", 1, 1), (3, "car", 1, 2), (119, "sky", 0, 3), (149, "road", 0, 4)
    ]
