"""Each panoptic recipe with its real backbone (ResNet-50/101, SE-ResNet-50, Caffe ResNet-50, ResNeXt-101
64x4d) and default heads, at a small input: one training step with finite losses and gradients in every
part, then ``predict`` giving a valid panoptic map. The tiny-trunk tests cover the logic; these catch what
only the real widths and strides expose. Slow (a few seconds to a minute each): ``pytest -m slow``."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.data import SyntheticPanoptic

PANOPTIC = segzoo.list_models(task="panoptic")
DATA = SyntheticPanoptic(2, size=(64, 64), seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", PANOPTIC)
def test_real_backbone_trains_one_step_and_predicts(name):
    torch.manual_seed(0)
    model = segzoo.build(name, num_classes=len(DATA.classes), thing_ids=DATA.thing_ids, stuff_ids=DATA.stuff_ids)
    info = segzoo.model_info(name)["defaults"]
    assert model.backbone is not None and info["backbone"] != "tiny"
    images = [model.normalize(DATA[i][0][None].float() / 255)[0] for i in range(2)]
    targets = [DATA[i][1] for i in range(2)]
    model.train()
    losses = model.losses(model(images, targets), targets)
    assert all(torch.isfinite(v) for v in losses.values()), losses
    sum(losses.values()).backward()
    for part in ("backbone", "neck", "semantic_head", "roi_heads"):
        grads = [p.grad for p in getattr(model, part).parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), f"{name}: no gradient in {part}"
    model.eval()
    with torch.no_grad():
        result = model.predict(DATA[0][0], crf=False)
    seg = result.panoptic_seg
    assert seg.shape == (64, 64)
    assert set(torch.unique(seg).tolist()) <= {0} | {s["id"] for s in result.segments_info}
