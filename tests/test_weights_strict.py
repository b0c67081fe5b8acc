"""Strict weight loading: every kind of mismatch alone is refused and named; hashes; key lists.

Only the class-producing layers may differ (dropped, with a warning) and a stem may differ in
its input channels (adapted); any other difference raises ``WeightsError``.
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from conftest import build_tiny
from safetensors.torch import save_file

import segzoo
from segzoo.weights import load_weights_file, read_state_dict, sha256_of


def write(tmp_path, state, name="w.safetensors"):
    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def refused(model, path):
    with pytest.raises(segzoo.WeightsError) as info:
        load_weights_file(model, path)
    return str(info.value)


def test_each_mismatch_alone_is_refused(tmp_path):
    state = build_tiny("fcn_r50", seed=0).state_dict()
    backbone_key = next(k for k in state if k.startswith("backbone") and state[k].ndim == 4)

    missing = dict(state)
    del missing[backbone_key]
    message = refused(build_tiny("fcn_r50", seed=0), write(tmp_path, missing, "missing.safetensors"))
    assert f"missing keys: {backbone_key}" in message and "unexpected" not in message and "mis-shaped" not in message

    extra = dict(state, **{"extra.weight": torch.zeros(1)})
    message = refused(build_tiny("fcn_r50", seed=0), write(tmp_path, extra, "extra.safetensors"))
    assert "unexpected keys: extra.weight" in message and "missing" not in message

    bias_key = next(k for k in state if k.startswith("backbone") and k.endswith("bias") and state[k].ndim == 1)
    shaped = dict(state, **{bias_key: torch.zeros(state[bias_key].shape[0] + 1)})
    message = refused(build_tiny("fcn_r50", seed=0), write(tmp_path, shaped, "shaped.safetensors"))
    assert f"mis-shaped keys: {bias_key}" in message and "missing" not in message


def test_a_conv_with_other_output_channels_is_not_adapted(tmp_path):
    state = build_tiny("fcn_r50", seed=0).state_dict()
    key = next(k for k in state if k.startswith("backbone") and state[k].ndim == 4 and state[k].shape[0] > 1)
    w = state[key]
    for bad in (torch.zeros(w.shape[0] + 1, *w.shape[1:]), torch.zeros(*w.shape[:2], w.shape[2] + 2, w.shape[3] + 2)):
        message = refused(build_tiny("fcn_r50", seed=0), write(tmp_path, dict(state, **{key: bad})))
        assert f"mis-shaped keys: {key} (file {tuple(bad.shape)}, model {tuple(w.shape)})" in message


def test_matching_weights_load_exactly_and_quietly(tmp_path):
    source, target = build_tiny("fcn_r50", seed=1), build_tiny("fcn_r50", seed=2)
    path = write(tmp_path, source.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_weights_file(target, path) is target
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), target.state_dict().values()))


def test_key_lists_are_cut_after_ten(tmp_path):
    state = dict(build_tiny("fcn_r50", seed=0).state_dict())
    for i in range(12):
        state[f"extra{i:02d}.weight"] = torch.zeros(1)
    message = refused(build_tiny("fcn_r50", seed=0), write(tmp_path, state))
    assert "extra09.weight ... (2 more)" in message and "extra10" not in message


def test_sha256_check_accepts_upper_case_and_refuses_other_files(tmp_path):
    path = write(tmp_path, build_tiny("fcn_r50", seed=0).state_dict())
    digest = sha256_of(path)
    assert read_state_dict(path, sha256=digest.upper()).keys() == build_tiny("fcn_r50", seed=0).state_dict().keys()
    with pytest.raises(segzoo.WeightsError, match="sha256"):
        read_state_dict(path, sha256="0" * 64)


def test_load_verifies_the_recorded_hash_unless_told_not_to(tmp_path):
    segzoo.save(build_tiny("fcn_r50", seed=0), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["sha256"] = "f" * 64
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(segzoo.WeightsError, match="sha256"):
        segzoo.load(tmp_path)
    assert isinstance(segzoo.load(tmp_path, verify=False), type(build_tiny("fcn_r50", seed=0)))


def test_saved_config_records_recipe_overrides_and_hash(tmp_path):
    model = build_tiny("fcn_r50", seed=0, num_classes=3)
    segzoo.save(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["name"] == "fcn_r50" and config["overrides"]["num_classes"] == 3
    assert config["sha256"] == sha256_of(tmp_path / "model.safetensors")


class TwoHeads(torch.nn.Module):
    """A model whose class layers are named by ``head_names`` and by the ``*classifier`` rule."""

    head_names = ("mask_head",)

    def __init__(self, num_classes):
        super().__init__()
        self.body = torch.nn.Conv2d(3, 4, 1)
        self.mask_head = torch.nn.Conv2d(4, num_classes, 1)
        self.aux_classifier = torch.nn.Conv2d(4, num_classes, 1)


def test_class_layers_are_found_by_head_names_and_by_the_classifier_suffix():
    from segzoo.weights import load_state_dict_into

    torch.manual_seed(0)
    source, target = TwoHeads(5), TwoHeads(7)
    state = source.state_dict()
    before = dict(state)
    with pytest.warns(UserWarning, match="class count differs") as record:
        load_state_dict_into(target, state, source="file")
    message = str(record[0].message)
    assert "mask_head.weight" in message and "aux_classifier.weight" in message and "body" not in message
    assert torch.equal(target.body.weight, source.body.weight)
    assert state.keys() == before.keys()  # the caller's dict is left as it was


def test_saved_files_are_ordinary_files_and_no_descriptor_leaks(tmp_path):
    import os

    fd_dir = "/proc/self/fd"
    count = (lambda: len(os.listdir(fd_dir))) if os.path.isdir(fd_dir) else (lambda: 0)
    model = build_tiny("fcn_r50", seed=0)
    umask = os.umask(0o027)
    try:
        opened = count()
        segzoo.save(model, tmp_path)
        assert count() == opened
    finally:
        os.umask(umask)
    for name in ("model.safetensors", "config.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name  # 0o666 & ~umask, not mkstemp's 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_exactly_ten_keys_are_listed_without_a_remainder(tmp_path):
    state = dict(build_tiny("fcn_r50", seed=0).state_dict())
    for i in range(10):
        state[f"extra{i:02d}.weight"] = torch.zeros(1)
    message = refused(build_tiny("fcn_r50", seed=0), write(tmp_path, state))
    assert "extra09.weight." in message and "more)" not in message
