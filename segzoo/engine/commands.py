"""The work behind ``segzoo train | eval | predict | export | pseudo-label`` (argument parsing is in
:mod:`segzoo.cli`).

Each command first sets up (options, data, model, output folder) with user errors turned
into one-line :class:`segzoo.cli.CLIError` messages, then runs; errors while running are
real failures and keep their traceback (except non-finite losses: one line, exit 1).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import torch

from ..cli import ARG_ERRORS, CLIError, _device, _key_values, _load_model, _writable_dir
from .datasets import make_dataset, model_for_dataset, parse_data_spec, train_transforms

__all__ = ["run_train", "run_eval", "run_predict", "run_export", "run_pseudo_label", "setup_errors"]

log = logging.getLogger("segzoo")

# train flag -> TrainConfig field
_TRAIN_FIELDS = {
    "iters": "max_iters", "batch_size": "batch_size", "optimizer": "optimizer", "lr": "lr",
    "weight_decay": "weight_decay", "head_lr_mult": "head_lr_mult", "schedule": "schedule", "step_size": "step_size",
    "warmup_iters": "warmup_iters", "amp": "amp", "clip_grad": "clip_grad_norm", "accumulate": "accumulate",
    "ema": "ema_decay", "batch_scales": "batch_scale_range", "eval_every": "eval_every",
    "checkpoint_every": "checkpoint_every", "log_every": "log_every", "best_metric": "best_metric", "seed": "seed",
    "workers": "num_workers",
}  # fmt: skip
_NOT_IN_CONFIG = {"func", "command", "config", "quiet"}


@contextlib.contextmanager
def setup_errors() -> Iterator[None]:
    """Turn the errors of bad user input into :class:`CLIError` (one line, exit status 2)."""
    try:
        yield
    except CLIError:
        raise
    except ARG_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        raise CLIError(message) from None
    except OSError as err:  # e.g. an unreadable file given by the user
        raise CLIError(str(err)) from None


def _merge_config_file(args) -> None:
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
    valid = sorted(set(vars(args)) - _NOT_IN_CONFIG)
    for key, value in values.items():
        key = key.replace("-", "_")
        if key not in valid:
            raise CLIError(f"unknown option {key!r} in {path}; valid keys: {', '.join(valid)}.")
        if key in ("set", "train_opt"):  # dicts (or k=v lists); the command line's entries win
            given = value if isinstance(value, dict) else _key_values(value, f"{key} in {path}")
            merged = {**given, **_key_values(getattr(args, key), f"--{key.replace('_', '-')}")}
            setattr(args, key, [f"{k}={json.dumps(v)}" for k, v in merged.items()])
        elif getattr(args, key) in (None, False):
            setattr(args, key, tuple(value) if isinstance(value, list) else value)


def _train_config(args):
    from .config import TrainConfig

    values = {field: getattr(args, flag) for flag, field in _TRAIN_FIELDS.items() if getattr(args, flag) is not None}
    if args.sync_bn:
        values["sync_bn"] = True
    if args.no_progress:
        values["progress"] = False
    values.update(_key_values(args.train_opt, "--train-opt"))
    return TrainConfig.from_dict(values)


def run_train(args) -> int:
    """``segzoo train``: build data and model from the options, train, print a summary."""
    from ..factory import model_info
    from .distributed import cleanup, init_distributed
    from .seed import seed_everything
    from .trainer import NonFiniteLossError, Trainer

    with setup_errors():
        _merge_config_file(args)
        if not args.model or not args.data:
            raise CLIError("train needs --model NAME and --data KIND:ROOT (or a --config file with them).")
        config = _train_config(args)
        overrides = _key_values(args.set, "--set")
        task = model_info(args.model)["task"]
        spec = parse_data_spec(args.data)
        val_spec = None if args.no_val else (parse_data_spec(args.val) if args.val else spec)
        if val_spec is not None and val_spec.kind == "folder" and not args.val:
            val_spec = None  # a folder has no validation split of its own
        info = init_distributed()
        if info.rank == 0:
            _writable_dir(args.out)
        if args.threads:
            torch.set_num_threads(args.threads)
        device = _device(args.device)
        if device.type == "cuda" and info.distributed:
            device = torch.device("cuda", info.local_rank)
        transforms = train_transforms(
            spec, task=task, crop=_pair(args.crop), scale_range=args.scale_range, base_size=args.base_size,
            synthetic_size=args.synthetic_size,
        )  # fmt: skip
        num_classes = overrides.get("num_classes")
        train_set = make_dataset(spec, task=task, train=True, split=args.train_split, transforms=transforms,
                                 num_classes=num_classes, synthetic_size=args.synthetic_size)  # fmt: skip
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
    from tqdm.contrib.logging import logging_redirect_tqdm

    start = time.perf_counter()
    try:
        with logging_redirect_tqdm():
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


def _pair(values) -> tuple[int, int] | None:
    if not values:
        return None
    if len(values) not in (1, 2):
        raise CLIError(f"--crop takes H or H,W, got {values}.")
    return (values[0], values[-1])


def _task_of(args) -> str:
    from ..factory import model_info

    weights = Path(args.weights) if args.weights else None
    if weights is not None and (weights / "config.json").is_file():
        return model_info(json.loads((weights / "config.json").read_text())["name"])["task"]
    if not args.model:
        raise CLIError("pass --model NAME (or --weights DIR written by segzoo.save / segzoo train).")
    return model_info(args.model)["task"]


def run_eval(args) -> int:
    """``segzoo eval``: metrics of a model on a dataset's validation split, as JSON."""
    from .evaluate import evaluate
    from .loader import eval_loader

    with setup_errors():
        spec = parse_data_spec(args.data)
        task = _task_of(args)
        dataset = make_dataset(spec, task=task, train=False, split=args.split, synthetic_size=args.synthetic_size,
                               num_classes=_key_values(args.set, "--set").get("num_classes"))  # fmt: skip
        model = _load_model(args, dataset).to(_device(args.device))
        if (args.tta_scales or args.flip) and task != "semantic":
            raise CLIError("--tta-scales / --flip apply to semantic models only.")
        if args.out:
            _writable_dir(Path(args.out).parent)
        loader = eval_loader(dataset, task=task, batch_size=args.batch_size)
    metrics = evaluate(model, loader, amp=args.amp, tta_scales=args.tta_scales, flip=args.flip)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.out:
        from ..weights import _atomic_write

        _atomic_write(Path(args.out), lambda tmp: Path(tmp).write_text(text + "\n"))
    return 0


def _image_files(items: list[str]) -> list[Path]:
    from ..data._io import IMAGE_EXTENSIONS

    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS))
        elif path.is_file():
            files.append(path)
        else:
            raise CLIError(f"image {item!r} not found.")
    if not files:
        raise CLIError(f"no images found in {items}.")
    return files


def _default_palette(model, task: str) -> str | Any:
    names = {19: "cityscapes", 21: "voc", 150: "ade20k", 133: "coco", 8: "synthetic"}
    return names.get(model.num_classes, "coco" if task == "panoptic" else "voc")


def run_predict(args) -> int:
    """``segzoo predict``: label PNGs (panoptic: COCO PNG + predictions.json) and overlays per image."""
    from ..data._io import read_image
    from ..postprocess.tta import TTA
    from ..viz import overlay_panoptic, overlay_semantic, palette, render_attention, save_png
    from ..weights import _atomic_write

    with setup_errors():
        files = _image_files(args.images)
        out = _writable_dir(args.out)
        model = _load_model(args).to(_device(args.device))
        task = model.task
        colors = palette(args.palette or _default_palette(model, task), num_classes=model.num_classes)
        if task == "panoptic" and (args.tta_scales or args.flip):
            raise CLIError("--tta-scales / --flip apply to semantic models only.")
        if not 0 <= args.alpha <= 1:
            raise CLIError(f"--alpha must be in [0, 1], got {args.alpha}.")
        images = [(path, read_image(path)) for path in files]
    annotations = []
    for path, image in images:
        stem = path.stem
        written = []
        if task == "panoptic":
            pred = model.predict(image)
            rgb, ann = _coco_panoptic(pred, stem)
            written.append(save_png(rgb, out / f"{stem}_panoptic.png"))
            written.append(save_png(pred.sem_seg.to(torch.uint8), out / f"{stem}_semantic.png"))
            annotations.append(ann)
            if not args.no_overlay:
                vis = overlay_panoptic(image, pred.panoptic_seg, pred.segments_info, palette=colors,
                                       alpha=args.alpha, thing_ids=model.thing_ids)  # fmt: skip
                written.append(save_png(vis, out / f"{stem}_overlay.png"))
        else:
            predictor = TTA(model, scales=args.tta_scales or (1.0,), flip=args.flip) if (args.tta_scales or args.flip) else model
            labels = predictor.predict(image)
            label_png = labels.cpu().numpy().astype("uint8" if model.num_classes <= 255 else "uint16")
            written.append(save_png(label_png, out / f"{stem}.png"))
            if not args.no_overlay:
                vis = overlay_semantic(image, labels, palette=colors, alpha=args.alpha)
                written.append(save_png(vis, out / f"{stem}_overlay.png"))
            if args.attention and hasattr(model, "fuse"):
                with torch.no_grad():
                    fused, _ = model.eval().fuse(model.normalize(image[None].float().div(255).to(model.device)))
                for name, maps in fused.attention.items():
                    written.append(save_png(render_attention(maps[0]), out / f"{stem}_attention_{name}.png"))
        print(f"{path}: " + ", ".join(p.name for p in written))
    if task == "panoptic":
        categories = [{"id": c, "name": str(c), "isthing": int(c in model.thing_ids)} for c in range(model.num_classes)]
        text = json.dumps({"annotations": annotations, "categories": categories}, indent=1)
        _atomic_write(out / "predictions.json", lambda tmp: Path(tmp).write_text(text + "\n"))
        print(f"COCO panoptic annotations: {out / 'predictions.json'}")
    return 0


def _coco_panoptic(pred, stem: str) -> tuple[Any, dict]:
    """COCO panoptic PNG (RGB) and annotation of a prediction (category ids = train ids)."""
    try:
        from ..fusers.panoptic import to_coco_panoptic
    except ImportError:  # an older segzoo without the panoptic fusers
        from ..data.panoptic_utils import id2rgb

        segments = [{"id": int(s["id"]), "category_id": int(s["category_id"]), "iscrowd": 0} for s in pred.segments_info]
        annotation = {"image_id": stem, "file_name": f"{stem}_panoptic.png", "segments_info": segments}
        return id2rgb(pred.panoptic_seg.cpu().numpy()), annotation
    return to_coco_panoptic(pred.panoptic_seg, pred.segments_info, image_id=stem, file_name=f"{stem}_panoptic.png")


def run_export(args) -> int:
    """``segzoo export``: through ``segzoo.export.export`` (when this installation has it)."""
    import importlib.util

    with setup_errors():
        if importlib.util.find_spec("segzoo.export") is None:
            raise CLIError("segzoo.export is not available in this installation (segzoo/export.py is missing).")
        from .. import export as export_module

        if not callable(getattr(export_module, "export", None)):
            raise CLIError("segzoo.export has no export() function in this installation; update segzoo.")
        size = _pair(args.size)
        out = Path(args.out)
        _writable_dir(out.parent)
        model = _load_model(args).to(_device(args.device)).eval()
    params = inspect.signature(export_module.export).parameters
    kwargs: dict[str, Any] = {"format": args.format}
    example = torch.rand(1, model.in_chans, *size, device=model.device)
    for name in ("example_inputs", "example_input", "example", "sample_input"):
        if name in params:
            kwargs[name] = example
    for name in ("example_size", "input_size", "image_size", "size"):
        if name in params:
            kwargs[name] = size
    if args.allow_undeclared and "allow_undeclared" in params:
        kwargs["allow_undeclared"] = True
    with setup_errors():  # e.g. a format the model does not declare: a user error, one line
        result = export_module.export(model, out, **kwargs)
    print(f"exported {args.format} to {result if isinstance(result, (str, Path)) else out}")
    return 0


def run_pseudo_label(args) -> int:
    """``segzoo pseudo-label``: label images or a dataset with TTA into OUT/images + OUT/masks."""
    from .semi_supervised import pseudo_label

    with setup_errors():
        if bool(args.images) == bool(args.data):
            raise CLIError("pass image files/folders or --data KIND:ROOT (one of them).")
        out = _writable_dir(args.out)
        source: Any
        if args.data:
            spec = parse_data_spec(args.data)
            source = make_dataset(spec, task=spec.task or "semantic", train=True, synthetic_size=args.synthetic_size,
                                  num_classes=_key_values(args.set, "--set").get("num_classes"))  # fmt: skip
        else:
            source = [str(p) for p in _image_files(args.images)]
        model = _load_model(args).to(_device(args.device))
    result = pseudo_label(model, source, out, tta_scales=args.tta_scales, flip=not args.no_flip, threshold=args.threshold)
    print(f"{len(result.names)} pseudo-labelled images in {out} ({100 * result.ignored_fraction:.1f}% pixels ignored)")
    return 0
