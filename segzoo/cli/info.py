"""``segzoo info NAME``: a recipe's task, paper, description, defaults and weights tags, or a backbone's
family, paper, output strides and ImageNet weights (``--json``: the record)."""

from __future__ import annotations

import argparse
import json

from ..catalog import BackboneRecord, backbone_catalog, find_recipe
from ..published import published_tags
from ..published_backbones import backbone_weights
from .errors import CLIError

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="show a model's or a backbone's defaults, paper and weights",
                       description="A recipe's task, paper, defaults and weights tags; or a backbone's ImageNet weights.")  # fmt: skip
    p.add_argument("name", help="recipe name (segzoo list) or backbone name (segzoo list --backbones)")
    p.add_argument("--json", action="store_true", help="the full record as JSON")
    p.add_argument("--recipe", nargs="?", const="all", metavar="DATASET",
                   help="print the paper's training recipe on DATASET (default: all of them) with every value's source")
    p.add_argument("--params", action="store_true", help="also build the model (default options) and count its "
                   "parameters; imports torch, so it takes a few seconds")  # fmt: skip
    p.set_defaults(run=run)


def _short(value) -> str:
    """Long id lists shown as ranges: (0, 1, ..., 79) -> '0..79 (80 ids)'."""
    if isinstance(value, (list, tuple)) and len(value) > 8 and all(isinstance(v, int) for v in value):
        if list(value) == list(range(value[0], value[0] + len(value))):
            return f"{value[0]}..{value[-1]} ({len(value)} ids)"
        return f"{', '.join(map(str, value[:6]))}, ... ({len(value)} ids)"
    return repr(value)


def _parameter_count(name: str, *, backbone: bool = False) -> int:
    if backbone:
        from ..backbones import create_backbone as build
    else:
        from ..factory import build

    model = build(name)
    return sum(p.numel() for p in model.parameters())


def _backbone_line(backbone: object) -> str | None:
    """The recipe's default backbone and its ImageNet weights, in one line."""
    if not isinstance(backbone, str) or backbone not in backbone_catalog():
        return None
    spec = backbone_weights(backbone)
    if spec is None:
        return f"  backbone: {backbone}, no ImageNet weights ({backbone_catalog()[backbone].no_weights})"
    return (f"  backbone: {backbone}, ImageNet weights {spec.source} {spec.name} with pretrained_backbone=True "
            f"(segzoo info {backbone})")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    try:
        record = find_recipe(args.name)
    except KeyError as err:
        backbone = backbone_catalog().get(args.name)
        if backbone is None:
            raise CLIError(str(err)) from None
        return _run_backbone(backbone, args)
    params = _parameter_count(record.name) if args.params else None
    if args.json:
        return _print_json(record, params)
    _print_header(f"{record.name}  ({record.task})", record, params, " (default options)")
    print(f"  weights:  {', '.join(f'{record.name}.{t}' for t in record.weights) if record.weights else 'none published yet'}")
    for tag, spec in published_tags(record.name).items():
        metrics = ", ".join(f"{k} {v}" for k, v in spec.metrics.items())
        print(f"  - {record.name}.{tag}: {spec.description}")
        print(f"    source {spec.url} (converter {spec.converter}); licence {spec.license}")
        print(f"    {spec.num_classes} classes ({spec.dataset}); reported upstream: {metrics or 'none'}")
    line = _backbone_line(record.defaults.get("backbone"))
    if line:
        print(line)
    print("  options (defaults; change with --set KEY=VALUE or segzoo.build(name, KEY=VALUE)):")
    width = max(len(k) for k in record.defaults)
    for key, value in record.defaults.items():
        print(f"    {key:<{width}}  {_short(value)}")
    _print_train_recipes(record.name, args.recipe)
    return 0


def _recipe_summary(recipe) -> str:
    """One line: schedule, length, batch, crop."""
    t, d = recipe.values()["train"], recipe.values()["data"]
    crop = f", crop {d['crop'][0]}x{d['crop'][1]}" if d.get("crop") else ""
    return (f"{recipe.dataset}: {t.get('optimizer', 'sgd')} lr {t.get('lr')}, {t.get('schedule', 'poly')}, "
            f"{t['max_iters']} iterations x batch {t['batch_size']} on {recipe.gpus.value} GPU(s){crop}")  # fmt: skip


def _print_train_recipes(name: str, which: str | None) -> None:
    """The paper's training recipes (segzoo.train_recipe): one line each, or with ``--recipe`` every value
    and its source."""
    from ..train_recipes import recipe_datasets, train_recipe

    datasets = recipe_datasets(name)
    if not datasets:
        print("  training recipe: none registered (segzoo train uses the generic defaults)")
        return
    if which is None:
        print(f"  training recipes (segzoo train applies the one of --data's kind; values and sources: segzoo info {name} "
              "--recipe [DATASET]):")  # fmt: skip
        for dataset in datasets:
            print(f"    {_recipe_summary(train_recipe(name, dataset))}")
        return
    if which != "all" and which not in datasets:
        raise CLIError(f"{name} has training recipes for {', '.join(datasets)}, not {which!r}.")
    for dataset in datasets if which == "all" else [which]:
        for line in train_recipe(name, dataset).describe():
            print(f"  {line}")


def _print_json(record, params: int | None) -> int:
    """A recipe's or backbone's record as JSON (with its parameter count when asked)."""
    data = record.as_dict()
    if not isinstance(record, BackboneRecord):
        from ..train_recipes import recipe_datasets, train_recipe

        data["train_recipes"] = {d: train_recipe(record.name, d).to_dict() for d in recipe_datasets(record.name)}
    if params is not None:
        data["parameters"] = params
    print(json.dumps(data, default=repr))
    return 0


def _print_header(title: str, record, params: int | None, params_note: str) -> None:
    """The first lines of ``info``: name, description, paper and (when asked) the parameter count."""
    print(title)
    print(f"  {record.description}")
    if record.paper:
        print(f"  paper:    {record.paper}")
    if params is not None:
        print(f"  params:   {params / 1e6:.2f} M{params_note}")


def _run_backbone(record: BackboneRecord, args: argparse.Namespace) -> int:
    params = _parameter_count(record.name, backbone=True) if args.params else None
    if args.json:
        return _print_json(record, params)
    _print_header(f"{record.name}  (backbone, family {record.family})", record, params, "")
    strides = ", ".join(str(s) for s in record.output_strides)
    print(f"  output_stride: None (native) or {strides}")
    spec = record.weights
    if spec is None:
        print(f"  ImageNet weights: none ({record.no_weights})")
        return 0
    pre = spec.preprocessing
    print(f"  ImageNet weights (pretrained_backbone=True): {spec.source} {spec.name}")
    print(f"    {spec.description}")
    hub = f"hub {spec.hf_hub_id}" if spec.hf_hub_id else ""
    source = "; ".join(s for s in (hub, f"file {spec.url}" if spec.url else "") if s)
    print(f"    source {source}; licence {spec.license}")
    if spec.paper:
        print(f"    training recipe: {spec.paper}")
    metrics = ", ".join(f"{k} {v}" for k, v in spec.metrics.items())
    reported = f"{metrics} ({spec.metrics_protocol})" if metrics else f"none; {spec.metrics_protocol}"
    print(f"    reported upstream: {reported}")
    print(f"    preprocessing: {pre.color} {pre.input_range}, mean {pre.mean}, std {pre.std}")
    test = f"; at test time input_size {pre.test_input_size}, crop_pct {pre.test_crop_pct}" if pre.test_input_size else ""
    print(f"    evaluation: {pre.resize}, {pre.interpolation} (input_size {pre.input_size}, crop_pct {pre.crop_pct}, "
          f"crop_mode {pre.crop_mode}){test}")  # fmt: skip
    if spec.notes:
        print(f"    note: {spec.notes}")
    return 0
