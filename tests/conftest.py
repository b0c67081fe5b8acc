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


def build_tiny(name: str, **overrides):
    """Build a recipe with the tiny backbone (when it takes one) and 5 classes."""
    defaults = segzoo.model_info(name)["defaults"]
    if "backbone" in defaults:
        overrides.setdefault("backbone", "tiny")
    overrides.setdefault("num_classes", 5)
    return segzoo.build(name, **overrides)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def shared_data() -> Path:
    """The shared COCO panoptic sample; skipped when ../shared is absent (a user's checkout)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (only present in the development workspace)")
    return SHARED_DATA
