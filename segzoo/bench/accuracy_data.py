"""The accuracy benchmark on a real dataset: ``segzoo bench --accuracy --data KIND:ROOT``.

For users with the data (COCO panoptic, ADE20K, Cityscapes, VOC, a folder) and, usually, a GPU:
each selected recipe (any backbone, ``--set backbone=resnet50``) is trained with segzoo's
``Trainer`` for a fixed, stated budget (``--train-iters`` x ``--train-batch``, AdamW, poly decay
with warm-up, the dataset's default augmentation) and evaluated on the dataset's validation
split with the same metrics as ``segzoo eval``: mIoU / aAcc / (aAcc + mIoU) / 2 for semantic
recipes, PQ / SQ / RQ (all, things, stuff) for panoptic ones. Recipes whose task the data
can't serve are skipped with a message. Results go to ``accuracy_<kind>.json`` / ``.md`` with
the fingerprint and the command, in the synthetic benchmark's spirit: every number comes from
the run itself.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

__all__ = ["run_accuracy_on_data", "data_accuracy_markdown"]

SEMANTIC_KEYS = ("mIoU", "aAcc")
PANOPTIC_KEYS = ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st")


def run_accuracy_on_data(
    data: str,
    *,
    models: Sequence[str],
    overrides: dict[str, Any] | None = None,
    iters: int = 2000,
    batch_size: int = 8,
    lr: float = 1e-3,
    device: str = "auto",
    seed: int = 0,
    synthetic_size: int = 96,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train and evaluate ``models`` on ``data`` (a ``KIND:ROOT`` spec); returns ``{"rows", ...}``."""
    from ..engine.config import TrainConfig
    from ..engine.datasets import make_dataset, model_for_dataset, parse_data_spec, train_transforms
    from ..engine.seed import seed_everything
    from ..engine.trainer import Trainer
    from ..factory import model_info
    from .runner import select_models

    if iters < 1 or batch_size < 1:
        raise ValueError(f"--train-iters and --train-batch must be >= 1, got {iters} and {batch_size}")
    spec = parse_data_spec(data)
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device))
    names = select_models(models)
    usable = [n for n in names if spec.task in (None, model_info(n)["task"])]
    for name in sorted(set(names) - set(usable)):
        log(f"skipped {name}: a {model_info(name)['task']} recipe can't train on {spec.kind} ({spec.task} data)")
    if not usable:
        raise ValueError(f"none of {names} can train on {spec.kind} ({spec.task} data); pick recipes of that task")
    overrides = dict(overrides or {})
    rows, start_all = [], time.time()
    for name in usable:
        task = model_info(name)["task"]
        transforms = train_transforms(spec, task=task, synthetic_size=synthetic_size)
        train_set = make_dataset(spec, task=task, train=True, transforms=transforms,
                                 num_classes=overrides.get("num_classes"), synthetic_size=synthetic_size)  # fmt: skip
        val_set = make_dataset(spec, task=task, train=False, num_classes=overrides.get("num_classes"),
                               synthetic_size=synthetic_size)  # fmt: skip
        seed_everything(seed)
        model = model_for_dataset(name, overrides, train_set).to(dev)
        config = TrainConfig(max_iters=iters, batch_size=batch_size, optimizer="adamw", lr=lr, weight_decay=1e-4,
                             warmup_iters=min(100, iters // 10), progress=progress, seed=seed,
                             checkpoint_every=iters)  # fmt: skip
        t0 = time.time()
        result = Trainer(model, train_set, val_data=val_set, out_dir=None, config=config).fit()
        metrics = result.metrics or {}
        keys = [k for k in SEMANTIC_KEYS + PANOPTIC_KEYS if metrics.get(k) is not None]  # the model's evaluator decides
        row = {"model": name, "task": task, "backbone": str(model_info(name)["defaults"].get("backbone", "")),
               "overrides": {k: v for k, v in overrides.items() if isinstance(v, (str, int, float, bool))},
               "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "train_s": time.time() - t0,
               **{k: 100 * float(metrics[k]) for k in keys if metrics.get(k) is not None}}  # fmt: skip
        if "mIoU" in row and "aAcc" in row:
            row["score"] = (row["mIoU"] + row["aAcc"]) / 2
        rows.append(row)
        shown = ", ".join(f"{k} {row[k]:.1f}" for k in keys if k in row)
        log(f"  {name:<28} {shown}  ({row['train_s']:.0f} s)")
    budget = {"data": data, "train_images": len(train_set), "val_images": len(val_set), "iters": iters,
              "batch_size": batch_size, "lr": lr, "seed": seed, "device": str(dev)}  # fmt: skip
    return {"budget": budget, "rows": rows, "seconds": time.time() - start_all}


def _cell(row: dict[str, Any], key: str) -> str:
    return f"{row[key]:.1f}" if key in row else "-"


def data_accuracy_markdown(result: dict[str, Any], *, command: str, fp: dict[str, Any]) -> str:
    from .report import fingerprint_lines

    b = result["budget"]
    lines = [
        f"# segzoo accuracy benchmark on {b['data']}", "", "```", command, "```", "",
        f"Budget: {b['iters']} iterations x batch {b['batch_size']} (AdamW lr {b['lr']:g}, poly 0.9, warm-up, the "
        f"dataset's default augmentation), {b['train_images']} training and {b['val_images']} validation images, "
        f"seed {b['seed']}, device {b['device']}. Total wall time {result['seconds'] / 60:.1f} min.", "",
        *[f"- {line}" for line in fingerprint_lines(fp) if not line.startswith("cpu_flags")], "",
        "| model | task | backbone | params (M) | mIoU | aAcc | (aAcc+mIoU)/2 | PQ | SQ | RQ | PQ th | PQ st | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in result["rows"]:
        backbone = r["overrides"].get("backbone", r["backbone"])
        lines.append(
            f"| {r['model']} | {r['task']} | {backbone} | {r['params_m']:.2f} | {_cell(r, 'mIoU')} | {_cell(r, 'aAcc')} | "
            f"{_cell(r, 'score')} | {_cell(r, 'PQ')} | {_cell(r, 'SQ')} | {_cell(r, 'RQ')} | {_cell(r, 'PQ_th')} | "
            f"{_cell(r, 'PQ_st')} | {r['train_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def write_data_accuracy(result: dict[str, Any], out_dir: str | Path, *, command: str) -> list[Path]:
    from .fingerprint import fingerprint

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fp = fingerprint()
    kind = result["budget"]["data"].split(":", 1)[0]
    js, md = out / f"accuracy_{kind}.json", out / f"accuracy_{kind}.md"
    js.write_text(json.dumps({"command": command, "fingerprint": fp, **result}, indent=2, default=str) + "\n", encoding="utf-8")
    md.write_text(data_accuracy_markdown(result, command=command, fp=fp), encoding="utf-8")
    return [js, md]
