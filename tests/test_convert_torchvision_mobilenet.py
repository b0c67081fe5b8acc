"""torchvision's MobileNetV3-Large (arXiv:1905.02244) trunk and ``deeplabv3_mobilenet_v3_large`` in segzoo.

The whole-model parity (logits within 1e-5 relative, same labels, the auxiliary head too) runs in
``tests/test_convert_torchvision.py`` with the other torchvision pairs (``RECIPE_OF``). Here: the
backbone equals torchvision's ``mobilenet_v3_large(dilated=True)`` level by level, what makes timm's
``mobilenetv3_large_100`` differ from it, and the published tag's metadata.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

import segzoo
from segzoo.backbones import create_backbone
from segzoo.backbones.mobilenetv3_tv import TV_LEVELS
from segzoo.convert.core import randomise_norm_statistics
from segzoo.convert.torchvision_mobilenet import mobilenet_v3_large_renames


def _torchvision_trunk(*, dilated: bool = True, seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    model = torchvision.models.mobilenet_v3_large(weights=None, dilated=dilated)
    randomise_norm_statistics(model)  # non-trivial statistics, so eps and renames matter
    return model.features.eval()


def _copied(backbone: torch.nn.Module, trunk: torch.nn.Sequential) -> torch.nn.Module:
    state = trunk.state_dict()
    renames = mobilenet_v3_large_renames(state, "")
    assert len(renames) == len(state)  # every torchvision key has a timm name
    backbone.model.load_state_dict({renames[k]: v for k, v in state.items()})  # strict
    return backbone.eval()


def _reference(trunk: torch.nn.Sequential, x: torch.Tensor) -> dict[int, torch.Tensor]:
    out = {}
    for i, layer in enumerate(trunk):
        x = layer(x)
        out[i] = x
    return out


@pytest.mark.parametrize("output_stride, dilated", [(16, True), (None, False)])
def test_backbone_equals_torchvision_level_by_level(output_stride, dilated):
    trunk = _torchvision_trunk(dilated=dilated)
    backbone = _copied(create_backbone("mobilenetv3_large_100_tv", output_stride=output_stride), trunk)
    x = torch.randn(2, 3, 67, 71)
    with torch.no_grad():
        expected, feats = _reference(trunk, x), backbone(x)
    assert [f.name for f in backbone.feature_info] == [f"blocks.{i}.{j}" for i, j in TV_LEVELS]
    for feat, index in zip(feats, TV_LEVELS.values()):
        assert torch.equal(feat, expected[index]), index  # bit for bit
    assert [f.stride for f in backbone.feature_info] == [4, 8, 16, 16 if dilated else 32]


def test_backbone_has_torchvisions_eps_and_dilation_placement():
    backbone = create_backbone("mobilenetv3_large_100_tv", output_stride=16)
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-3 for m in norms)
    dilated = {n: (m.dilation, m.padding) for n, m in backbone.model.named_modules()
               if isinstance(m, torch.nn.Conv2d) and m.kernel_size[0] > 1 and m.dilation != (1, 1)}  # fmt: skip
    # features[13..15]: the strided block itself is dilated (timm: only the two after it)
    assert dilated == {f"blocks.5.{b}.conv_dw": ((2, 2), (4, 4)) for b in range(3)}
    with pytest.raises(ValueError, match="mobilenetv3_large_100"):
        create_backbone("mobilenetv3_large_100_tv", output_stride=8)


def test_timms_layout_is_not_torchvisions():
    """Why the backbone exists: timm's mobilenetv3_large_100 with torchvision's weights copied computes
    something else (eps 1e-5 from the stem on; dilation 1 in the strided 160-channel block)."""
    trunk = _torchvision_trunk()
    plain = create_backbone("mobilenetv3_large_100", output_stride=16)
    state = trunk.state_dict()
    renames = mobilenet_v3_large_renames(state, "")
    plain.model.load_state_dict({renames[k]: v for k, v in state.items()})
    plain.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected, last = _reference(trunk, x)[16], plain(x)[-1]
    assert plain.model.blocks[5][0].conv_dw.dilation == (1, 1)
    assert float((expected - last).abs().max() / expected.abs().max()) > 1e-3


def test_published_tag():
    assert "deeplabv3_mobilenetv3.tv_coco" in segzoo.list_models(pretrained=True)
    spec = segzoo.model_info("deeplabv3_mobilenetv3")["weights"]["tv_coco"]
    assert spec["url"] == "https://download.pytorch.org/models/deeplabv3_mobilenet_v3_large-fc3c493d.pth"
    assert spec["hash_prefix"] == "fc3c493d" and spec["converter"] == "torchvision_segmentation"
    assert spec["metrics"] == {"mIoU": 60.3, "pixel_acc": 91.2} and spec["num_classes"] == 21
    defaults = segzoo.model_info("deeplabv3_mobilenetv3")["defaults"]
    assert (defaults["backbone"], defaults["output_stride"], defaults["rates"], defaults["aux_index"]) == (
        "mobilenetv3_large_100_tv", 16, (12, 24, 36), 1,
    )  # fmt: skip
    # torchvision reports 11,029,328 parameters; the folded image-pool BatchNorm leaves 256 fewer
    model = segzoo.build("deeplabv3_mobilenetv3")
    assert sum(p.numel() for p in model.parameters()) == 11_029_328 - 256
