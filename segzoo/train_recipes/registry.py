"""The registered training recipes, looked up by model and dataset (``segzoo.train_recipe``)."""

from __future__ import annotations

import difflib
import importlib

from .recipe import TrainRecipe

__all__ = ["train_recipe", "train_recipes", "recipe_datasets", "register_train_recipe"]

# the modules holding the recipes, imported on the first look-up
_MODULES = ("semantic_baselines", "deeplab", "panoptic_baselines", "ainnoseg", "seed_panoptic", "multiscale")
_RECIPES: dict[tuple[str, str], TrainRecipe] = {}
_loaded = False


def register_train_recipe(recipe: TrainRecipe) -> TrainRecipe:
    """Add ``recipe`` (one per model and dataset; the first registered for a model is its default)."""
    key = (recipe.model, recipe.dataset)
    if key in _RECIPES:
        raise ValueError(f"A training recipe for {recipe.model} on {recipe.dataset} is already registered.")
    _RECIPES[key] = recipe
    return recipe


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for name in _MODULES:
            importlib.import_module(f"{__package__}.{name}")


def train_recipes() -> list[TrainRecipe]:
    """Every registered recipe, in registration order."""
    _load()
    return list(_RECIPES.values())


def recipe_datasets(model: str) -> list[str]:
    """The datasets ``model`` has a training recipe for (its paper's default first)."""
    _load()
    return [d for m, d in _RECIPES if m == model]


def train_recipe(model: str, dataset: str | None = None) -> TrainRecipe:
    """The training recipe of ``model``'s paper on ``dataset`` (``"ade20k"``, ``"cityscapes"``, ``"voc"``,
    ``"coco-panoptic"``: the ``segzoo train --data`` kinds), or on the paper's main dataset when
    ``dataset`` is None.

    >>> segzoo.train_recipe("msrefine_largefov_vgg16", "voc").values()["train"]["head_lr_mult"]
    10.0
    """
    _load()
    datasets = recipe_datasets(model)
    if not datasets:
        from ..catalog import list_recipes  # torch-free: segzoo info stays fast

        known = list_recipes()
        if model in known:
            raise KeyError(f"No training recipe is registered for {model!r}.")
        close = difflib.get_close_matches(model, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else " See segzoo.list_models()."
        raise KeyError(f"Unknown model {model!r}.{hint}")
    if dataset is None:
        return _RECIPES[(model, datasets[0])]
    kind = dataset.lower().replace("_", "-")
    if (model, kind) not in _RECIPES:
        raise KeyError(
            f"{model}'s paper gives no training recipe for {dataset!r}; it has one for: {', '.join(datasets)}. "
            f"Pick one of them (segzoo train --recipe {datasets[0]}) or train with the generic defaults (--recipe none)."
        )
    return _RECIPES[(model, kind)]
