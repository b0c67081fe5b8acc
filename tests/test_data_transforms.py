"""Joint transforms and Mosaic (YOLOv4, arXiv:2004.10934): label/image alignment, consistent targets.

The test images encode their labels: each pixel's colour is its class's colour, so after a
transform the class read back from the image must equal ``sem_seg`` away from boundaries
(a label flipped without its image, or shifted by a crop, fails).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segzoo.data import (
    Compose,
    Mosaic,
    MosaicDataset,
    Normalize,
    PadToDivisor,
    PhotometricDistortion,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResize,
    Resize,
    SyntheticPanoptic,
    SyntheticSemantic,
)
from segzoo.data import functional as DF
from segzoo.data.panoptic_utils import CategoryMap, panoptic_target

CMAP = CategoryMap(
    [{"id": i, "name": name, "isthing": 1} for i, name in ((1, "a"), (2, "b"), (3, "c"))]
    + [{"id": i, "name": name, "isthing": 0} for i, name in ((10, "s"), (11, "t"), (12, "u"))]
)
SEGMENT_CATEGORY = {1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 10, 7: 11, 8: 12}  # segment id -> category id
# Colour of train ids 0..5; index 6 (void, 255) is black like the image padding.
PALETTE = torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255], [0, 0, 0]])


def coded_sample(seed: int = 0, size: tuple[int, int] = (48, 72), block: int = 12):
    """Blocks of random segments (0 = void); each pixel's colour is its class's colour."""
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, 9, (size[0] // block, size[1] // block), generator=g)
    panoptic = blocks.repeat_interleave(block, 0).repeat_interleave(block, 1)
    segments = [{"id": i, "category_id": SEGMENT_CATEGORY[i], "iscrowd": int(i == 2)} for i in range(1, 9)]
    target = panoptic_target(panoptic, segments, CMAP, image_id=seed)
    image = PALETTE[target["sem_seg"].clamp(max=6)].permute(2, 0, 1).to(torch.uint8).contiguous()
    return image, target


def decode(image: torch.Tensor) -> torch.Tensor:
    """(3, H, W) image -> (H, W) class of the nearest palette colour (255 for black)."""
    distance = torch.cdist(image.permute(1, 2, 0).reshape(-1, 3).float(), PALETTE.float())
    classes = distance.argmin(1).reshape(image.shape[1:])
    return torch.where(classes == 6, torch.tensor(255), classes)


def assert_aligned(image: torch.Tensor, target: dict, min_interior: float = 0.1) -> None:
    """Classes read from the image equal ``sem_seg`` wherever the 5x5 neighbourhood has one class.

    Resizing blends colours (bilinear) only across class boundaries, so away from them the
    colour still names the class.
    """
    sem = target["sem_seg"].float()[None, None]
    uniform = (F.max_pool2d(sem, 5, 1, 2) == -F.max_pool2d(-sem, 5, 1, 2))[0, 0]
    # Pixels near the image border may blend with pixels a crop cut away: not checked.
    uniform[:2], uniform[-2:], uniform[:, :2], uniform[:, -2:] = False, False, False, False
    assert uniform.float().mean() > min_interior  # the check is not vacuous
    assert torch.equal(decode(image)[uniform], target["sem_seg"][uniform])


def assert_consistent(target: dict) -> None:
    """Masks = thing segments of the panoptic map; boxes, areas and segment boxes match the pixels."""
    pan, infos = target["panoptic"], target["segments_info"]
    assert sorted(s["id"] for s in infos) == sorted(set(pan.unique().tolist()) - {0})
    things = [s for s in infos if s["isthing"]]
    n = len(things)
    assert target["masks"].shape[0] == target["boxes"].shape[0] == len(target["labels"]) == len(target["iscrowd"]) == n
    instances = zip(target["masks"], target["boxes"], target["labels"], target["iscrowd"], things)
    for mask, box, label, crowd, seg in instances:
        assert torch.equal(mask, pan == seg["id"])
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
        assert label == seg["train_id"] and bool(crowd) == seg["iscrowd"]
    for seg in infos:
        ys, xs = torch.nonzero(pan == seg["id"], as_tuple=True)
        assert seg["area"] == len(ys)
        x0, y0 = xs.min().item(), ys.min().item()
        assert seg["bbox"] == [x0, y0, xs.max().item() - x0 + 1, ys.max().item() - y0 + 1]
        assert torch.all(target["sem_seg"][pan == seg["id"]] == seg["train_id"])
    assert torch.all(target["sem_seg"][pan == 0] == 255)


GEOMETRIC = {
    "hflip": lambda: RandomHorizontalFlip(1.0),
    "resize_up": lambda: Resize((72, 108)),
    "resize_down": lambda: Resize(29),  # short side 48 -> 29, a non-integer factor
    "random_resize": lambda: RandomResize((40, 60), scale_range=(0.6, 1.4), generator=1),
    "crop": lambda: RandomCrop((30, 41), cat_max_ratio=0.6, generator=2),
    "crop_pad": lambda: RandomCrop((64, 64), generator=3),
    "pad": lambda: PadToDivisor(32),
    "compose": lambda: Compose([RandomResize(60, scales=(0.75, 1.25), generator=4), RandomCrop(40, generator=5),
                                RandomHorizontalFlip(generator=6), PadToDivisor(16)]),  # fmt: skip
}


@pytest.mark.parametrize("name", sorted(GEOMETRIC))
def test_geometric_transforms_keep_labels_aligned_and_targets_consistent(name):
    transform = GEOMETRIC[name]()
    for seed in range(3):
        image, target = transform(*coded_sample(seed))
        assert image.dtype == torch.uint8 and image.shape[1:] == target["sem_seg"].shape == target["panoptic"].shape
        assert target["masks"].shape[1:] == image.shape[1:] and target["image_id"] == seed
        assert_aligned(image, target)
        assert_consistent(target)


def test_alignment_check_catches_a_label_flipped_without_its_image():
    image, target = coded_sample(0)
    assert_aligned(image, target)
    _, flipped = DF.hflip(image, target)
    with pytest.raises(AssertionError):
        assert_aligned(image, flipped)
    _, shifted = DF.crop(image, target, 0, 6, 48, 66)
    with pytest.raises(AssertionError):
        assert_aligned(DF.crop(image, target, 0, 0, 48, 66)[0], shifted)


def test_box_values_after_flip_resize_crop():
    panoptic = torch.full((48, 72), 6)
    panoptic[2:10, 5:20] = 1  # rectangles: boxes [5, 2, 20, 10], [50, 30, 70, 40], [0, 44, 4, 48]
    panoptic[30:40, 50:70] = 3
    panoptic[44:48, 0:4] = 5
    segments = [{"id": i, "category_id": SEGMENT_CATEGORY[i]} for i in (1, 3, 5, 6)]
    target = panoptic_target(panoptic, segments, CMAP, image_id=0)
    image = torch.zeros((3, 48, 72), dtype=torch.uint8)
    assert target["boxes"].tolist() == [[5, 2, 20, 10], [50, 30, 70, 40], [0, 44, 4, 48]]
    assert DF.hflip(image, target)[1]["boxes"].tolist() == [[52, 2, 67, 10], [2, 30, 22, 40], [68, 44, 72, 48]]
    doubled = DF.resize(image, target, (96, 144))[1]["boxes"]
    assert doubled.tolist() == [[10, 4, 40, 20], [100, 60, 140, 80], [0, 88, 8, 96]]
    # nearest-exact: output pixel i samples input pixel 2i + 1 (its centre) when halving
    assert DF.resize(image, target, (24, 36))[1]["boxes"].tolist() == [[2, 1, 10, 5], [25, 15, 35, 20], [0, 22, 2, 24]]
    cropped = DF.crop(image, target, 6, 10, 30, 50)[1]  # rows 6..36, cols 10..60
    assert cropped["boxes"].tolist() == [[0, 0, 10, 4], [40, 24, 50, 30]]  # the third instance is cut away
    assert cropped["labels"].tolist() == [0, 1] and [s["id"] for s in cropped["segments_info"]] == [1, 3, 6]


def test_box_only_targets_use_torchvision_box_kernels():
    image = torch.zeros((3, 20, 30), dtype=torch.uint8)
    target = {"boxes": torch.tensor([[2.0, 3.0, 12.0, 8.0], [25.0, 0.0, 30.0, 5.0]]), "labels": torch.tensor([4, 5])}
    assert DF.hflip(image, target)[1]["boxes"].tolist() == [[18, 3, 28, 8], [0, 0, 5, 5]]
    assert DF.resize(image, target, (40, 60))[1]["boxes"].tolist() == [[4, 6, 24, 16], [50, 0, 60, 10]]
    cropped = DF.crop(image, target, 0, 0, 20, 20)[1]
    assert cropped["boxes"].tolist() == [[2, 3, 12, 8]] and cropped["labels"].tolist() == [4]


def test_random_crop_cat_max_ratio_when_possible():
    sem = torch.zeros((64, 64), dtype=torch.int64)
    sem[:, 28:36] = 1  # a narrow stripe: few random 16x16 crops hold >= 25 % of it
    image = torch.zeros((3, 64, 64), dtype=torch.uint8)

    def balanced(crop_sem):
        counts = torch.bincount(crop_sem.reshape(-1), minlength=2)
        return counts.max().item() / counts.sum().item() < 0.75

    with_ratio = [balanced(RandomCrop(16, cat_max_ratio=0.75, generator=s)(image, {"sem_seg": sem})[1]["sem_seg"])
                  for s in range(20)]  # fmt: skip
    without = [balanced(RandomCrop(16, generator=s)(image, {"sem_seg": sem})[1]["sem_seg"]) for s in range(20)]
    assert sum(with_ratio) >= 19 and sum(without) <= 12
    # Impossible (one class): the crop is still made.
    out = RandomCrop(16, cat_max_ratio=0.75, generator=0)(image, {"sem_seg": torch.zeros_like(sem)})[1]["sem_seg"]
    assert out.shape == (16, 16)


def test_padding_values():
    image, target = coded_sample(2, size=(36, 60))
    padded, out = PadToDivisor(32)(image, target)
    assert padded.shape == (3, 64, 64) and out["sem_seg"].shape == (64, 64) and out["masks"].shape[1:] == (64, 64)
    assert torch.equal(padded[:, :36, :60], image) and torch.equal(out["sem_seg"][:36, :60], target["sem_seg"])
    assert torch.all(padded[:, 36:] == 0) and torch.all(padded[:, :, 60:] == 0)
    assert torch.all(out["sem_seg"][36:] == 255) and torch.all(out["sem_seg"][:, 60:] == 255)
    assert torch.all(out["panoptic"][36:] == 0) and not out["masks"][:, :, 60:].any()
    assert torch.equal(out["boxes"], target["boxes"])  # padding is bottom/right: boxes do not move
    same, _ = PadToDivisor(12)(image, target)
    assert same.shape == image.shape
    big, big_target = RandomCrop(50, fill=7, generator=0)(image, target)  # image smaller than the crop
    assert big.shape == (3, 50, 50) and torch.all(big[:, 36:] == 7) and torch.all(big_target["sem_seg"][36:] == 255)


def test_normalize_values_and_dtype():
    image = torch.tensor([0, 255], dtype=torch.uint8).reshape(1, 1, 2).repeat(3, 1, 1)
    out, target = Normalize(mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))(image, {"x": 1})
    assert out.dtype == torch.float32 and target == {"x": 1}
    assert torch.allclose(out[:, 0, 0], torch.tensor([-1.0, -1.0, 0.0]))
    assert torch.allclose(out[:, 0, 1], torch.tensor([1.0, 3.0, 1.0]))
    with pytest.raises(ValueError, match="channel"):
        Normalize(mean=(0.5,), std=(0.5,))(image, {})


def test_photometric_distortion_changes_the_image_only_and_is_seeded():
    image, target = coded_sample(0)
    a_image, a_target = PhotometricDistortion(p=1.0, generator=7)(image, target)
    b_image, _ = PhotometricDistortion(p=1.0, generator=7)(image, target)
    assert a_target is target  # labels untouched
    assert a_image.dtype == torch.uint8 and a_image.shape == image.shape
    assert not torch.equal(a_image, image) and torch.equal(a_image, b_image)
    assert torch.equal(PhotometricDistortion(p=0.0)(image, target)[0], image)
    float_out, _ = PhotometricDistortion(p=1.0, generator=7)(image.float() / 255, target)
    assert float_out.dtype == torch.float32 and float_out.max() <= 1
    assert (float_out * 255 - a_image.float()).abs().max() <= 1  # same operations on float input


def test_random_resize_base_sizes_and_scales():
    image, target = coded_sample(0, size=(40, 60), block=10)
    transform = RandomResize((520, 640, 800), scales=(0.5, 1.0), generator=0)  # seed 001's bases
    semantic = {"sem_seg": target["sem_seg"]}  # the image and one label map: keeps the big resizes cheap
    shorts = {transform(image, semantic)[0].shape[1] for _ in range(12)}
    assert shorts <= {260, 320, 400, 520, 640, 800} and len(shorts) >= 4
    continuous = RandomResize(40, scale_range=(0.5, 1.5), max_size=70, generator=0)
    for _ in range(10):
        out, _ = continuous(image, target)
        assert 20 <= out.shape[1] <= 60 and out.shape[2] <= 70
    with pytest.raises(ValueError, match="not both"):
        RandomResize(512, scale_range=(0.5, 2.0), scales=(1.0,))


def test_random_transforms_follow_the_global_rng_or_their_generator():
    image, target = coded_sample(0)
    t = Compose([RandomResize(48, scale_range=(0.5, 2.0)), RandomCrop(32), RandomHorizontalFlip()])
    torch.manual_seed(3)
    first = t(image, target)[0]
    torch.manual_seed(3)
    assert torch.equal(first, t(image, target)[0])
    seeded = [RandomCrop(32, generator=11)(image, target)[0] for _ in range(2)]
    assert torch.equal(seeded[0], seeded[1])


# ---------------------------------------------------------------- Mosaic


def test_mosaic_stitches_quadrants_renumbers_ids_and_drops_vanished_instances():
    samples = [coded_sample(seed) for seed in range(4)]
    image, target = Mosaic((48, 72), center_range=(0.5, 0.5), generator=0)(samples)
    assert image.shape == (3, 48, 72) and target["image_id"] == (0, 1, 2, 3)
    assert_aligned(image, target)
    assert_consistent(target)
    ids = [s["id"] for s in target["segments_info"]]
    assert ids == list(range(1, len(ids) + 1))  # unique across the four samples
    # Centre (24, 36); each sample fits the output exactly, so quadrant q shows the part of
    # sample q that touches the centre: sample 0's bottom-right quarter, 1's bottom-left, ...
    quarters = [(slice(24, 48), slice(36, 72)), (slice(24, 48), slice(0, 36)),
                (slice(0, 24), slice(36, 72)), (slice(0, 24), slice(0, 36))]  # fmt: skip
    canvas = [(slice(0, 24), slice(0, 36)), (slice(0, 24), slice(36, 72)),
              (slice(24, 48), slice(0, 36)), (slice(24, 48), slice(36, 72))]  # fmt: skip
    for (src_image, src_target), src, dst in zip(samples, quarters, canvas):
        assert torch.equal(image[:, dst[0], dst[1]], src_image[:, src[0], src[1]])
        assert torch.equal(target["sem_seg"][dst], src_target["sem_seg"][src])
    kept = sum(len(torch.unique(t["panoptic"][src]).nonzero()) for (_, t), src in zip(samples, quarters))
    total = sum(len(t["segments_info"]) for _, t in samples)
    assert len(ids) == kept < total  # segments outside the kept quarters are gone


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mosaic_random_centre_and_scale_keeps_targets_consistent(seed):
    samples = [coded_sample(s, size=(48 - 12 * (s % 2), 72)) for s in range(seed, seed + 4)]
    image, target = Mosaic(60, scale_range=(0.5, 1.0), generator=seed)(samples)
    assert image.shape == (3, 60, 60)
    assert_aligned(image, target, min_interior=0.05)
    assert_consistent(target)
    area = sum(s["area"] for s in target["segments_info"])
    assert area == int((target["panoptic"] > 0).sum())


def test_mosaic_dataset_and_errors():
    ds = SyntheticPanoptic(5, size=(32, 40), seed=0)
    flip = RandomHorizontalFlip(generator=0)
    mosaic = MosaicDataset(ds, Mosaic(32, generator=0), p=1.0, transforms=flip, generator=0)
    assert len(mosaic) == 5 and mosaic.classes == ds.classes and mosaic.thing_ids == ds.thing_ids
    image, target = mosaic[2]
    assert image.shape == (3, 32, 32) and len(target["image_id"]) == 4 and target["image_id"][0] == 2
    assert_consistent(target)
    plain = MosaicDataset(ds, Mosaic(32), p=0.0)
    assert torch.equal(plain[1][0], ds[1][0])
    with pytest.raises(ValueError, match="exactly 4"):
        Mosaic(32)([ds[0]] * 3)
    with pytest.raises(ValueError, match="differs from sample 0"):
        Mosaic(32)([ds[0]] * 3 + [(ds[0][0], {"sem_seg": ds[0][1]["sem_seg"]})])


def test_mosaic_dataset_adds_extra_mosaics_after_the_source_samples():
    """Seed 001's 1:0.3 set: the 10 source samples unchanged, then 3 mosaics of four random samples."""
    ds = SyntheticSemantic(10, size=(32, 32), seed=0)
    added = MosaicDataset(ds, Mosaic(32, generator=0), extra=0.3, generator=0)
    assert len(added) == 13
    for i in (0, 9):
        assert torch.equal(added[i][0], ds[i][0]) and torch.equal(added[i][1]["sem_seg"], ds[i][1]["sem_seg"])
    image, target = added[12]
    assert image.shape == (3, 32, 32) and len(target["image_id"]) == 4
    sources = {ds[j][1]["image_id"] for j in range(10)}
    assert set(target["image_id"]) <= sources
    assert len(added[-1][1]["image_id"]) == 4 and added[-13][1]["image_id"] == ds[0][1]["image_id"]  # from the end
    with pytest.raises(IndexError, match="13 samples"):
        added[13]
    with pytest.raises(ValueError, match="not both"):
        MosaicDataset(ds, Mosaic(32), p=0.5, extra=0.3)
    with pytest.raises(ValueError, match="extra must be"):
        MosaicDataset(ds, Mosaic(32), extra=-1)


def test_mosaic_with_the_centre_in_a_corner_shows_one_sample():
    samples = [coded_sample(seed) for seed in range(4)]
    image, target = Mosaic((48, 72), center_range=(0.0, 0.0), generator=0)(samples)
    assert torch.equal(image, samples[3][0]) and torch.equal(target["sem_seg"], samples[3][1]["sem_seg"])
    assert target["image_id"] == (0, 1, 2, 3)  # all four sources, even those cut away entirely
    assert len(target["segments_info"]) == len(samples[3][1]["segments_info"])
    assert_consistent(target)
