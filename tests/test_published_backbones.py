"""The ImageNet weights metadata of the backbones (ResNet arXiv:1512.03385, HRNet arXiv:1908.07919,
MobileNetV2/V3 arXiv:1801.04381 / arXiv:1905.02244, VGG arXiv:1409.1556, ...): the records equal the
installed timm's ``pretrained_cfg`` (and torchvision's VGG16 metadata), ``pretrained=True`` loads the
recorded tag, and ``segzoo info`` / ``segzoo list --backbones`` show them without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields

import pytest
import timm

from segzoo.backbones import BACKBONES, BackboneWeightsError, create_backbone, list_backbones
from segzoo.catalog import backbone_catalog, first_sentence
from segzoo.cli import main
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


# --- the torch-free catalogue and the CLI -----------------------------------------------------


def test_backbone_catalogue_equals_the_registry():
    records = backbone_catalog()
    assert list(records) == list_backbones()
    for name, record in records.items():
        entry = BACKBONES.get(name)
        assert (record.family, record.paper) == (entry.meta["family"], entry.meta["paper"]), name
        assert record.output_strides == tuple(entry.meta["output_strides"]), name
        assert record.description == first_sentence(entry.fn.__doc__ or ""), name


def test_info_prints_a_backbones_imagenet_weights(capsys):
    assert main(["info", "resnet50"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "resnet50  (backbone, family resnet)"
    assert "timm resnet50.a1_in1k" in out and "hub timm/resnet50.a1_in1k" in out and "licence apache-2.0" in out
    assert "mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)" in out
    assert "crop_pct 0.95" in out and "bicubic" in out and "shorter side 235, center crop 224" in out
    assert "reported upstream: none; timm's package records no accuracy" in out
    assert main(["info", "resnet50", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "backbone" and data["weights"]["preprocessing"]["crop_pct"] == 0.95
    assert {f.name for f in fields(type(backbone_weights("resnet50")))} == set(data["weights"])
    assert main(["info", "seresnet101"]) == 0
    assert "ImageNet weights: none (timm publishes no ImageNet weights" in capsys.readouterr().out


def test_recipe_info_names_its_backbones_weights(capsys):
    assert main(["info", "deeplabv3_r50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    line = next(i for i, text in enumerate(lines) if text.startswith("  backbone: "))
    assert lines[line] == ("  backbone: resnet50, ImageNet weights timm resnet50.a1_in1k with pretrained_backbone=True "
                           "(segzoo info resnet50)")  # fmt: skip
    assert lines[line + 1].startswith("  options (defaults")  # just before the options, the rest as it was


def test_list_backbones(capsys):
    assert main(["list", "--backbones", "--pretrained"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list_backbones(pretrained=True)
    assert any(line.endswith("[imagenet: resnet50.a1_in1k (timm)]") for line in lines)
    assert main(["list", "--backbones", "seresnet1*"]) == 0
    assert "[imagenet" not in capsys.readouterr().out
    assert main(["list", "--backbones", "--task", "semantic"]) == 2


def test_backbone_info_and_list_import_no_torch():
    code = (
        "import sys\n"
        "from segzoo.cli import main\n"
        "for argv in (['info', 'resnet50'], ['info', 'hrnet_w18', '--json'], ['list', '--backbones', '--pretrained'], "
        "['info', 'deeplabv3_r50']):\n"
        "    assert main(argv) == 0\n"
        "print('HEAVY', sorted(m for m in ('torch', 'timm', 'torchvision', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY []"
