"""The papers' training recipes as data (``segzoo.train_recipe``), their use by ``segzoo train`` and
their display by ``segzoo info``."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from test_data_readers import make_ade

import segzoo
from segzoo.cli import main
from segzoo.engine.config import TrainConfig
from segzoo.train_recipes import DATA_KEYS, Cited, TrainRecipe, cite, recipe_datasets, train_recipe, train_recipes

DATASETS = ("ade20k", "cityscapes", "voc", "coco-panoptic")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _recipe(**train) -> TrainRecipe:
    values = {"batch_size": 16, "max_iters": 100, "lr": 0.01, **train}
    return TrainRecipe(model="fcn_r50", dataset="ade20k", paper="test", gpus=Cited(4, "test"), train=cite("test", **values))


# ------------------------------------------------------------------ the registry


def test_every_registered_model_has_its_papers_recipe_with_a_source_for_every_value():
    models = segzoo.list_models()
    missing = [m for m in models if not recipe_datasets(m)]
    assert not missing, f"models without a training recipe: {missing}"
    for recipe in train_recipes():
        assert recipe.model in models and recipe.dataset in DATASETS, (recipe.model, recipe.dataset)
        sources = recipe.sources()
        assert all(isinstance(s, str) and len(s) > 5 for s in sources.values()), recipe.model
        defaults = segzoo.model_info(recipe.model)["defaults"]
        unknown = set(recipe.model_options) - set(defaults)
        assert not unknown, f"{recipe.model}: model_options {unknown} are not build options"
        assert set(recipe.data) <= set(DATA_KEYS)
        config = recipe.config(world_size=recipe.gpus.value)  # a valid TrainConfig on the paper's processes
        assert config.batch_size * recipe.gpus.value == recipe.total_batch and config.lr == recipe.train["lr"].value
        task = segzoo.model_info(recipe.model)["task"]
        panoptic_data = ("coco-panoptic", "cityscapes")  # Cityscapes serves both tasks
        assert recipe.dataset in (panoptic_data if task == "panoptic" else ("ade20k", "cityscapes", "voc")), recipe.model


def test_the_seeds_stated_values():
    s004 = train_recipe("msrefine_largefov_vgg16").values()["train"]
    assert (s004["schedule"], s004["power"], s004["head_lr_mult"]) == ("poly", 0.9, 10.0)  # Sec. 3: decoder at 10x
    s002 = train_recipe("panoptic_cascade_x101_dcn", "coco-panoptic")
    t = s002.values()["train"]
    assert (t["optimizer"], t["momentum"], t["lr"], t["gamma"], len(t["milestones"])) == ("sgd", 0.9, 0.01, 0.5, 2)
    assert s002.gpus.value == 16 and t["max_iters"] == round(20 * 118287 / 16)  # 20 epochs
    assert s002.values()["evaluation"]["crf"] is True
    s000 = train_recipe("panoptic_se_r50").values()["train"]
    assert (s000["lr"], s000["max_iters"], s000["step_size"], s000["gamma"]) == (1e-3, 20000, 1000, 0.1)
    s001 = train_recipe("ainnoseg_hrnet_w48", "ade20k").values()
    assert s001["data"]["mosaic_extra"] == 0.3 and s001["data"]["bases"] == (520, 640, 800)
    assert s001["model_options"]["loss"] == "ce" and s001["semi"]["rounds"] == 2
    assert (s001["model_options"]["alpha"], s001["model_options"]["beta"], s001["model_options"]["gamma"]) == (0.1, 0.3, 1.0)


def test_lookups_say_what_exists():
    assert segzoo.train_recipe("deeplabv3_r50", "voc") is train_recipe("deeplabv3_r50", "voc")
    assert train_recipe("ainnoseg_hrnet_w48").dataset == recipe_datasets("ainnoseg_hrnet_w48")[0] == "ade20k"
    with pytest.raises(KeyError, match="no training recipe for 'voc'.*ade20k"):
        train_recipe("ainnoseg_hrnet_w48", "voc")
    with pytest.raises(KeyError, match="Did you mean fcn_r50"):
        train_recipe("fcn_r5")


# ------------------------------------------------------------------ batch and learning rate


def test_the_papers_total_batch_is_split_over_the_processes_at_the_papers_rate():
    recipe = _recipe()
    for world, per_process in ((1, 16), (2, 8), (4, 4), (16, 1)):
        config = recipe.config(world_size=world)
        assert (config.batch_size, config.accumulate, config.lr) == (per_process, 1, 0.01)
        assert config.extra["run_total_batch"] == 16 and config.extra["train_recipe"] == "fcn_r50/ade20k"
    with pytest.raises(ValueError, match="can't split evenly"):
        recipe.config(world_size=3)


def test_a_different_total_batch_scales_the_learning_rate_linearly_unless_lr_is_given():
    recipe = _recipe()
    small = recipe.config(batch_size=2)  # 2 images per step instead of 16
    assert small.lr == pytest.approx(0.01 * 2 / 16)
    accumulated = recipe.config(batch_size=4, accumulate=4)  # 16 again
    assert accumulated.lr == 0.01
    assert recipe.config(batch_size=2, lr=0.05).lr == 0.05
    assert recipe.config(max_iters=7).max_iters == 7 and recipe.config(max_iters=7).lr == 0.01


def test_bad_recipes_are_refused_when_written():
    with pytest.raises(ValueError, match="unknown data key"):
        TrainRecipe(model="m", dataset="voc", paper="p", gpus=Cited(1, "s"), train=cite("s", batch_size=1, max_iters=1),
                    data=cite("s", colour=1))  # fmt: skip
    with pytest.raises(ValueError, match="unknown train key"):
        _recipe(learning_rate=0.1)
    with pytest.raises(ValueError, match="batch_size \\(total\\) and max_iters"):
        TrainRecipe(model="m", dataset="voc", paper="p", gpus=Cited(1, "s"), train=cite("s", lr=0.1))
    with pytest.raises(ValueError, match="over 4 GPUs"):
        _recipe(batch_size=10)


def test_describe_lists_every_value_with_its_source():
    recipe = train_recipe("panoptic_cascade_x101_dcn")
    text = "\n".join(recipe.describe())
    for key, cited in recipe.train.items():
        assert f"{key}={cited.value!r}" in text and cited.source in text
    assert recipe.to_dict()["sources"]["train.lr"] == recipe.train["lr"].source


# ------------------------------------------------------------------ the command line


def test_segzoo_info_prints_the_training_recipe(capsys):
    assert main(["info", "msrefine_largefov_vgg16"]) == 0
    summary = capsys.readouterr().out
    assert "training recipes" in summary and "    voc: sgd lr" in summary and "head_lr_mult" not in summary
    assert main(["info", "msrefine_largefov_vgg16", "--recipe"]) == 0
    out = capsys.readouterr().out
    assert "training recipe msrefine_largefov_vgg16 / voc" in out and "head_lr_mult=10.0" in out
    assert "seed 004" in out
    assert main(["info", "msrefine_largefov_vgg16", "--recipe", "cityscapes"]) == 2
    assert "not 'cityscapes'" in capsys.readouterr().err


def test_segzoo_train_applies_the_recipe_of_the_data_kind(tmp_path, capsys):
    """fcn_r50 on ADE20K-format data trains with its recipe (its schedule, crop, lr) scaled to the batch
    given here; --recipe none gives the generic defaults; the flags win over the recipe."""
    make_ade(tmp_path / "ade")
    recipe = train_recipe("fcn_r50", "ade20k")
    base = ["train", "--model", "fcn_r50", "--data", f"ade20k:{tmp_path / 'ade'}", "--set", "backbone=tiny",
            "--set", "pretrained_backbone=false", "--no-val", "--iters", "1", "--batch-size", "1", "--crop", "16",
            "--no-progress", "--threads", "1"]  # fmt: skip
    assert main([*base, "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "training recipe: fcn_r50/ade20k" in out and "evaluation protocol of the paper" in out
    state = torch.load(tmp_path / "r" / "last" / "trainer.pt", weights_only=True)
    config = state["config"]
    expected = recipe.config(batch_size=1, max_iters=1, progress=False)
    assert config["lr"] == pytest.approx(expected.lr) and config["schedule"] == expected.schedule
    assert config["extra"]["train_recipe"] == "fcn_r50/ade20k" and config["max_iters"] == 1
    assert main([*base, "--recipe", "none", "--out", str(tmp_path / "g")]) == 0
    generic = torch.load(tmp_path / "g" / "last" / "trainer.pt", weights_only=True)["config"]
    assert generic["lr"] == TrainConfig().lr and "train_recipe" not in generic["extra"]
    assert "training recipe: none" in capsys.readouterr().out


def test_segzoo_train_recipe_errors(tmp_path, capsys):
    make_ade(tmp_path / "ade")
    args = ["train", "--model", "ainnoseg_hrnet_w48", "--data", f"ade20k:{tmp_path / 'ade'}", "--recipe", "voc"]
    assert main(args) == 2
    assert "it has one for: ade20k" in capsys.readouterr().err


def test_the_mosaic_share_of_a_recipe_is_added_to_the_training_set():
    from segzoo.cli.train import with_mosaics
    from segzoo.data import MosaicDataset, SyntheticSemantic

    data = with_mosaics(SyntheticSemantic(10, size=(32, 32)), 0.3, (32, 32), seed=0)
    assert isinstance(data, MosaicDataset) and len(data) == 13 and data.extra == 0.3


def test_recipe_fields_are_train_config_fields():
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    for recipe in train_recipes():
        assert set(recipe.train) <= names
