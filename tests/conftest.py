"""Shared test helpers: small model builds and the path of the shared COCO sample data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import segzoo

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Tiny tensors: one intra-op thread is as fast and avoids oversubscribing a busy machine
# (with several processes, 2 OpenMP threads each made small ops 10-50x slower here).
torch.set_num_threads(1)


# CLI options of a small panoptic recipe (tiny backbone, narrow heads, few proposals)
TINY_PANOPTIC_SET = ["--set", "backbone=tiny", "--set", "fpn_channels=32", "--set", "box_channels=64", "--set",
                     "mask_channels=32", "--set", "rpn_top_n=60,30", "--set", "detections_per_img=10"]  # fmt: skip


# Defaults of a small panoptic recipe (tiny backbone, 5 classes: 3 thing and 2 stuff, narrow heads, few proposals)
TINY_PANOPTIC = dict(
    backbone="tiny", num_classes=5, thing_ids=(0, 1, 2), stuff_ids=(3, 4), fpn_channels=16, box_channels=32,
    mask_channels=16, rpn_top_n=(50, 20), detections_per_img=5,
)  # fmt: skip


def build_tiny(name: str, *, seed: int | None = None, **overrides):
    """Build a recipe small enough for a test: the one builder of the test suite.

    Semantic (and multi-scale) recipes get the tiny backbone (when they take one) and 5 classes;
    panoptic recipes get ``TINY_PANOPTIC``. ``overrides`` win; ``seed`` seeds torch before the build.
    """
    info = segzoo.model_info(name)
    if info["task"] == "panoptic":
        args = dict(TINY_PANOPTIC)
    else:
        args = {"backbone": "tiny"} if "backbone" in info["defaults"] else {}
        args["num_classes"] = 5
    args.update(overrides)
    if seed is not None:
        torch.manual_seed(seed)
    return segzoo.build(name, **args)


@pytest.fixture
def tiny():
    """The ``build_tiny`` builder, for tests that take it as a fixture."""
    return build_tiny


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def shared_data() -> Path:
    """The shared COCO panoptic sample; skipped when ../shared is absent (a user's checkout)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (only present in the development workspace)")
    return SHARED_DATA


@pytest.fixture
def golden_hrnet(monkeypatch):
    """``make(stages, *, fuse_align_corners=None)``: timm's HRNet with a golden file's small configuration.

    ``stages`` maps ``STAGE1``..``STAGE4`` to ``(modules, blocks per branch, channels per branch)``, as the
    golden scripts write them (stage 1 is a bottleneck stage); the configuration is a temporary entry
    of timm's HRNet config table. ``fuse_align_corners``: ``None`` keeps timm's nearest fuse upsampling,
    ``True``/``False`` makes it bilinear with that ``align_corners``.
    """
    import timm

    from segzoo.backbones import TimmBackbone, bilinear_fuse

    def make(stages: dict, *, fuse_align_corners: bool | None = None) -> TimmBackbone:
        cfg = {"stem_width": 64}
        for name, (modules, blocks, channels) in stages.items():
            block = "BOTTLENECK" if name == "STAGE1" else "BASIC"
            cfg[name.lower()] = dict(num_modules=modules, num_branches=len(blocks), block_type=block,
                                     num_blocks=tuple(blocks), num_channels=tuple(channels), fuse_method="SUM")  # fmt: skip
        monkeypatch.setitem(timm.models.hrnet.cfg_cls, "segzoo_golden", cfg)
        trunk = TimmBackbone(model_name="hrnet_w18", timm_args={"feature_location": "", "cfg_variant": "segzoo_golden"},
                             size_divisor=32)  # fmt: skip
        return trunk if fuse_align_corners is None else bilinear_fuse(trunk, align_corners=fuse_align_corners)

    return make


def _assert_torchvision_detections(tv, model) -> None:
    """torchvision's Mask R-CNN ``tv`` and the converted panoptic ``model`` (91 class rows) detect the same on
    a fixed 64 x 96 image: boxes within 1e-4, scores within 1e-5, labels equal, mask probabilities within 1e-5."""
    tv.roi_heads.score_thresh = model.roi_heads.score_thresh = 0.0  # random weights: keep every detection
    image = torch.rand(3, 64, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        images, _ = tv.transform([image])
        features = tv.backbone(images.tensors)
        proposals, _ = tv.rpn(images, features)
        (expected,), _ = tv.roi_heads(features, proposals, images.image_sizes)  # masks before pasting
        (got,) = model(model.normalize(image[None])).detections
    assert len(expected["boxes"]) == len(got["boxes"]) == 100
    torch.testing.assert_close(got["boxes"], expected["boxes"], atol=1e-4, rtol=0)
    torch.testing.assert_close(got["scores"], expected["scores"], atol=1e-5, rtol=0)
    assert torch.equal(got["labels"], expected["labels"] - 1)  # train id = torchvision class - 1 here
    torch.testing.assert_close(torch.sigmoid(got["mask_logits"]), expected["masks"][:, 0], atol=1e-5, rtol=0)


@pytest.fixture
def assert_torchvision_detections():
    """The check of :func:`_assert_torchvision_detections`, for the Mask R-CNN converter tests."""
    return _assert_torchvision_detections
