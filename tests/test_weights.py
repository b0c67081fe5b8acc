"""Weights I/O: save/load round trip, head and stem adaptation, strict errors, bad files."""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import build_tiny
from safetensors.torch import save_file

import segzoo
from segzoo.factory import MODELS, WeightsSpec
from segzoo.weights import read_state_dict, sha256_of


def _randomise_bn(model):
    """Give BN statistics non-default values so a round trip that forgot buffers would show."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return model


def test_save_load_round_trip(tmp_path):
    model = _randomise_bn(build_tiny("deeplabv3_r50", channels=16, output_stride=16)).eval()
    out = segzoo.save(model, tmp_path / "run")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((out / "config.json").read_text())
    assert config["name"] == "deeplabv3_r50"
    assert config["overrides"] == {"backbone": "tiny", "channels": 16, "num_classes": 5, "output_stride": 16}
    assert config["sha256"] == sha256_of(out / "model.safetensors")
    loaded = segzoo.load(out).eval()
    x = torch.randn(2, 3, 48, 40)
    assert torch.equal(model(x).logits, loaded(x).logits)
    assert loaded.segzoo_config == model.segzoo_config


def test_build_with_weights_file_and_dir(tmp_path):
    model = _randomise_bn(build_tiny("deeplabv3_r50", channels=16)).eval()
    segzoo.save(model, tmp_path)
    x = torch.randn(1, 3, 32, 32)
    for source in (tmp_path, tmp_path / "model.safetensors"):
        other = build_tiny("deeplabv3_r50", channels=16, weights=str(source)).eval()
        assert torch.equal(other(x).logits, model(x).logits)


def test_class_count_change_drops_head_with_warning(tmp_path):
    model = _randomise_bn(build_tiny("deeplabv3_r50", channels=16, num_classes=5))
    segzoo.save(model, tmp_path)
    with pytest.warns(UserWarning, match="class count differs") as record:
        other = build_tiny("deeplabv3_r50", channels=16, num_classes=7, weights=str(tmp_path))
    message = str(record[0].message)
    assert "decode_head.classifier.weight" in message and "aux_head.classifier.weight" in message
    theirs, ours = model.state_dict(), other.state_dict()
    for key, value in ours.items():
        if ".classifier." in key:
            assert value.shape[0] == 7
        else:
            assert torch.equal(value, theirs[key]), key


def test_in_chans_change_adapts_stem(tmp_path):
    model = build_tiny("deeplabv3_r50", channels=16)
    segzoo.save(model, tmp_path)
    with pytest.warns(UserWarning, match="input-channel weights adapted"):
        gray = build_tiny("deeplabv3_r50", channels=16, in_chans=1, weights=str(tmp_path))
    stem = [k for k, v in model.state_dict().items() if v.ndim == 4][0]
    torch.testing.assert_close(gray.state_dict()[stem], model.state_dict()[stem].sum(1, keepdim=True))


def test_strict_errors_name_keys(tmp_path):
    model = build_tiny("deeplabv3_r50", channels=16)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    some_key = next(k for k in state if k.startswith("backbone"))
    broken = dict(state)
    del broken[some_key]
    broken["extra.weight"] = torch.zeros(2)
    conv_key = next(k for k in state if k.startswith("decode_head.aspp") and state[k].ndim == 4)
    broken[conv_key] = torch.zeros(3, 3, 1, 1)
    path = tmp_path / "broken.safetensors"
    save_file(broken, str(path))
    with pytest.raises(segzoo.WeightsError) as info:
        build_tiny("deeplabv3_r50", channels=16, weights=str(path))
    message = str(info.value)
    assert str(path) in message
    assert f"missing keys: {some_key}" in message
    assert "unexpected keys: extra.weight" in message
    assert f"mis-shaped keys: {conv_key}" in message
    # A different architecture is refused too.
    with pytest.raises(segzoo.WeightsError, match="does not match"):
        segzoo.build("fcn_r50", backbone="tiny", num_classes=5, weights=str(tmp_path / "broken.safetensors"))


def test_truncated_file(tmp_path):
    segzoo.save(build_tiny("deeplabv3_r50", channels=16), tmp_path)
    path = tmp_path / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(segzoo.WeightsError, match="model.safetensors"):
        build_tiny("deeplabv3_r50", channels=16, weights=str(path))
    with pytest.raises(segzoo.WeightsError, match="sha256"):
        segzoo.load(tmp_path)


def test_random_bytes_and_pickle_files(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(segzoo.WeightsError, match="junk.safetensors"):
        read_state_dict(junk)
    pth = tmp_path / "model.pth"
    torch.save(build_tiny("deeplabv3_r50", channels=16).state_dict(), pth)
    with pytest.raises(segzoo.WeightsError, match="convert a PyTorch checkpoint"):
        build_tiny("deeplabv3_r50", channels=16, weights=str(pth))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        build_tiny("deeplabv3_r50", channels=16, weights=str(tmp_path / "nope.safetensors"))
    with pytest.raises(FileNotFoundError, match="config.json"):
        segzoo.load(tmp_path)


def test_interrupted_save_keeps_previous_files(tmp_path, monkeypatch):
    model = build_tiny("deeplabv3_r50", channels=16)
    segzoo.save(model, tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()

    import safetensors.torch

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        segzoo.save(build_tiny("deeplabv3_r50", channels=16), tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_save_refuses_unrecorded_models(tmp_path):
    with pytest.raises(ValueError, match="not built by segzoo.build"):
        segzoo.save(torch.nn.Linear(2, 2), tmp_path)
    module_backbone = build_tiny("deeplabv3_r50", channels=16).backbone
    model = segzoo.build("fcn_r50", backbone=module_backbone, num_classes=3)
    with pytest.raises(ValueError, match="can't be written to config.json"):
        segzoo.save(model, tmp_path)


def test_published_weights_by_tag(tmp_path, monkeypatch):
    """The download path (file:// URL here), sha256 check, and num_classes taken from the weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    source = _randomise_bn(build_tiny("deeplabv3_r50", channels=16, num_classes=3)).eval()
    weights = tmp_path / "tiny_voc.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(weights))

    @segzoo.register_model(
        weights={
            "good": WeightsSpec(url=weights.as_uri(), num_classes=3, sha256=sha256_of(weights)),
            "bad": WeightsSpec(url=(tmp_path / "absent.safetensors").as_uri(), num_classes=3),
        }
    )
    def tagged_test_recipe(*, num_classes: int = 3, in_chans: int = 3):
        return segzoo.build("deeplabv3_r50", backbone="tiny", channels=16, num_classes=num_classes, in_chans=in_chans)

    try:
        assert set(segzoo.model_info("tagged_test_recipe")["weights"]) == {"good", "bad"}
        model = segzoo.build("tagged_test_recipe.good").eval()
        assert model.num_classes == 3
        x = torch.randn(1, 3, 32, 32)
        assert torch.equal(model(x).logits, source(x).logits)
        cached = tmp_path / "torch_home" / "hub" / "segzoo" / "tiny_voc.safetensors"
        assert cached.is_file()
        with pytest.raises(segzoo.WeightsError, match="weights='/path/to/absent.safetensors'"):
            segzoo.build("tagged_test_recipe.bad")
        with pytest.raises(ValueError, match="known tags"):
            segzoo.build("tagged_test_recipe.other")
        cached.write_bytes(cached.read_bytes()[:-8] + b"\0" * 8)  # corrupt the cached copy
        with pytest.raises(segzoo.WeightsError, match="sha256"):
            segzoo.build("tagged_test_recipe", pretrained=True)
    finally:
        MODELS.remove("tagged_test_recipe")
