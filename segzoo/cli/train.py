"""``segzoo train``: build data and model from the options, train with the Trainer, print a summary."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..engine.config import TrainOption, train_options
from .errors import CLIError, user_errors
from .models import check_model_name, resolve_device
from .options import floats, ints, key_values, pair, writable_dir

__all__ = ["add_parser", "run"]

NOT_IN_CONFIG = {"run", "command", "config", "quiet"}


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model", description="Train a model with segzoo's Trainer (docs/training.md).")
    p.add_argument("--config", help="JSON file with any of these options as keys (flags given here win)")
    p.add_argument("--model", help="registered recipe (segzoo list)")
    p.add_argument("--data", help="training data KIND:ROOT, KIND in synthetic[:N], synthetic-panoptic[:N], "
                   "coco-panoptic, ade20k, cityscapes, voc, folder")
    p.add_argument("--val", help="validation data KIND:ROOT (default: the val split of --data; none for folder)")
    p.add_argument("--no-val", action="store_true", help="train without evaluation")
    p.add_argument("--train-split", help="dataset split for training (default per dataset)")
    p.add_argument("--val-split", help="dataset split for validation (default per dataset)")
    p.add_argument("--out", default="runs/segzoo", help="output directory (checkpoints, metrics.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last if it exists")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model option, e.g. --set backbone=tiny (repeatable)")
    p.add_argument("--train-opt", action="append", metavar="KEY=VALUE", help="any TrainConfig field, e.g. --train-opt power=1.0")
    p.add_argument("--recipe", help="training recipe of the model's paper: a dataset it has one for (segzoo info NAME) or "
                   "'none' for the generic defaults; default: the recipe for the --data kind when the paper gives one")
    p.add_argument("--weights", help="initial weights (file or segzoo.save folder), e.g. for fine-tuning")
    p.add_argument("--crop", type=ints, metavar="H[,W]", help="random crop size (default per dataset; none for synthetic)")
    p.add_argument("--scale-range", type=floats, metavar="LOW,HIGH",
                   help="per-image random resize range (default 0.5,2.0; none for synthetic)")
    p.add_argument("--base-size", type=int, help="short side at scale 1 for the random resize")
    p.add_argument("--mosaic-extra", type=float, metavar="FRACTION",
                   help="add this fraction of mosaic images to the training set (seed 001: 0.3; 0 for none)")
    p.add_argument("--synthetic-size", type=int, default=96, help="image size of the synthetic sets (default 96)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default; under torchrun cuda:LOCAL_RANK)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_train_option_flags(p.add_argument_group("training options (TrainConfig fields; others: --train-opt KEY=VALUE)"))
    p.set_defaults(run=run)


def _flag_type(option: TrainOption):
    """argparse type of a TrainConfig field, from its annotation."""
    annotation = option.annotation
    if annotation.startswith("tuple[float"):
        return floats
    for name, kind in (("int", int), ("float", float), ("str", str)):
        if annotation.split(" | ")[0] == name:
            return kind
    raise TypeError(f"TrainConfig.{option.field}: no command-line type for {annotation!r}")


def add_train_option_flags(group) -> None:
    """One ``--flag`` per :func:`~segzoo.engine.config.train_options` entry (the option is declared once, in
    TrainConfig); unset flags stay None so the config's default applies."""
    for option in train_options():
        dest = option.flag.replace("-", "_")
        default_text = "" if option.default in (None, False) else f" (default {option.default})"
        if option.annotation == "bool":
            group.add_argument(f"--{option.flag}", dest=dest, action="store_true", default=None, help=option.help)
            continue
        group.add_argument(f"--{option.flag}", dest=dest, type=_flag_type(option), choices=option.choices,
                           metavar=option.metavar, help=option.help + default_text)  # fmt: skip


def merge_config_file(args: argparse.Namespace) -> None:
    """Fill options not given on the command line from ``--config`` (JSON with the same keys)."""
    if not args.config:
        return
    path = Path(args.config)
    if not path.is_file():
        raise CLIError(f"config file {str(path)!r} not found.")
    try:
        values = json.loads(path.read_text())
    except ValueError as err:
        raise CLIError(f"{path} is not valid JSON ({err}).") from None
    if not isinstance(values, dict):
        raise CLIError(f"{path} must hold a JSON object of options.")
    valid = sorted(set(vars(args)) - NOT_IN_CONFIG)
    for key, value in values.items():
        key = key.replace("-", "_")
        if key not in valid:
            raise CLIError(f"unknown option {key!r} in {path}; valid keys: {', '.join(valid)}.")
        if key in ("set", "train_opt"):  # dicts (or k=v lists); the command line's entries win
            given = value if isinstance(value, dict) else key_values(value, f"{key} in {path}")
            merged = {**given, **key_values(getattr(args, key), f"--{key.replace('_', '-')}")}
            setattr(args, key, [f"{k}={json.dumps(v)}" for k, v in merged.items()])
        elif getattr(args, key) in (None, False):
            setattr(args, key, tuple(value) if isinstance(value, list) else value)


def resolve_recipe(model: str, choice: str | None, kind: str):
    """The training recipe a run uses: ``--recipe DATASET``, none with ``--recipe none``, else the
    model's recipe for the data kind if its paper gives one (None for synthetic and folder data)."""
    from ..train_recipes import recipe_datasets, train_recipe

    if choice is not None and choice.lower() == "none":
        return None
    if choice is not None:
        try:
            return train_recipe(model, choice)
        except KeyError as err:
            raise CLIError(str(err.args[0])) from None
    return train_recipe(model, kind) if kind in recipe_datasets(model) else None


def train_config(args: argparse.Namespace, recipe=None, *, world_size: int = 1):
    """The :class:`~segzoo.engine.config.TrainConfig` of the recipe (if any) with the flags (and
    ``--train-opt``) applied on top; the recipe splits its total batch over ``world_size`` processes."""
    from ..engine.config import TrainConfig

    values = {}
    for option in train_options():
        value = getattr(args, option.flag.replace("-", "_"))
        if value is not None:
            values[option.field] = value
    if args.no_progress:
        values["progress"] = False
    values.update(key_values(args.train_opt, "--train-opt"))
    if recipe is None:
        return TrainConfig.from_dict(values)
    try:
        return recipe.config(world_size=world_size, **values)
    except (TypeError, ValueError) as err:
        raise CLIError(str(err)) from None


def recipe_data(args: argparse.Namespace, recipe) -> dict:
    """The augmentation settings: the flags, else the recipe's, else the dataset defaults (None)."""
    data = {} if recipe is None else recipe.values()["data"]
    return {
        "crop": pair(args.crop, "--crop") or data.get("crop"),
        "scale_range": args.scale_range or data.get("scale_range"),
        "base_size": args.base_size or data.get("bases") or data.get("base_size"),
        "flip": data.get("flip", True),
        "photometric": data.get("photometric"),
        "mosaic_extra": args.mosaic_extra if args.mosaic_extra is not None else data.get("mosaic_extra"),
    }


def describe_run(recipe, config, world_size: int) -> str:
    """One line naming the recipe and what the run changed of it."""
    if recipe is None:
        return "training recipe: none (generic defaults: segzoo.engine.TrainConfig)"
    paper = recipe.values()["train"]
    changed = [f"{k}={getattr(config, k)!r} (paper {v!r})" for k, v in paper.items()
               if k not in ("batch_size",) and getattr(config, k) != v]  # fmt: skip
    total = config.batch_size * config.accumulate * world_size
    line = (f"training recipe: {recipe.model}/{recipe.dataset} ({recipe.paper}; sources: segzoo info {recipe.model}); "
            f"total batch {total} = {world_size} process(es) x {config.batch_size} x {config.accumulate} accumulation "
            f"(paper {recipe.total_batch} on {recipe.gpus.value} GPU(s))")  # fmt: skip
    return line + (f"; changed: {', '.join(changed)}" if changed else "")


def with_mosaics(dataset, extra: float, crop, seed: int):
    """``dataset`` plus ``extra`` of its size in mosaic images of the crop size (seed 001 Sec. 4.1)."""
    from ..data import Mosaic, MosaicDataset

    if crop is None:
        raise CLIError("--mosaic-extra needs a crop size (the mosaic's canvas): add --crop H[,W].")
    return MosaicDataset(dataset, Mosaic(crop, generator=seed), extra=extra, generator=seed + 1)


def paper_evaluation(recipe) -> str:
    """The recipe's evaluation protocol, as the ``segzoo evaluate`` flags that run it."""
    ev = recipe.values()["evaluation"]
    flags = []
    if tuple(ev.get("scales", (1.0,))) != (1.0,):
        flags.append("--tta-scales " + ",".join(f"{s:g}" for s in ev["scales"]))
    if ev.get("flip"):
        flags.append("--flip")
    extra = [f"{k}={ev[k]!r}" for k in ("mode", "resize", "crop", "stride", "crf", "metric") if k in ev]
    return f"segzoo evaluate {' '.join(flags)}".rstrip() + (f" ({', '.join(extra)})" if extra else "")


def run(args: argparse.Namespace) -> int:
    with user_errors():
        merge_config_file(args)
        if not args.model or not args.data:
            raise CLIError("train needs --model NAME and --data KIND:ROOT (or a --config file with them).")
        check_model_name(args.model)
    import torch

    from ..engine.datasets import make_dataset, model_for_dataset, parse_data_spec, train_transforms
    from ..engine.distributed import cleanup, init_distributed
    from ..engine.seed import seed_everything
    from ..engine.trainer import NonFiniteLossError, Trainer
    from ..factory import model_info

    with user_errors():
        task = model_info(args.model)["task"]
        spec = parse_data_spec(args.data)
        recipe = resolve_recipe(args.model, args.recipe, spec.kind)
        val_spec = None if args.no_val else (parse_data_spec(args.val) if args.val else spec)
        if val_spec is not None and val_spec.kind == "folder" and not args.val:
            val_spec = None  # a folder has no validation split of its own
        info = init_distributed()
        config = train_config(args, recipe, world_size=info.world_size)
        model_options = {} if recipe is None else recipe.values()["model_options"]
        overrides = {**model_options, **key_values(args.set, "--set")}
        augment = recipe_data(args, recipe)
        if info.rank == 0:
            writable_dir(args.out)
        if args.threads:
            torch.set_num_threads(args.threads)
        device = resolve_device(args.device)
        if device.type == "cuda" and info.distributed:
            device = torch.device("cuda", info.local_rank)
        transforms = train_transforms(
            spec, task=task, crop=augment["crop"], scale_range=augment["scale_range"], base_size=augment["base_size"],
            synthetic_size=args.synthetic_size, flip=augment["flip"], photometric=augment["photometric"],
        )  # fmt: skip
        num_classes = overrides.get("num_classes")
        train_set = make_dataset(spec, task=task, train=True, split=args.train_split, transforms=transforms,
                                 num_classes=num_classes, synthetic_size=args.synthetic_size)  # fmt: skip
        if augment["mosaic_extra"]:
            train_set = with_mosaics(train_set, augment["mosaic_extra"], augment["crop"], config.seed)
        val_set = None
        if val_spec is not None:
            val_set = make_dataset(val_spec, task=task, train=False, split=args.val_split, num_classes=num_classes,
                                   synthetic_size=args.synthetic_size)  # fmt: skip
        seed_everything(config.seed)  # the same initial weights on every run with this seed
        model = model_for_dataset(args.model, overrides, train_set, weights=args.weights).to(device)
        if model.num_classes != train_set.num_classes:
            raise CLIError(
                f"the data has {train_set.num_classes} classes but the model predicts {model.num_classes}; "
                "drop --set num_classes (it is read from the data) or use matching data."
            )
        trainer = Trainer(model, train_set, val_data=val_set, out_dir=args.out, config=config)
    if info.rank == 0:
        print(describe_run(recipe, config, info.world_size))
        if recipe is not None:
            print(f"evaluation protocol of the paper: {paper_evaluation(recipe)}")
    from tqdm.contrib.logging import logging_redirect_tqdm

    start = time.perf_counter()
    try:
        with logging_redirect_tqdm(), user_errors(setup=False):
            result = trainer.fit(resume=args.resume)
    except NonFiniteLossError as err:
        print(f"segzoo train: error: {err}", file=sys.stderr)
        return 1
    finally:
        cleanup()
    if info.rank == 0:
        minutes = (time.perf_counter() - start) / 60
        print(f"{'stopped' if result.interrupted else 'finished'} at iteration {result.step} of {config.max_iters} "
              f"({minutes:.1f} min this session); checkpoint: {Path(args.out) / 'last'}")  # fmt: skip
        if result.metrics:
            print("metrics: " + json.dumps({k: round(v, 4) for k, v in result.metrics.items()}))
        if result.best_value is not None:
            best = Path(args.out) / "best"
            print(f"best {result.best_metric} = {result.best_value:.4f} at iteration {result.best_step}: {best}")
        if result.interrupted:
            print("resume with the same command and --resume")
    return 130 if result.interrupted else 0
