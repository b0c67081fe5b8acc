"""``segzoo eval``: metrics of a model on a dataset's validation split, printed (and written) as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .errors import CLIError, user_errors
from .models import add_model_arguments, load_model, resolve_device, task_of
from .options import floats, key_values, writable_dir
from .progress import progress, progress_enabled

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate weights on a dataset", description="Evaluate a model; prints the metrics as JSON.")
    add_model_arguments(p, weights_help="segzoo.save folder (e.g. runs/x/best) or weights file with --model")
    p.add_argument("--data", required=True, help="KIND:ROOT (its validation split unless --split)")
    p.add_argument("--split", help="dataset split (default: validation)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--tta-scales", type=floats, metavar="S,S,...", help="test-time scales (semantic models)")
    p.add_argument("--flip", action="store_true", help="add flipped copies to the test-time augmentation")
    p.add_argument("--amp", choices=["bf16", "fp16"])
    p.add_argument("--synthetic-size", type=int, default=96)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--out", help="also write the metrics to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with user_errors():
        task = task_of(args)
        if (args.tta_scales or args.flip) and task != "semantic":
            raise CLIError("--tta-scales / --flip apply to semantic models only.")
        if args.batch_size < 1:
            raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}.")
        if args.out:
            writable_dir(Path(args.out).parent)
    import torch

    from ..engine.datasets import make_dataset, parse_data_spec
    from ..engine.evaluation import evaluate
    from ..engine.loader import eval_loader
    from ..files import atomic_write

    with user_errors():
        if args.threads:
            torch.set_num_threads(args.threads)
        device = resolve_device(args.device)
        spec = parse_data_spec(args.data)
        dataset = make_dataset(spec, task=task, train=False, split=args.split, synthetic_size=args.synthetic_size,
                               num_classes=key_values(args.set, "--set").get("num_classes"))  # fmt: skip
        model = load_model(args, dataset).to(device)
        loader = eval_loader(dataset, batch_size=args.batch_size)
    batches = progress(loader, enabled=progress_enabled(args.no_progress), total=len(loader), desc="eval", unit="batch")
    with user_errors(setup=False):  # an unreadable image or label found on the way
        metrics = evaluate(model, batches, amp=args.amp, tta_scales=args.tta_scales, flip=args.flip)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.out:
        atomic_write(Path(args.out), lambda tmp: Path(tmp).write_text(text + "\n"))
    return 0
