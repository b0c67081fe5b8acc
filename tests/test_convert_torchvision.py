"""torchvision's FCN / DeepLabV3 checkpoints convert into segzoo recipes that compute the same outputs.

The parity proof of issue 17 for torchvision: the upstream model is built here with random weights
(and random BatchNorm statistics, so the image-pool fold matters), saved in torchvision's file
format (``torch.save(state_dict)``), converted by segzoo, and both run on the same input.
"""

from __future__ import annotations

import hashlib
import pickle

import pytest
import torch

import segzoo
from segzoo.cli import main as cli_main
from segzoo.convert.torchvision_segmentation import RECIPE_OF, random_upstream_model
from segzoo.factory import model_registry
from segzoo.published import VOC_CLASSES, WeightsSpec

PAIRS = sorted(RECIPE_OF.items())


def _saved(tmp_path, name: str, seed: int = 0):
    model = random_upstream_model(name, seed=seed)
    path = tmp_path / f"{name}_coco-test.pth"
    torch.save(model.state_dict(), path)
    return model, path


def _assert_same(upstream: torch.Tensor, ours: torch.Tensor) -> None:
    scale = upstream.abs().max()
    assert float((upstream - ours).abs().max() / scale) < 1e-5
    assert torch.equal(upstream.argmax(1), ours.argmax(1))


@pytest.mark.parametrize("upstream_name, recipe", PAIRS)
def test_converted_model_computes_what_torchvision_computes(tmp_path, upstream_name, recipe):
    upstream, path = _saved(tmp_path, upstream_name)
    model = segzoo.build(recipe, weights=str(path)).eval()  # the layout is detected from the keys
    x = torch.randn(2, 3, 67, 71)
    with torch.no_grad():
        expected = upstream(x)
        _assert_same(expected["out"], model(x).logits)
        model.train()  # the auxiliary head too (normalisation frozen, as in eval)
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.Dropout)):
                m.eval()
        _assert_same(expected["aux"], model(x).aux["aux"])


def test_published_tags_carry_their_metadata():
    tags = segzoo.list_models(pretrained=True)
    assert {"fcn_r50.tv_coco", "fcn_r101.tv_coco", "deeplabv3_r50.tv_coco", "deeplabv3_r101.tv_coco"} <= set(tags)
    spec = segzoo.model_info("deeplabv3_r50")["weights"]["tv_coco"]
    assert spec["url"].endswith("deeplabv3_resnet50_coco-cd0a2569.pth") and spec["hash_prefix"] == "cd0a2569"
    assert spec["converter"] == "torchvision_segmentation" and spec["metrics"] == {"mIoU": 66.4, "pixel_acc": 92.4}
    assert spec["class_names"][:2] == ("background", "aeroplane") and len(spec["class_names"]) == 21
    assert "shorter side 520" in spec["preprocessing"]["resize"] and "reported by torchvision" in spec["metrics_protocol"]


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    cache = tmp_path / "torch_home" / "hub" / "segzoo"
    cache.mkdir(parents=True)
    return cache


def test_a_tag_downloads_checks_the_hash_converts_and_names_the_classes(tmp_path, torch_home):
    upstream, path = _saved(tmp_path, "fcn_resnet50")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cached = torch_home / "fcn_resnet50_coco-test.pth"
    cached.write_bytes(path.read_bytes())  # what a download would have left in the cache
    entry = model_registry().get("fcn_r50")
    published = entry.meta["weights"]["tv_coco"]
    test_spec = WeightsSpec(url="https://example.invalid/fcn_resnet50_coco-test.pth", num_classes=21,
                            hash_prefix=digest[:8], converter="torchvision_segmentation", overrides={"aux": True},
                            class_names=VOC_CLASSES, category_ids=tuple(range(21)))  # fmt: skip
    entry.meta["weights"]["test"] = test_spec
    try:
        model = segzoo.build("fcn_r50.test").eval()
        assert model.class_names == VOC_CLASSES and model.category_ids == tuple(range(21))
        x = torch.randn(1, 3, 48, 48)
        with torch.no_grad():
            _assert_same(upstream(x)["out"], model(x).logits)
        segzoo.save(model, tmp_path / "saved")
        assert segzoo.load(tmp_path / "saved").class_names == VOC_CLASSES  # config.json keeps them
        (torch_home / "fcn_resnet50_coco-1167a1af.pth").write_bytes(path.read_bytes())  # not the published file
        with pytest.raises(segzoo.WeightsError, match="does not start with 1167a1af"):
            segzoo.build("fcn_r50.tv_coco")
        assert published.hash_prefix == "1167a1af"
    finally:
        del entry.meta["weights"]["test"]


def test_convert_command_writes_a_loadable_folder_with_a_model_card(tmp_path, capsys):
    upstream, path = _saved(tmp_path, "deeplabv3_resnet50")
    out = tmp_path / "converted"
    assert cli_main(["convert", str(path), "--to", "deeplabv3_r50.tv_coco", "--out", str(out)]) == 0
    assert "torchvision_segmentation" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = (out / "README.md").read_text()
    assert "Metrics reported upstream" in card and "mIoU: 66.4" in card and "cd0a2569" in card and "BSD-3-Clause" in card
    model = segzoo.load(out).eval()
    assert model.class_names == VOC_CLASSES
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        _assert_same(upstream(x)["out"], model(x).logits)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_bad_upstream_files_name_the_file_and_the_key(tmp_path):
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"backbone.conv1.weight": torch.zeros(1), "hook": print}, f)  # a callable: refused, never run
    with pytest.raises(segzoo.WeightsError, match="evil.pth"):
        segzoo.build("fcn_r50", backbone="tiny", weights=str(evil))
    _, path = _saved(tmp_path, "fcn_resnet50")
    state = torch.load(path, weights_only=True)
    state["classifier.7.weight"] = torch.zeros(3)  # no place in segzoo's FCN
    extra = tmp_path / "extra.pth"
    torch.save(state, extra)
    with pytest.raises(segzoo.WeightsError, match=r"extra\.pth: converter 'torchvision_segmentation' .*classifier\.7\.weight"):
        segzoo.build("fcn_r50", weights=str(extra))
    with pytest.raises(segzoo.WeightsError, match=r"missing keys: aux_head"):
        segzoo.build("fcn_r50", weights=str(_saved_without_aux(tmp_path)))
    with pytest.raises(segzoo.WeightsError, match=r"mis-shaped keys: backbone\.model\.layer1"):
        segzoo.build("fcn_r50", backbone="resnet18", weights=str(path))


def _saved_without_aux(tmp_path):
    state = {k: v for k, v in torch.load(tmp_path / "fcn_resnet50_coco-test.pth", weights_only=True).items()
             if not k.startswith("aux_classifier.")}  # fmt: skip
    path = tmp_path / "no_aux.pth"
    torch.save(state, path)
    return path


def test_a_local_copy_of_a_tag_keeps_its_metadata_and_records_the_conversion(tmp_path):
    upstream, path = _saved(tmp_path, "fcn_resnet50")
    model = segzoo.build("fcn_r50.tv_coco", weights=str(path)).eval()  # offline: the tag's file fetched elsewhere
    assert model.class_names == VOC_CLASSES and model.num_classes == 21
    assert model.segzoo_config["converted_from"] == {"file": path.name, "converter": "torchvision_segmentation"}
    x = torch.randn(1, 3, 40, 48)
    with torch.no_grad():
        _assert_same(upstream(x)["out"], model(x).logits)
    with pytest.raises(ValueError, match="name their tag"):
        segzoo.build("fcn_r50", pretrained=True, weights=str(path))
