"""COCO panoptic reader (Kirillov et al., arXiv:1801.00868): real COCO samples, errors, write/read round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segzoo.data import COCOPanoptic, SyntheticPanoptic, boxes_from_masks, id2rgb, rgb2id, write_coco_panoptic
from segzoo.data.panoptic_utils import CategoryMap, colormap, segment_stats


def sample_dataset(shared_data: Path, **kwargs) -> COCOPanoptic:
    root = shared_data / "coco_panoptic_sample"
    return COCOPanoptic(root, images="images", panoptic="panoptic", annotations="panoptic_val_sample.json", **kwargs)


def test_rgb2id_id2rgb_known_values_and_round_trip():
    assert rgb2id([1, 2, 3]) == 1 + 2 * 256 + 3 * 65536
    assert id2rgb(1 + 2 * 256 + 3 * 65536) == [1, 2, 3]
    ids = np.array([[0, 1, 255], [256, 65536, 256**3 - 1]])
    rgb = id2rgb(ids)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 3, 3)
    assert rgb[1, 1].tolist() == [0, 0, 1]
    np.testing.assert_array_equal(rgb2id(rgb), ids)
    assert torch.equal(rgb2id(id2rgb(torch.from_numpy(ids))), torch.from_numpy(ids))
    with pytest.raises(ValueError, match="256"):
        id2rgb(np.array([256**3]))


def test_category_map_sorts_ids_things_and_stuff_together():
    cmap = CategoryMap(
        [
            {"id": 200, "name": "rug", "isthing": 0},
            {"id": 3, "name": "car", "isthing": 1},
            {"id": 1, "name": "person", "isthing": 1},
            {"id": 92, "name": "banner", "isthing": 0},
        ]
    )
    assert cmap.names == ["person", "car", "banner", "rug"]
    assert cmap.thing_ids == [0, 1] and cmap.stuff_ids == [2, 3]
    assert cmap.to_train_ids(np.array([1, 3, 92, 200, 0, 5, 999])).tolist() == [0, 1, 2, 3, 255, 255, 255]
    with pytest.raises(KeyError, match="Unknown category id 7"):
        cmap.train_id(7)
    assert colormap(3) == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]  # the VOC palette


def test_boxes_from_masks_are_pixel_edges():
    masks = torch.zeros((3, 5, 6), dtype=torch.bool)
    masks[0, 2, 3] = True  # one pixel
    masks[1, 1:4, 0:6] = True
    boxes = boxes_from_masks(masks)
    assert boxes.tolist() == [[3, 2, 4, 3], [0, 1, 6, 4], [0, 0, 0, 0]]


def test_real_coco_samples_match_the_json(shared_data):
    ds = sample_dataset(shared_data)
    data = json.loads((shared_data / "coco_panoptic_sample" / "panoptic_val_sample.json").read_text())
    assert len(ds) == 2 and ds.num_classes == 133 and ds.task == "panoptic"
    assert ds.thing_ids == list(range(80)) and ds.stuff_ids == list(range(80, 133))
    assert ds.categories[0]["name"] == "person" and ds.categories[132]["id"] == 200
    for index, ann in enumerate(data["annotations"]):
        image, target = ds[index]
        info = data["images"][index]
        assert image.dtype == torch.uint8 and image.shape == (3, info["height"], info["width"])
        assert target["image_id"] == ann["image_id"]
        json_segments = {s["id"]: s for s in ann["segments_info"]}
        assert len(target["segments_info"]) == len(json_segments) == {142238: 18, 439180: 32}[ann["image_id"]]
        for seg in target["segments_info"]:
            ref = json_segments[seg["id"]]
            assert seg["area"] == ref["area"] and seg["bbox"] == ref["bbox"]
            assert seg["category_id"] == ref["category_id"] and seg["iscrowd"] == bool(ref["iscrowd"])
            assert seg["train_id"] == ds.category_map.train_id(ref["category_id"])
        things = [json_segments[s["id"]] for s in target["segments_info"] if s["isthing"]]
        n = len(things)
        assert target["masks"].shape == (n, *image.shape[1:]) and target["masks"].dtype == torch.bool
        assert target["masks"].sum(0).max() <= 1  # disjoint
        assert target["masks"].sum((1, 2)).tolist() == [t["area"] for t in things]
        expected_boxes = [[x, y, x + w, y + h] for x, y, w, h in (t["bbox"] for t in things)]
        assert target["boxes"].tolist() == expected_boxes
        assert target["labels"].tolist() == [ds.category_map.train_id(t["category_id"]) for t in things]
        assert all(0 <= label < 80 for label in target["labels"].tolist())
        assert target["iscrowd"].tolist() == [bool(t["iscrowd"]) for t in things]
        assert int(target["iscrowd"].sum()) == {142238: 1, 439180: 2}[ann["image_id"]]  # crowd regions kept
        # sem_seg: every segment's pixels carry its train id (crowd included), void is 255.
        sem, pan = target["sem_seg"], target["panoptic"]
        for seg in target["segments_info"]:
            assert torch.all(sem[pan == seg["id"]] == seg["train_id"])
        assert torch.all(sem[pan == 0] == 255) and (pan == 0).any()
        png = np.array(Image.open(shared_data / "coco_panoptic_sample" / "panoptic" / ann["file_name"]))
        assert torch.equal(pan, torch.from_numpy(rgb2id(png)))


def test_segment_stats_known_answer():
    pan = torch.tensor([[0, 5, 5], [7, 5, 0], [7, 7, 7]])
    assert segment_stats(pan) == {5: (3, [1, 0, 2, 2]), 7: (4, [0, 1, 3, 2])}
    with pytest.raises(ValueError, match=r"\[7\]"):
        segment_stats(pan, [5])


def _copy_sample(shared_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "coco"
    shutil.copytree(shared_data / "coco_panoptic_sample", root)
    for p in root.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)  # the shared copy is read-only
    return root


def test_errors_name_the_file(shared_data, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"annotations/panoptic_val2017\.json") as err:
        COCOPanoptic(tmp_path)
    assert "ROOT/images/" in str(err.value)  # the other accepted layout is listed too
    root = _copy_sample(shared_data, tmp_path)
    kwargs = dict(images="images", panoptic="panoptic", annotations="panoptic_val_sample.json")
    (root / "panoptic" / "000000142238.png").unlink()
    with pytest.raises(FileNotFoundError, match="000000142238.png"):
        COCOPanoptic(root, **kwargs)[0]
    # A PNG whose ids are not in the JSON: the file is named.
    Image.fromarray(id2rgb(np.full((427, 640), 12345))).save(root / "panoptic" / "000000142238.png")
    with pytest.raises(ValueError, match=r"000000142238\.png.*\[12345\]"):
        COCOPanoptic(root, **kwargs)[0]
    # Image and PNG of different sizes.
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(root / "panoptic" / "000000142238.png")
    with pytest.raises(ValueError, match=r"000000142238\.jpg.*427x640.*10x12"):
        COCOPanoptic(root, **kwargs)[0]
    (root / "images" / "000000439180.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(OSError, match="000000439180.jpg"):
        COCOPanoptic(root, **kwargs)[1]


def test_write_and_read_back_gives_the_same_samples(tmp_path):
    ds = SyntheticPanoptic(3, size=(40, 56), seed=3)
    json_path = write_coco_panoptic(ds, tmp_path / "syn")
    assert json_path == tmp_path / "syn" / "panoptic.json"
    back = COCOPanoptic(tmp_path / "syn")  # the simple layout is found without arguments
    assert len(back) == 3 and back.classes == ds.classes and back.thing_ids == ds.thing_ids
    assert [c["id"] for c in back.categories] == [c["id"] for c in ds.categories]
    for i in range(3):
        (image, target), (image2, target2) = ds[i], back[i]
        assert torch.equal(image, image2)
        assert target.keys() == target2.keys()
        for key, value in target.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, target2[key]), key
            else:
                assert value == target2[key], key
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_coco_panoptic(ds, tmp_path / "syn")
