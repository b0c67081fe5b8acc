"""``segzoo predict``: label PNGs (panoptic: COCO PNG + ``predictions.json``) and overlays, streamed.

Images are read, resized (``--size`` / ``--max-size``), predicted and written batch by batch
(``--batch-size``), so memory does not grow with the number of images; results are mapped
back to each image's own size. Panoptic ``predictions.json`` uses the dataset's category ids
and names (``--categories`` or, for the COCO and synthetic layouts, the known table), so
``pq_compute`` reads it beside the ground-truth JSON directly.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
from pathlib import Path
from typing import Any, Iterator, Sequence

from .errors import CLIError, user_errors
from .models import add_model_arguments, load_model, resolve_device, task_of
from .options import floats, image_files, writable_dir
from .progress import progress, progress_enabled

__all__ = ["add_parser", "run", "resize_rule", "category_table"]

log = logging.getLogger("segzoo")


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="segment images", description="Write label PNGs (panoptic: COCO PNG + JSON) "
                       "and overlays, one batch of images at a time.")  # fmt: skip
    add_model_arguments(p, weights_help="segzoo.save folder, or weights file with --model")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--batch-size", type=int, default=1, help="images per forward pass (default 1)")
    p.add_argument("--size", type=int, metavar="S", help="resize so the shorter side is S before predicting "
                   "(results are mapped back to the image's size)")  # fmt: skip
    p.add_argument("--max-size", type=int, metavar="M", help="resize so the longer side is at most M (with --size: "
                   "Detectron2's test rule, e.g. --size 800 --max-size 1333)")  # fmt: skip
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--score-threshold", type=float, help="panoptic: drop detections scored below this in the fusion "
                   "(default: the model fuser's, 0.5)")  # fmt: skip
    p.add_argument("--categories", metavar="FILE.json", help="panoptic: a COCO panoptic JSON whose 'categories' the model "
                   "was trained on (the dataset's annotation file); default: COCO's for 133-class COCO models")  # fmt: skip
    p.add_argument("--tta-scales", type=floats, metavar="S,S,...", help="test-time scales (semantic labels)")
    p.add_argument("--flip", action="store_true", help="add flipped copies to the test-time augmentation")
    p.add_argument("--palette", default=None, help="voc, cityscapes, ade20k, coco, synthetic (default: by task)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity")
    p.add_argument("--no-overlay", action="store_true", help="skip the overlay images")
    p.add_argument("--attention", action="store_true", help="also write the scale fuser's attention maps (multi-scale models)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (also off when stdout is not a terminal)")
    p.set_defaults(run=run)


def resize_rule(height: int, width: int, *, size: int | None, max_size: int | None) -> tuple[int, int]:
    """The size to predict at: shorter side ``size`` (if given), longer side at most ``max_size``."""
    scale = 1.0
    if size:
        scale = size / min(height, width)
    if max_size and max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def category_table(model, path: str | None) -> list[dict[str, Any]]:
    """Train id -> ``{"id", "name", "isthing"}`` of the dataset the model predicts.

    ``path``: a COCO panoptic JSON (its ``categories`` in id order are the train ids, as the
    readers assign them). Without it: COCO panoptic for a 133-class model with COCO's
    80 things first, the synthetic benchmark's categories for its layout, else the train ids
    themselves (with a warning: pass ``--categories``). A model built with published weights
    that name their classes (``model.class_names``, ``model.category_ids``) uses those."""
    from ..coco_categories import coco_panoptic_categories
    from ..data.panoptic_utils import CategoryMap
    from ..data.synthetic import SYNTHETIC_CATEGORIES

    things = sorted(int(t) for t in model.thing_ids)
    if path is not None:
        try:
            data = json.loads(Path(path).read_text())
            categories = CategoryMap(data["categories"] if isinstance(data, dict) else data).categories
        except FileNotFoundError:
            raise CLIError(f"--categories file {path!r} not found.") from None
        except (ValueError, KeyError, TypeError) as err:
            raise CLIError(f"--categories {path}: expected a COCO panoptic JSON with a 'categories' list of "
                           f"{{id, name, isthing}} ({type(err).__name__}: {err}).") from None  # fmt: skip
        if len(categories) != model.num_classes:
            raise CLIError(f"--categories {path} lists {len(categories)} categories but the model predicts "
                           f"{model.num_classes} classes; pass the annotation file of the dataset it was trained on.")  # fmt: skip
        return categories
    names, ids = tuple(getattr(model, "class_names", ())), tuple(getattr(model, "category_ids", ()))
    if len(names) == len(ids) == model.num_classes:  # the published weights name their classes
        return [{"id": int(c), "name": n, "isthing": int(i in things), "train_id": i} for i, (n, c) in enumerate(zip(names, ids))]
    for known in (coco_panoptic_categories(), list(SYNTHETIC_CATEGORIES)):
        table = CategoryMap(known).categories
        if len(table) == model.num_classes and [c["train_id"] for c in table if c["isthing"]] == things:
            return table
    log.warning("%s: no known category table for %d classes; predictions.json uses train ids as category ids "
                "(pass --categories FILE.json to write the dataset's ids).", type(model).__name__, model.num_classes)  # fmt: skip
    return [{"id": i, "name": f"class_{i}", "isthing": int(i in things), "train_id": i} for i in range(model.num_classes)]


def _default_palette(model, task: str) -> str:
    names = {19: "cityscapes", 21: "voc", 150: "ade20k", 133: "coco", 8: "synthetic"}
    return names.get(model.num_classes, "coco" if task == "panoptic" else "voc")


def _batches(files: Sequence[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(files), size):
        yield list(files[start : start + size])


def _check_numbers(args: argparse.Namespace) -> None:
    for flag, value in (("--batch-size", args.batch_size), ("--size", args.size), ("--max-size", args.max_size),
                        ("--threads", args.threads)):  # fmt: skip
        if value is not None and value < 1:
            raise CLIError(f"{flag} must be a positive integer, got {value}.")
    if not 0 <= args.alpha <= 1:
        raise CLIError(f"--alpha must be in [0, 1], got {args.alpha}.")
    if args.score_threshold is not None and not 0 <= args.score_threshold <= 1:
        raise CLIError(f"--score-threshold must be in [0, 1], got {args.score_threshold}.")


def run(args: argparse.Namespace) -> int:
    with user_errors():
        _check_numbers(args)
        files = image_files(args.images)
        out = writable_dir(args.out)
        task = task_of(args)
        if task == "panoptic" and (args.tta_scales or args.flip):
            raise CLIError("--tta-scales / --flip apply to semantic models only.")
        if task != "panoptic" and (args.score_threshold is not None or args.categories):
            raise CLIError("--score-threshold / --categories apply to panoptic models only.")
    import torch

    from ..data import read_image
    from ..files import atomic_write
    from ..postprocess.tta import TTA
    from ..viz import palette

    with user_errors():
        if args.threads:
            torch.set_num_threads(args.threads)
        device = resolve_device(args.device)
        model = load_model(args).to(device).eval()
        colors = palette(args.palette or _default_palette(model, task), num_classes=model.num_classes)
        fuser = None
        categories = None
        if task == "panoptic":
            categories = category_table(model, args.categories)
            if args.score_threshold is not None:
                if not hasattr(model.fuser, "score_threshold"):
                    raise CLIError(f"the model's fuser ({type(model.fuser).__name__}) has no score threshold.")
                fuser = copy.copy(model.fuser)  # the model keeps its own setting
                fuser.score_threshold = args.score_threshold
        predictor = TTA(model, scales=args.tta_scales or (1.0,), flip=args.flip) if (args.tta_scales or args.flip) else model

    writer = _Writer(args, model, task, out, colors, categories)
    bar = progress(range(len(files)), enabled=progress_enabled(args.no_progress), desc="predict", unit="img")
    ticks = iter(bar)
    for batch in _batches(files, args.batch_size):
        images, inputs = [], []
        for path in batch:
            with user_errors():
                image = read_image(path)
            images.append(image)
            h, w = resize_rule(*image.shape[-2:], size=args.size, max_size=args.max_size)
            inputs.append(image if (h, w) == tuple(image.shape[-2:]) else _resize(image, (h, w)))
        with torch.no_grad():
            if task == "panoptic":
                results = model.predict(inputs, batch_size=len(inputs), fuser=fuser)
            else:
                results = predictor.predict(inputs if len(inputs) > 1 else inputs[0])
                results = results if isinstance(results, list) else [results]
        for path, image, result in zip(batch, images, results):
            with user_errors(setup=False):  # e.g. a full disk
                written = writer.write(path, image, result)
            message = f"{path}: " + ", ".join(p.name for p in written)
            (bar.write if hasattr(bar, "write") else print)(message)
            next(ticks, None)
    if hasattr(bar, "close"):
        bar.close()
    if task == "panoptic":
        table = [{k: c[k] for k in ("id", "name", "isthing")} for c in categories]
        text = json.dumps({"annotations": writer.annotations, "categories": table}, indent=1)
        atomic_write(out / "predictions.json", lambda tmp: Path(tmp).write_text(text + "\n"))
        print(f"COCO panoptic annotations: {out / 'predictions.json'}")
    return 0


def _resize(image, size: tuple[int, int]):
    import torch.nn.functional as F

    x = F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    return x.round().clamp(0, 255).to(image.dtype)[0]


def _to_size(labels, size: tuple[int, int]):
    """A label or id map resized to ``size`` (nearest neighbour)."""
    import torch.nn.functional as F

    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    return F.interpolate(labels[None, None].double(), size=size, mode="nearest-exact")[0, 0].to(labels.dtype)


class _Writer:
    """Writes one image's outputs (each file atomically) and keeps the panoptic annotations."""

    def __init__(self, args, model, task, out: Path, colors, categories) -> None:
        self.args, self.model, self.task, self.out, self.colors = args, model, task, out, colors
        self.categories = categories
        self.annotations: list[dict[str, Any]] = []

    def write(self, path: Path, image, result) -> list[Path]:
        import torch

        from ..fusers.panoptic import to_coco_panoptic
        from ..viz import overlay_panoptic, overlay_semantic, render_attention, save_png

        stem, size, out, args = path.stem, tuple(image.shape[-2:]), self.out, self.args
        written = []
        if self.task == "panoptic":
            panoptic = _to_size(result.panoptic_seg, size)
            kept = set(torch.unique(panoptic).tolist())
            segments = [s for s in result.segments_info if int(s["id"]) in kept]
            table = {c["train_id"]: c["id"] for c in self.categories}
            image_id = int(stem) if stem.isdigit() else stem  # COCO names files by their zero-padded id
            rgb, ann = to_coco_panoptic(panoptic, segments, categories=table, image_id=image_id, file_name=f"{stem}_panoptic.png")
            written.append(save_png(rgb, out / f"{stem}_panoptic.png"))
            written.append(save_png(_to_size(result.sem_seg, size).to(torch.uint8), out / f"{stem}_semantic.png"))
            self.annotations.append(ann)
            if not args.no_overlay:
                vis = overlay_panoptic(image, panoptic, segments, palette=self.colors, alpha=args.alpha,
                                       thing_ids=self.model.thing_ids)  # fmt: skip
                written.append(save_png(vis, out / f"{stem}_overlay.png"))
            return written
        labels = _to_size(result, size)
        label_png = labels.cpu().numpy().astype("uint8" if self.model.num_classes <= 255 else "uint16")
        written.append(save_png(label_png, out / f"{stem}.png"))
        if not args.no_overlay:
            written.append(save_png(overlay_semantic(image, labels, palette=self.colors, alpha=args.alpha),
                                    out / f"{stem}_overlay.png"))  # fmt: skip
        if args.attention and hasattr(self.model, "fuse"):
            model = self.model
            with torch.no_grad():
                fused, _ = model.fuse(model.normalize(image[None].float().div(255).to(model.device)))
            for name, maps in fused.attention.items():
                written.append(save_png(render_attention(maps[0]), out / f"{stem}_attention_{name}.png"))
        return written
