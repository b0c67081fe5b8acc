"""segzoo.state_dicts: the one reader and loader of weight files (whole models and backbones)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from segzoo.errors import BackboneWeightsError, WeightsError
from segzoo.state_dicts import AUTO_STEM, load_state, read_state_dict


def _net(in_chans=3, classes=4):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(in_chans, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, classes, 1))


class _Head(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.body = _net()
        self.classifier = nn.Conv2d(4, classes, 1)


def test_reads_safetensors_and_wrapped_state_dicts_only_when_allowed(tmp_path):
    state = _net().state_dict()
    save_file(state, tmp_path / "w.safetensors")
    assert read_state_dict(tmp_path / "w.safetensors").keys() == state.keys()
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "w.pth")
    read = read_state_dict(tmp_path / "w.pth", allow_pth=True)
    assert all(torch.equal(read[k], state[k]) for k in state)
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        read_state_dict(tmp_path / "w.pth")  # pickles are opt-in
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(BackboneWeightsError, match="does not hold a state dict"):
        read_state_dict(tmp_path / "list.pth", allow_pth=True, error=BackboneWeightsError)


def test_each_adaptation_is_opt_in_and_reported():
    source = _net(in_chans=3).state_dict()
    gray = _net(in_chans=1)
    with pytest.raises(WeightsError, match=r"mis-shaped keys: 0\.weight \(file \(8, 3, 3, 3\), model \(8, 1, 3, 3\)\)"):
        load_state(gray, source, source="src")
    with pytest.warns(UserWarning, match="input-channel weights adapted"):
        report = load_state(gray, source, source="src", stem_key=AUTO_STEM)
    assert report.adapted == ["0.weight"]
    torch.testing.assert_close(gray[0].weight, source["0.weight"].sum(1, keepdim=True))  # one channel: the sum

    upstream = {f"body.{k}": v for k, v in _net().state_dict().items()}
    upstream |= {"fc.weight": torch.zeros(10, 4), "classifier.weight": torch.zeros(7, 4, 1, 1), "classifier.bias": torch.zeros(7)}
    model = _Head(classes=5)
    with pytest.raises(WeightsError, match=r"unexpected keys: fc\.weight"):
        load_state(model, upstream, source="src", class_heads=())
    with pytest.warns(UserWarning, match="class count differs"):
        report = load_state(model, upstream, source="src", class_heads=(), ignore_foreign_roots=True)
    assert report.ignored == ["fc.weight"] and report.dropped_heads == ["classifier.weight", "classifier.bias"]


def test_counters_and_optional_prefixes_may_be_missing_when_asked():
    state = {k: v for k, v in _net().state_dict().items() if not k.endswith("num_batches_tracked")}
    with pytest.raises(WeightsError, match=r"missing keys: 1\.num_batches_tracked"):
        load_state(_net(), state, source="src")
    load_state(_net(), state, source="src", allow_missing_counters=True)
    partial = {k: v for k, v in state.items() if not k.startswith("2.")}
    with pytest.raises(WeightsError, match=r"\(9 keys expected, 6 given\): missing keys: 2\.weight, 2\.bias\."):
        load_state(_net(), partial, source="src", allow_missing_counters=True)
    target = _net()
    load_state(target, {"model." + k: v for k, v in partial.items()}, source="src", strip_prefix="model.",
               optional=("2.",), allow_missing_counters=True)  # fmt: skip
    assert torch.equal(target[0].weight, state["0.weight"])
