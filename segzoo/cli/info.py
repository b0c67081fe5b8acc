"""``segzoo info NAME``: a recipe's task, paper, description, defaults and weights tags (``--json``: the record)."""

from __future__ import annotations

import argparse
import json

from ..catalog import find_recipe
from ..published import published_tags
from .errors import CLIError

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="show a model's defaults, paper and weights",
                       description="A recipe's task, paper, defaults and weights tags.")  # fmt: skip
    p.add_argument("name", help="recipe name (segzoo list)")
    p.add_argument("--json", action="store_true", help="the full record as JSON")
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


def _parameter_count(name: str) -> int:
    from ..factory import build

    model = build(name)
    return sum(p.numel() for p in model.parameters())


def run(args: argparse.Namespace) -> int:
    try:
        record = find_recipe(args.name)
    except KeyError as err:
        raise CLIError(str(err)) from None
    params = _parameter_count(record.name) if args.params else None
    if args.json:
        data = record.as_dict()
        if params is not None:
            data["parameters"] = params
        print(json.dumps(data, default=repr))
        return 0
    print(f"{record.name}  ({record.task})")
    print(f"  {record.description}")
    if record.paper:
        print(f"  paper:    {record.paper}")
    if params is not None:
        print(f"  params:   {params / 1e6:.2f} M (default options)")
    print(f"  weights:  {', '.join(f'{record.name}.{t}' for t in record.weights) if record.weights else 'none published yet'}")
    for tag, spec in published_tags(record.name).items():
        metrics = ", ".join(f"{k} {v}" for k, v in spec.metrics.items())
        print(f"  - {record.name}.{tag}: {spec.description}")
        print(f"    source {spec.url} (converter {spec.converter}); licence {spec.license}")
        print(f"    {spec.num_classes} classes ({spec.dataset}); reported upstream: {metrics or 'none'}")
    print("  options (defaults; change with --set KEY=VALUE or segzoo.build(name, KEY=VALUE)):")
    width = max(len(k) for k in record.defaults)
    for key, value in record.defaults.items():
        print(f"    {key:<{width}}  {_short(value)}")
    return 0
