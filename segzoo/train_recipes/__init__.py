"""The papers' training recipes as data: ``segzoo.train_recipe(name, dataset)``.

Each registered model has its paper's recipe (optimiser, schedule, batch, crop and augmentation,
loss options, initialisation, evaluation protocol) on the datasets the paper gives one for, every
value citing its source. ``segzoo train --model NAME --data KIND:ROOT`` uses it unless told
otherwise; ``segzoo info NAME`` prints it. Where the recipes come from: ``docs/training.md``.
"""

from .recipe import DATA_KEYS, EVALUATION_KEYS, SEMI_KEYS, Cited, TrainRecipe, cite
from .registry import recipe_datasets, register_train_recipe, train_recipe, train_recipes

__all__ = [
    "TrainRecipe", "Cited", "cite", "train_recipe", "train_recipes", "recipe_datasets", "register_train_recipe",
    "DATA_KEYS", "EVALUATION_KEYS", "SEMI_KEYS",
]  # fmt: skip
