"""``segzoo pseudo-label``: label images or a dataset with a teacher and TTA into OUT/images + OUT/masks."""

from __future__ import annotations

import argparse
from typing import Any

from .errors import CLIError, user_errors
from .models import add_model_arguments, load_model, resolve_device
from .options import floats, image_files, key_values, writable_dir

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("pseudo-label", help="label images with a teacher",
                       description="Write pseudo labels (images/ + masks/) with TTA.")  # fmt: skip
    add_model_arguments(p, weights_help="segzoo.save folder, or weights file with --model")
    p.add_argument("images", nargs="*", help="image files or folders (or use --data)")
    p.add_argument("--data", help="KIND:ROOT to label instead of image files (its training split)")
    p.add_argument("--synthetic-size", type=int, default=96)
    p.add_argument("--out", required=True, help="output directory (gets images/ and masks/)")
    p.add_argument("--tta-scales", type=floats, default=(1.0,), metavar="S,S,...")
    p.add_argument("--no-flip", action="store_true", help="no flipped copies")
    p.add_argument("--threshold", type=float, help="ignore (255) pixels whose top probability is below this")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with user_errors():
        if bool(args.images) == bool(args.data):
            raise CLIError("pass image files/folders or --data KIND:ROOT (one of them).")
        out = writable_dir(args.out)
    from ..engine.datasets import make_dataset, parse_data_spec
    from ..engine.semi_supervised import pseudo_label

    with user_errors():
        source: Any
        if args.data:
            spec = parse_data_spec(args.data)
            source = make_dataset(spec, task=spec.task or "semantic", train=True, synthetic_size=args.synthetic_size,
                                  num_classes=key_values(args.set, "--set").get("num_classes"))  # fmt: skip
        else:
            source = [str(p) for p in image_files(args.images)]
        model = load_model(args).to(resolve_device(args.device))
    with user_errors(setup=False):
        result = pseudo_label(model, source, out, tta_scales=args.tta_scales, flip=not args.no_flip, threshold=args.threshold)
    print(f"{len(result.names)} pseudo-labelled images in {out} ({100 * result.ignored_fraction:.1f}% pixels ignored)")
    return 0
