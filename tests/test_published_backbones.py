"""The ImageNet weights metadata of the backbones (ResNet arXiv:1512.03385, HRNet arXiv:1908.07919,
MobileNetV2/V3 arXiv:1801.04381 / arXiv:1905.02244, VGG arXiv:1409.1556, ...): the records equal the
installed timm's ``pretrained_cfg`` (and torchvision's VGG16 metadata), ``pretrained=True`` loads the
recorded tag, and ``segzoo info`` / ``segzoo list --backbones`` show them without importing torch."""

from __future__ import annotations

import pytest
import timm

from segzoo.backbones import BackboneWeightsError, create_backbone, list_backbones
from segzoo.published_backbones import BACKBONE_WEIGHTS, NO_IMAGENET_WEIGHTS, backbone_weights

TIMM = sorted(n for n, s in BACKBONE_WEIGHTS.items() if s.source == "timm")


def test_every_backbone_has_weights_or_says_why_not():
    names = set(list_backbones())
    assert set(BACKBONE_WEIGHTS) | set(NO_IMAGENET_WEIGHTS) == names
    assert not set(BACKBONE_WEIGHTS) & set(NO_IMAGENET_WEIGHTS)
    assert list_backbones(pretrained=True) == sorted(BACKBONE_WEIGHTS)
    assert list_backbones("seresnet*", pretrained=True) == ["seresnet50"]


@pytest.mark.parametrize("name", TIMM)
def test_timm_records_equal_timms_pretrained_cfg(name):
    spec = backbone_weights(name)
    cfg = timm.models.get_pretrained_cfg(spec.name)  # installed timm's default_cfgs; no network
    assert cfg is not None and (cfg.architecture, cfg.tag) == (spec.architecture, spec.tag)
    pre = spec.preprocessing
    recorded = dict(url=spec.url, hf_hub_id=spec.hf_hub_id, license=spec.license, mean=pre.mean, std=pre.std,
                    input_size=pre.input_size, interpolation=pre.interpolation, crop_pct=pre.crop_pct,
                    crop_mode=pre.crop_mode, test_input_size=pre.test_input_size, test_crop_pct=pre.test_crop_pct)  # fmt: skip
    upstream = {key: getattr(cfg, key) or ("" if key in ("url", "hf_hub_id") else None) for key in recorded}
    assert recorded == upstream
    assert not spec.metrics and "no accuracy" in spec.metrics_protocol  # timm's package reports none
    if getattr(cfg, "paper_ids", None):
        assert cfg.paper_ids in spec.paper
    # timm's eval transform: resize to floor(224 / crop_pct), centre crop 224
    assert pre.resize == f"shorter side {int(224 / cfg.crop_pct)}, center crop 224"


def test_resnet50_preprocessing_is_timms():
    cfg = timm.models.get_pretrained_cfg("resnet50")
    pre = backbone_weights("resnet50").preprocessing
    assert (pre.mean, pre.std) == (cfg.mean, cfg.std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert (pre.crop_pct, pre.interpolation, pre.input_size) == (0.95, "bicubic", (3, 224, 224))
    assert backbone_weights("resnet50").hf_hub_id == "timm/resnet50.a1_in1k"


def test_vgg_record_equals_torchvisions_metadata():
    from torchvision.models import VGG16_Weights

    weights, spec = VGG16_Weights.IMAGENET1K_V1, backbone_weights("vgg16_largefov")
    assert spec.url == weights.url and spec.source == "torchvision"
    reported = weights.meta["_metrics"]["ImageNet-1K"]
    assert spec.metrics == {"top1": reported["acc@1"], "top5": reported["acc@5"]}
    transform = weights.transforms()
    assert list(spec.preprocessing.mean) == transform.mean and list(spec.preprocessing.std) == transform.std
    assert spec.preprocessing.crop_pct == transform.crop_size[0] / transform.resize_size[0]


def test_pretrained_loads_the_recorded_tag(monkeypatch):
    import segzoo.backbones.timm_backbone as module

    asked = []

    def create_model(name, pretrained=False, **kwargs):
        asked.append((name, pretrained))
        raise RuntimeError("no download in tests")

    monkeypatch.setattr(module, "ensure_reachable", lambda *a, **k: None)  # no probe
    monkeypatch.setattr(module.timm, "create_model", create_model)
    for backbone, expected in [("resnet50", "resnet50.a1_in1k"), ("mobilenetv3_large_100_tv", "mobilenetv3_large_100.ra_in1k")]:
        with pytest.raises(BackboneWeightsError, match="no download in tests"):
            create_backbone(backbone, pretrained=True)
        assert asked[-1] == (expected, True)


def test_a_backbone_without_weights_says_so_at_once():
    with pytest.raises(BackboneWeightsError, match="timm publishes no ImageNet weights for seresnet101.*weights="):
        create_backbone("seresnet101", pretrained=True)
