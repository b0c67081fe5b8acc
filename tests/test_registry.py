"""The registry and the factory API: listing, filtering, errors, registration."""

from __future__ import annotations

import pytest
import torch

import segzoo
from segzoo.factory import MODELS
from segzoo.registry import Registry, UnknownNameError

SEMANTIC_BASELINES = ["deeplabv3_r50", "deeplabv3p_mobilenetv2", "deeplabv3p_r50", "fcn_r50", "largefov_vgg16", "pspnet_r50"]


def test_public_api_is_the_factory_export_and_optimize():
    assert sorted(segzoo.__all__) == sorted(
        ["__version__", "build", "list_models", "model_info", "register_model", "save", "load", "WeightsError",
         "export", "optimize", "train_recipe"]
    )  # fmt: skip
    import segzoo.export as export_package
    from segzoo.bench import optimize
    from segzoo.export import export, load_exported

    assert export_package is segzoo.export and callable(segzoo.export) and segzoo.export.load_exported is load_exported
    assert segzoo.optimize is optimize and export.__name__ == "export"


def test_every_baseline_is_listed():
    names = segzoo.list_models()
    assert set(SEMANTIC_BASELINES) <= set(names)
    assert names == sorted(names)


def test_wildcard_listing():
    assert segzoo.list_models("deeplabv3p_*") == ["deeplabv3p_mobilenetv2", "deeplabv3p_r50"]
    r50 = segzoo.list_models("*_r50")
    assert {"deeplabv3_r50", "deeplabv3p_r50", "fcn_r50", "pspnet_r50"} <= set(r50)
    assert all(name.endswith("_r50") for name in r50)
    assert segzoo.list_models("deeplabv3?_*") == ["deeplabv3p_mobilenetv2", "deeplabv3p_r50"]
    assert segzoo.list_models("nothing*") == []


def test_task_filter():
    semantic = segzoo.list_models(task="semantic")
    assert set(SEMANTIC_BASELINES) <= set(semantic)
    assert not set(semantic) & set(segzoo.list_models(task="panoptic"))
    with pytest.raises(ValueError, match="task must be one of"):
        segzoo.list_models(task="instance")


def test_unknown_name_suggests_close_matches():
    with pytest.raises(KeyError) as info:
        segzoo.build("deeplabv3_r05")
    assert isinstance(info.value, UnknownNameError)
    assert "did you mean" in str(info.value).lower()
    assert "'deeplabv3_r50'" in str(info.value)


def test_unknown_override_names_valid_keys():
    with pytest.raises(TypeError) as info:
        segzoo.build("fcn_r50", backbone="tiny", outptu_stride=8)
    message = str(info.value)
    assert "'outptu_stride'" in message and "did you mean 'output_stride'" in message
    assert "num_classes" in message and "backbone" in message


def test_model_info_reports_defaults_task_paper():
    info = segzoo.model_info("pspnet_r50")
    assert info["task"] == "semantic"
    assert "1612.01105" in info["paper"]
    assert info["defaults"]["bins"] == (1, 2, 3, 6)
    assert info["defaults"]["output_stride"] == 8
    assert set(info["weights"]) == {"mmseg_ade20k", "mmseg_cityscapes"}  # MMSegmentation's published weights
    assert segzoo.model_info("ainnoseg_hrnet_w48")["weights"] == {}
    with pytest.raises(KeyError):
        segzoo.model_info("pspnet")


def test_duplicate_registration_refused():
    with pytest.raises(ValueError, match="already registered"):

        @segzoo.register_model(name="fcn_r50")
        def _dup(*, num_classes=2, in_chans=3):
            return torch.nn.Identity()


def test_recipe_signature_is_checked():
    with pytest.raises(TypeError, match="keyword-only"):

        @segzoo.register_model(name="bad_positional")
        def _a(num_classes=2, *, in_chans=3):
            return None

    with pytest.raises(TypeError, match="swallowed"):

        @segzoo.register_model(name="bad_kwargs")
        def _b(*, num_classes=2, in_chans=3, **kwargs):
            return None

    assert "bad_positional" not in segzoo.list_models() and "bad_kwargs" not in segzoo.list_models()


def test_third_party_recipe_registration_and_build():
    @segzoo.register_model(task="semantic", paper="mine")
    def my_test_recipe(*, num_classes: int = 3, in_chans: int = 3, width: int = 4):
        """A test recipe."""
        return segzoo.build("fcn_r50", backbone="tiny", num_classes=num_classes, in_chans=in_chans, aux=width > 8)

    try:
        assert "my_test_recipe" in segzoo.list_models("my_*")
        assert segzoo.model_info("my_test_recipe")["description"] == "A test recipe."
        model = segzoo.build("my_test_recipe", num_classes=7)
        assert model(torch.randn(1, 3, 32, 32)).logits.shape == (1, 7, 32, 32)
        assert model.segzoo_config == {"name": "my_test_recipe", "overrides": {"num_classes": 7}}
    finally:
        MODELS.remove("my_test_recipe")


def test_registry_rejects_bad_names():
    reg = Registry("thing")
    for bad in ["", "a.b", "a*"]:
        with pytest.raises(ValueError, match="Invalid thing name"):
            reg.add(bad, lambda: None)


def test_weights_tag_without_published_weights():
    with pytest.raises(ValueError, match="no published weights"):
        segzoo.build("ainnoseg_hrnet_w48.voc", backbone="tiny")
    with pytest.raises(ValueError, match="no published weights"):
        segzoo.build("ainnoseg_hrnet_w48", backbone="tiny", pretrained=True)
    with pytest.raises(ValueError, match=r"no weights tagged 'voc'; known tags: \['mmseg_ade20k', 'mmseg_cityscapes'\]"):
        segzoo.build("pspnet_r50.voc", backbone="tiny")
