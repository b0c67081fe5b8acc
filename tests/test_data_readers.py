"""Dataset readers on tiny fabricated trees in each official layout.

ADE20K (Zhou et al., arXiv:1608.05442), Cityscapes (Cordts et al., arXiv:1604.01685),
Pascal VOC 2012 (Everingham et al., IJCV 2010) + SBD (Hariharan et al., ICCV 2011), and
the generic image/mask folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segzoo.data import ADE20K, Cityscapes, SegmentationFolder, VOCSegmentation
from segzoo.data.cityscapes import CITYSCAPES_CATEGORIES, OFFICIAL_TRAIN_IDS
from segzoo.data.panoptic_utils import CategoryMap


def write_image(path: Path, height: int, width: int, seed: int = 0, fmt: str | None = None) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return pixels


def write_label(path: Path, values: np.ndarray, *, palette: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.uint16 if values.max() > 255 else np.uint8
    image = Image.fromarray(values.astype(dtype))
    if palette:
        image = image.convert("P") if dtype == np.uint8 else image
        image.putpalette([c for i in range(256) for c in (i * 7 % 256, i * 13 % 256, i * 29 % 256)])
    image.save(path)


# ---------------------------------------------------------------- ADE20K


def make_ade(root: Path) -> np.ndarray:
    label = np.array([[0, 1, 150], [2, 0, 151]], dtype=np.uint8).repeat(8, 0).repeat(8, 1)  # 16x24
    for split in ("training", "validation"):
        write_image(root / "images" / split / f"ADE_{split}_00000001.jpg", 16, 24, fmt="JPEG")
        write_label(root / "annotations" / split / f"ADE_{split}_00000001.png", label)
    return label


def test_ade20k_reduce_zero_label(tmp_path):
    label = make_ade(tmp_path / "ADEChallengeData2016")
    ds = ADE20K(tmp_path, split="validation")  # the parent folder is accepted too
    assert len(ds) == 1 and ds.num_classes == 150 and ds.classes[0] == "wall" and ds.classes[-1] == "flag"
    image, target = ds[0]
    assert image.shape == (3, 16, 24) and image.dtype == torch.uint8
    assert target["image_id"] == "ADE_validation_00000001"
    expected = np.where(label == 0, 255, label.astype(np.int64) - 1)
    expected[label > 150] = 255
    assert torch.equal(target["sem_seg"], torch.from_numpy(expected))
    raw = ADE20K(tmp_path / "ADEChallengeData2016", split="train", reduce_zero_label=False)
    assert raw.num_classes == 151 and raw.classes[0] == "other"
    sem = raw[0][1]["sem_seg"]
    assert sem[0, 0] == 0 and sem[0, 8] == 1 and sem[0, 16] == 150 and sem[8, 16] == 255


def test_ade20k_errors(tmp_path):
    (tmp_path / "images" / "training").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"annotations/training") as err:
        ADE20K(tmp_path)
    assert "ROOT/images/training/*.jpg" in str(err.value)
    with pytest.raises(ValueError, match="split"):
        ADE20K(tmp_path, split="test")
    make_ade(tmp_path)
    write_image(tmp_path / "images" / "training" / "ADE_train_2.jpg", 16, 24)
    with pytest.raises(FileNotFoundError, match="ADE_train_2.jpg"):
        ADE20K(tmp_path)
    (tmp_path / "images" / "training" / "ADE_train_2.jpg").unlink()
    write_label(tmp_path / "annotations" / "training" / "ADE_training_00000001.png", np.zeros((15, 24)))
    with pytest.raises(ValueError, match=r"ADE_training_00000001\.jpg is 16x24.*15x24"):
        ADE20K(tmp_path)[0]


# ---------------------------------------------------------------- Cityscapes


def make_cityscapes(root: Path) -> tuple[np.ndarray, np.ndarray]:
    # label ids: road 7, sky 23, car 26, parking 9 (not evaluated), person 24, unlabeled 0
    label_ids = np.array([[7, 7, 23, 23], [26, 26, 9, 24], [26, 24, 24, 0]], dtype=np.uint8).repeat(4, 0).repeat(4, 1)
    instances = label_ids.astype(np.int64)
    instances[4:8, 0:8] = 26000  # car instance 0
    instances[8:12, 0:4] = 26001  # car instance 1
    instances[4:8, 12:16] = 24000  # a person instance; the other person pixels stay 24: a crowd group
    for split, city in (("train", "aachen"), ("val", "lindau")):
        stem = f"{city}_000000_000019"
        write_image(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", 12, 16)
        write_label(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", label_ids)
        write_label(root / "gtFine" / split / city / f"{stem}_gtFine_instanceIds.png", instances)
    return label_ids, instances


def test_cityscapes_sorted_label_ids_give_the_official_train_ids():
    cmap = CategoryMap(CITYSCAPES_CATEGORIES)
    assert {c["id"]: c["train_id"] for c in cmap.categories} == OFFICIAL_TRAIN_IDS
    things = [cmap.names[i] for i in cmap.thing_ids]
    assert things == ["person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]
    table = cmap.to_train_ids(np.arange(34))
    assert table[7] == 0 and table[33] == 18 and table[9] == 255 and table[0] == 255 and (table != 255).sum() == 19


def test_cityscapes_semantic_and_panoptic(tmp_path):
    label_ids, instances = make_cityscapes(tmp_path)
    sem = Cityscapes(tmp_path, split="val")
    assert sem.task == "semantic" and sem.num_classes == 19 and len(sem) == 1
    image, target = sem[0]
    assert image.shape == (3, 12, 16) and target["image_id"] == "lindau_000000_000019"
    expected = np.vectorize(lambda v: OFFICIAL_TRAIN_IDS.get(int(v), 255))(label_ids)
    assert torch.equal(target["sem_seg"], torch.from_numpy(expected.astype(np.int64)))

    pan = Cityscapes(tmp_path, split="train", mode="panoptic")
    assert pan.task == "panoptic"
    image, target = pan[0]
    assert torch.equal(target["sem_seg"], torch.from_numpy(expected.astype(np.int64)))
    segments = {s["id"]: s for s in target["segments_info"]}
    assert set(segments) == {7, 23, 26000, 26001, 24000, 24}  # parking (9) and unlabeled (0) are void
    assert segments[24]["iscrowd"] and segments[24]["isthing"] and segments[24]["area"] == 32
    assert not segments[26000]["iscrowd"] and segments[26000]["category_id"] == 26 and segments[26000]["area"] == 32
    assert not segments[7]["iscrowd"] and not segments[7]["isthing"]
    assert torch.all(target["panoptic"][torch.from_numpy(np.isin(label_ids, [0, 9]))] == 0)
    # Instances: the two cars, the person and the crowd group, in segments_info order.
    things = [s for s in target["segments_info"] if s["isthing"]]
    assert target["labels"].tolist() == [s["train_id"] for s in things]
    assert sorted(target["labels"].tolist()) == [11, 11, 13, 13]
    for mask, seg in zip(target["masks"], things):
        assert torch.equal(mask, target["panoptic"] == seg["id"])
    box_of = dict(zip([s["id"] for s in things], target["boxes"].tolist()))
    assert box_of[26000] == [0, 4, 8, 8] and box_of[26001] == [0, 8, 4, 12]


def test_cityscapes_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="leftImg8bit/train") as err:
        Cityscapes(tmp_path)
    assert "_gtFine_labelIds.png" in str(err.value)
    make_cityscapes(tmp_path)
    with pytest.raises(ValueError, match="mode"):
        Cityscapes(tmp_path, mode="instance")
    (tmp_path / "gtFine" / "val" / "lindau" / "lindau_000000_000019_gtFine_instanceIds.png").unlink()
    with pytest.raises(FileNotFoundError, match="lindau_000000_000019_leftImg8bit.png"):
        Cityscapes(tmp_path, split="val", mode="panoptic")


# ---------------------------------------------------------------- Pascal VOC


def make_voc(root: Path, *, aug: bool = False) -> np.ndarray:
    label = np.array([[0, 15, 255], [20, 7, 0]], dtype=np.uint8).repeat(6, 0).repeat(5, 1)  # 12x15
    names = {"train": ["2007_000032", "2007_000039"], "val": ["2007_000033"]}
    for i, name in enumerate(names["train"] + names["val"]):
        write_image(root / "JPEGImages" / f"{name}.jpg", 12, 15, seed=i, fmt="JPEG")
        write_label(root / "SegmentationClass" / f"{name}.png", label, palette=True)
    sets = root / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True)
    for split, items in names.items():
        (sets / f"{split}.txt").write_text("\n".join(items) + "\n")
    if aug:
        write_image(root / "JPEGImages" / "2008_000002.jpg", 12, 15, fmt="JPEG")
        for name in names["train"] + ["2008_000002"]:
            write_label(root / "SegmentationClassAug" / f"{name}.png", np.full((12, 15), 3, np.uint8))
        (sets / "train_aug.txt").write_text("2007_000032\n2008_000002\n")
    return label


def test_voc_palette_labels_and_boundary(tmp_path):
    label = make_voc(tmp_path / "VOCdevkit" / "VOC2012")
    assert Image.open(tmp_path / "VOCdevkit/VOC2012/SegmentationClass/2007_000032.png").mode == "P"
    ds = VOCSegmentation(tmp_path / "VOCdevkit", split="train")
    assert len(ds) == 2 and ds.num_classes == 21 and ds.classes[15] == "person"
    assert ds.thing_ids == list(range(1, 21)) and ds.stuff_ids == [0]
    image, target = ds[1]
    assert image.shape == (3, 12, 15) and target["image_id"] == "2007_000039"
    assert torch.equal(target["sem_seg"], torch.from_numpy(label.astype(np.int64)))  # indices, not colours
    assert len(VOCSegmentation(tmp_path / "VOCdevkit" / "VOC2012", split="val")) == 1


def test_voc_train_aug(tmp_path):
    make_voc(tmp_path, aug=True)
    ds = VOCSegmentation(tmp_path, split="train_aug")
    assert [p[0].stem for p in ds.samples] == ["2007_000032", "2008_000002"]
    assert torch.all(ds[1][1]["sem_seg"] == 3)  # read from SegmentationClassAug


def test_voc_errors(tmp_path):
    make_voc(tmp_path)
    with pytest.raises(FileNotFoundError, match="SegmentationClassAug"):
        VOCSegmentation(tmp_path, split="train_aug")
    with pytest.raises(FileNotFoundError, match=r"available lists: \['train', 'val'\]"):
        VOCSegmentation(tmp_path, split="trainval")
    (tmp_path / "SegmentationClass" / "2007_000033.png").unlink()
    with pytest.raises(FileNotFoundError, match="2007_000033.png"):
        VOCSegmentation(tmp_path, split="val")


# ---------------------------------------------------------------- folder


def test_folder_masks_and_ignore_index(tmp_path):
    mask = np.array([[0, 1, 2], [9, 2, 0]], dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    write_image(tmp_path / "images" / "a.png", 16, 24)
    write_image(tmp_path / "images" / "b.jpg", 16, 24, fmt="JPEG")
    write_label(tmp_path / "masks" / "a.png", mask)
    write_label(tmp_path / "masks" / "b.png", np.zeros((16, 24), np.uint8))
    ds = SegmentationFolder(tmp_path, num_classes=3, ignore_index=9, classes=["bg", "x", "y"])
    assert len(ds) == 2 and ds.classes == ["bg", "x", "y"]
    image, target = ds[0]
    assert target["image_id"] == "a" and image.shape == (3, 16, 24)
    assert torch.equal(target["sem_seg"], torch.from_numpy(np.where(mask == 9, 255, mask).astype(np.int64)))
    with pytest.raises(ValueError, match=r"a\.png has values \[9\]"):
        SegmentationFolder(tmp_path, num_classes=3, ignore_index=None)[0]
    with pytest.raises(ValueError, match="ignore_index 2 is a class"):
        SegmentationFolder(tmp_path, num_classes=3, ignore_index=2)


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing the folder\(s\) \['images', 'masks'\]"):
        SegmentationFolder(tmp_path, num_classes=2)
    write_image(tmp_path / "images" / "a.png", 8, 8)
    write_image(tmp_path / "images" / "c.png", 8, 8)
    write_label(tmp_path / "masks" / "a.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(FileNotFoundError, match="c.png"):
        SegmentationFolder(tmp_path, num_classes=2)
    (tmp_path / "images" / "c.png").unlink()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "masks" / "a.png")
    with pytest.raises(ValueError, match=r"a\.png has mode 'RGB'.*class indices"):
        SegmentationFolder(tmp_path, num_classes=2)[0]
