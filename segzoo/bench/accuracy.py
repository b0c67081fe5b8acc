"""The synthetic accuracy benchmark: train small recipes for a fixed budget, then evaluate them.

Not a reproduction of the papers' numbers (those need ImageNet trunks and weeks of GPU
time): a fixed, stated CPU budget on the seeded synthetic scenes of
``segzoo.data.SyntheticSemantic`` / ``SyntheticPanoptic`` (4 thing + 4 stuff classes; the
evaluation scenes use another seed than the training scenes), with the tiny test backbone
or ResNet-18, so the comparisons the seeds make can be re-run anywhere in minutes:

- *recipes*: the semantic baselines and attention heads on the same trunk;
- *SE*: squeeze-and-excitation (arXiv:1709.01507) in the trunk or not (seed 000): the FCN
  head (output stride 16) on SE-ResNet-18 vs ResNet-18;
- *multi-scale*: single scale vs average / max pooling over scales, attention to scale
  (arXiv:1511.03339), seed 004's refine-multiscale attention and hierarchical multi-scale
  attention (arXiv:2005.10821, trained on (0.5, 1), evaluated on (0.5, 1) and (0.5, 1, 2));
- *post-processing*: one trained model with and without test-time augmentation (scales
  0.75/1/1.25 + flip) and dense CRF;
- *panoptic fusion*: one trained seed-000 model (``panoptic_se_r50``, tiny trunk) fused by
  the heuristic, spatial-ranking (OANet, arXiv:1903.05027) and UPSNet (arXiv:1901.03784)
  fusers, at their default detection-score threshold 0.5 and at 0.3 (a briefly trained
  detector rarely scores 0.5). All three drop stuff segments below the same area, Detectron2's 4096 px scaled
  from an 800x1200 COCO input to the synthetic size (0.4% of the image: 16 px at 64x64).

Semantic rows report mIoU, aAcc and (aAcc + mIoU) / 2; panoptic rows PQ/SQ/RQ for all,
things and stuff (``segzoo.metrics``). Training: AdamW, poly learning-rate decay (power 0.9),
random horizontal flips for the semantic models, the model's own loss recipe; every model
starts from ``torch.manual_seed(seed)`` and sees the same batches. A small loop of its own
(not ``segzoo.engine.Trainer``) keeps the benchmark's budget explicit and independent.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .fingerprint import fingerprint, load_average
from .report import fingerprint_lines

__all__ = ["Budget", "QUICK", "DEFAULT", "run_accuracy", "accuracy_markdown", "write_accuracy"]


@dataclass(frozen=True)
class Budget:
    """The fixed training and evaluation budget of a run."""

    name: str
    size: int  # square image side
    train_images: int
    eval_images: int
    iters: int  # semantic training iterations
    batch: int
    panoptic_iters: int
    panoptic_batch: int
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    full: bool = False  # the longer lists of recipes and panoptic models


QUICK = Budget("quick", size=64, train_images=64, eval_images=24, iters=120, batch=8, panoptic_iters=150, panoptic_batch=2)
DEFAULT = Budget(
    "default", size=64, train_images=256, eval_images=64, iters=400, batch=8, panoptic_iters=600, panoptic_batch=2, full=True
)

NUM_CLASSES = 8  # synthetic: things 0-3, stuff 4-7
# Detection score thresholds of the fusers: 0.5 is their default; a briefly trained detector
# rarely reaches it, so the fusers are also compared at 0.3.
SCORE_THRESHOLDS = (0.5, 0.3)
STUFF_AREA_FRACTION = 4096 / (800 * 1200)  # Detectron2's stuff_area_limit at COCO's input size
PANOPTIC_HEADS = dict(fpn_channels=64, box_channels=128, mask_channels=64, rpn_top_n=(200, 100), detections_per_img=20)


# ---- data ------------------------------------------------------------------------------------


def _semantic_tensors(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from ..data import SyntheticSemantic

    data = SyntheticSemantic(n, size=(size, size), seed=seed)
    samples = [data[i] for i in range(n)]
    return torch.stack([s[0] for s in samples]), torch.stack([s[1]["sem_seg"] for s in samples])


def _panoptic_samples(n: int, size: int, seed: int):
    from ..data import SyntheticPanoptic

    data = SyntheticPanoptic(n, size=(size, size), seed=seed)
    return data, [data[i] for i in range(n)]


# ---- training --------------------------------------------------------------------------------


def train(model: nn.Module, batches: Callable[[], tuple[Any, Any]], *, iters: int, lr: float, weight_decay: float) -> float:
    """AdamW + poly decay for ``iters`` steps through the model contract
    (``model.losses(model(images, targets), targets)`` on ``batches()``); returns the mean loss of the last 10%."""
    from ..engine.optim import PolyLR

    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    sched = PolyLR(opt, max_iters=iters)
    tail = []
    for it in range(iters):
        images, targets = batches()
        loss = sum(model.losses(model(images, targets), targets).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if it >= iters * 0.9:
            tail.append(float(loss.detach()))
    model.eval()
    return sum(tail) / max(len(tail), 1)


def semantic_batches(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, budget: Budget) -> Callable[[], tuple]:
    """Seeded random batches of ``budget.batch`` (random flips): ``(normalised images, labels)``."""
    g = torch.Generator().manual_seed(budget.seed)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(images), (budget.batch,), generator=g)
        flip = torch.rand(budget.batch, generator=g) < 0.5
        x, y = images[idx].float() / 255, labels[idx].clone()
        x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
        return model.normalize(x), y

    return draw


def panoptic_batches(model: nn.Module, samples: list, budget: Budget) -> Callable[[], tuple]:
    """Seeded random batches of ``budget.panoptic_batch`` samples: ``(normalised image list, targets)``."""
    g = torch.Generator().manual_seed(budget.seed)

    def draw() -> tuple[list[torch.Tensor], list[dict]]:
        idx = torch.randint(len(samples), (budget.panoptic_batch,), generator=g).tolist()
        return [model.normalize(samples[i][0].float()[None] / 255)[0] for i in idx], [samples[i][1] for i in idx]

    return draw


@torch.no_grad()
def eval_semantic(predict: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, labels: torch.Tensor) -> dict:
    """mIoU / aAcc / score (percent) of ``predict(uint8 batch) -> logits or labels``."""
    from ..metrics import SemanticMetrics

    metric = SemanticMetrics(NUM_CLASSES, ignore_index=255)
    for start in range(0, len(images), 8):
        metric.update(predict(images[start : start + 8]), labels[start : start + 8])
    r = metric.compute()
    return {"miou": 100 * r.miou, "aacc": 100 * r.aacc, "score": 100 * r.score}


@torch.no_grad()
def eval_panoptic(model: nn.Module, data, samples: list, fuser: Any) -> dict:
    """PQ/SQ/RQ (percent) for all, things and stuff with the given panoptic fuser."""
    from ..metrics import PanopticQuality

    metric = PanopticQuality([{"id": i, "isthing": int(i in data.thing_ids)} for i in range(len(data.classes))])
    model.eval()
    for i, (image, target) in enumerate(samples):
        pred = model.predict(image, fuser=fuser)
        gt = [{"id": s["id"], "category_id": s["train_id"], "iscrowd": s.get("iscrowd", 0)} for s in target["segments_info"]]
        metric.update(pred.panoptic_seg, pred.segments_info, target["panoptic"], gt, image_id=i)
    r = metric.compute()
    out = {}
    for group, values in (("", r.all), ("_th", r.things), ("_st", r.stuff)):
        for k in ("pq", "sq", "rq"):
            v = values[k]
            out[k + group] = None if v is None or (isinstance(v, float) and math.isnan(v)) else 100 * v
    return out


# ---- the experiments -------------------------------------------------------------------------


def _seresnet18(output_stride: int) -> nn.Module:
    from ..backbones.timm_backbone import TimmBackbone

    return TimmBackbone(model_name="seresnet18", output_stride=output_stride, name="seresnet18")


def run_accuracy(budget: Budget, *, progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every experiment of the budget; returns ``{"budget", "rows", "seconds"}``.

    Rows: ``{group, model, variant, backbone, params_m, train_s, final_loss, miou, aacc, score}`` or
    with ``pq, sq, rq, pq_th, ..., rq_st`` for panoptic rows.
    """
    from ..crf import dense_crf
    from ..factory import build
    from ..postprocess import TTA

    start_all = time.time()
    rows: list[dict[str, Any]] = []
    tr_x, tr_y = _semantic_tensors(budget.train_images, budget.size, budget.seed)
    ev_x, ev_y = _semantic_tensors(budget.eval_images, budget.size, budget.seed + 1000)

    def semantic_row(group: str, name: str, variant: str, backbone: str, make: Callable[[], nn.Module]) -> nn.Module:
        torch.manual_seed(budget.seed)
        model = make()
        t0 = time.time()
        loss = train(model, semantic_batches(model, tr_x, tr_y, budget), iters=budget.iters, lr=budget.lr,
                     weight_decay=budget.weight_decay)  # fmt: skip
        train_s = time.time() - t0
        metrics = eval_semantic(lambda x: model.semantic_logits(model.normalize(x.float() / 255)), ev_x, ev_y)
        row = {"group": group, "model": name, "variant": variant, "backbone": backbone,
               "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "train_s": train_s,
               "final_loss": loss, **metrics}  # fmt: skip
        rows.append(row)
        log(f"  {group:>12} {name:<28} {variant:<26} mIoU {metrics['miou']:5.1f}  aAcc {metrics['aacc']:5.1f}  "
            f"({train_s:.0f} s, load {load_average()})")  # fmt: skip
        return model

    tiny = {"backbone": "tiny", "num_classes": NUM_CLASSES}
    recipes = ["fcn_r50", "deeplabv3p_r50", "pspnet_r50"]
    if budget.full:
        # nonlocal_r50 is left out: its 5.9M-parameter head costs as much as three of the others.
        recipes = ["fcn_r50", "deeplabv3_r50", "deeplabv3p_r50", "pspnet_r50", "danet_r50", "ocrnet_hrnet_w18"]
    log(f"[recipes] tiny backbone, {budget.iters} iterations x batch {budget.batch}")
    trained = {}
    for name in recipes:
        trained[name] = semantic_row("recipes", name, "single scale", "tiny", lambda: build(name, **tiny))

    log("[post-processing] the trained deeplabv3p_r50 (tiny) with TTA and dense CRF")
    model = trained["deeplabv3p_r50"]
    base = next(r for r in rows if r["model"] == "deeplabv3p_r50" and r["group"] == "recipes")
    tta = TTA(model, scales=(0.75, 1.0, 1.25), flip=True)

    def with_crf(x: torch.Tensor) -> torch.Tensor:
        return dense_crf(model.semantic_logits(model.normalize(x.float() / 255)), x, iterations=5)

    for variant, fn in (
        ("TTA 0.75/1/1.25 + flip", lambda x: tta(model.normalize(x.float() / 255))),
        ("dense CRF (5 iterations)", with_crf),
    ):
        metrics = eval_semantic(fn, ev_x, ev_y)
        rows.append({**base, "group": "postprocess", "variant": variant, "train_s": 0.0, **metrics})
        log(f"  {'postprocess':>12} {'deeplabv3p_r50':<28} {variant:<26} mIoU {metrics['miou']:5.1f}  aAcc {metrics['aacc']:5.1f}")

    log("[SE] FCN head (output stride 16) on ResNet-18 vs SE-ResNet-18")
    se_args = {"num_classes": NUM_CLASSES, "output_stride": 16, "aux": False}
    semantic_row("se", "fcn_r50", "ResNet-18 trunk", "resnet18", lambda: build("fcn_r50", backbone="resnet18", **se_args))
    semantic_row("se", "fcn_r50", "SE-ResNet-18 trunk", "seresnet18",
                 lambda: build("fcn_r50", backbone=_seresnet18(16), **se_args))  # fmt: skip

    log("[multi-scale] ResNet34-dilated8-style FCN (tiny trunk), trained on scales (0.5, 1)")
    ms = {"backbone": "tiny", "num_classes": NUM_CLASSES}
    semantic_row("multiscale", "msrefine_r34d8", "single scale (1.0)", "tiny",
                 lambda: build("msrefine_r34d8", fuser="avg", scales=(1.0,), **ms))  # fmt: skip
    for fuser in ("avg", "max", "attention_to_scale", "refine_multiscale"):
        semantic_row("multiscale", "msrefine_r34d8", f"{fuser} (0.5, 1)", "tiny",
                     lambda: build("msrefine_r34d8", fuser=fuser, scales=(0.5, 1.0), **ms))  # fmt: skip
    hmsa = semantic_row("multiscale", "msrefine_r34d8", "hmsa (0.5, 1)", "tiny",
                        lambda: build("msrefine_r34d8", fuser="hmsa", scales=(0.5, 1.0), **ms))  # fmt: skip
    hmsa.scales = (0.5, 1.0, 2.0)  # HMSA's point: train on a pair, infer on more scales
    metrics = eval_semantic(lambda x: hmsa.semantic_logits(hmsa.normalize(x.float() / 255)), ev_x, ev_y)
    base = rows[-1]
    rows.append({**base, "variant": "hmsa (0.5, 1) -> eval (0.5, 1, 2)", "train_s": 0.0, **metrics})
    log(f"  {'multiscale':>12} {'msrefine_r34d8':<28} {'hmsa eval (0.5, 1, 2)':<26} mIoU {metrics['miou']:5.1f}  aAcc {metrics['aacc']:5.1f}")

    log(f"[panoptic] tiny trunk, small heads, {budget.panoptic_iters} iterations x batch {budget.panoptic_batch}")
    data, tr_p = _panoptic_samples(budget.train_images, budget.size, budget.seed)
    _, ev_p = _panoptic_samples(budget.eval_images, budget.size, budget.seed + 1000)
    from ..fusers.panoptic import create_panoptic_fuser

    stuff_area = max(1, round(STUFF_AREA_FRACTION * budget.size * budget.size))
    for name, fusers in [("panoptic_se_r50", ("heuristic", "spatial_ranking", "upsnet"))]:
        torch.manual_seed(budget.seed)
        model = build(name, backbone="tiny", num_classes=len(data.classes), thing_ids=data.thing_ids,
                      stuff_ids=data.stuff_ids, **PANOPTIC_HEADS)  # fmt: skip
        t0 = time.time()
        loss = train(model, panoptic_batches(model, tr_p, budget), iters=budget.panoptic_iters, lr=1e-3,
                     weight_decay=budget.weight_decay)  # fmt: skip
        train_s = time.time() - t0
        for threshold in SCORE_THRESHOLDS:
            for fuser in fusers:
                made = create_panoptic_fuser(fuser, stuff_area_limit=stuff_area, score_threshold=threshold)
                metrics = eval_panoptic(model, data, ev_p, made)
                variant = f"{fuser}, score >= {threshold:g}"
                rows.append({"group": "panoptic", "model": name, "variant": variant, "backbone": "tiny",
                             "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
                             "train_s": train_s if not rows or rows[-1]["group"] != "panoptic" else 0.0,
                             "final_loss": loss, **metrics})  # fmt: skip
                log(f"  {'panoptic':>12} {name:<28} {variant:<26} PQ {metrics['pq'] or 0:5.1f}  "
                    f"PQth {metrics['pq_th'] or 0:5.1f}  PQst {metrics['pq_st'] or 0:5.1f}  ({train_s:.0f} s train)")  # fmt: skip
    return {"budget": asdict(budget), "rows": rows, "seconds": time.time() - start_all}


# ---- report ----------------------------------------------------------------------------------


def _f(v: Any, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def accuracy_markdown(result: dict[str, Any], *, command: str, fp: dict[str, Any]) -> str:
    b = result["budget"]
    rows = result["rows"]
    lines = [
        f"# segzoo synthetic accuracy benchmark ({b['name']} budget)", "", "```", command, "```", "",
        f"Budget: {b['size']}x{b['size']} synthetic scenes (8 classes: 4 things, 4 stuff), {b['train_images']} training "
        f"images (seed {b['seed']}), {b['eval_images']} evaluation images (seed {b['seed'] + 1000}); semantic models "
        f"{b['iters']} iterations x batch {b['batch']}, AdamW lr {b['lr']:g} (poly 0.9), weight decay {b['weight_decay']:g}, "
        f"random flips; panoptic models {b['panoptic_iters']} iterations x batch {b['panoptic_batch']}, AdamW lr 0.001, "
        f"heads {PANOPTIC_HEADS}, stuff segments under {max(1, round(STUFF_AREA_FRACTION * b['size'] ** 2))} px dropped "
        "by every fuser. "
        f"Randomly initialised trunks. Total wall time {result['seconds'] / 60:.1f} min.", "",
        *[f"- {line}" for line in fingerprint_lines(fp) if not line.startswith("cpu_flags")], "",
        "## Semantic (percent)", "",
        "| group | model | variant | trunk | params (M) | mIoU | aAcc | (aAcc+mIoU)/2 | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        if "miou" in r:
            lines.append(f"| {r['group']} | {r['model']} | {r['variant']} | {r['backbone']} | {r['params_m']:.2f} | "
                         f"{_f(r['miou'])} | {_f(r['aacc'])} | {_f(r['score'])} | {r['train_s']:.0f} |")  # fmt: skip
    lines += ["", "## Panoptic (percent; one trained model per recipe, fusers swapped at inference)", "",
              "| model | fusion | PQ | SQ | RQ | PQ th | SQ th | RQ th | PQ st | SQ st | RQ st | train s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        if "pq" in r:
            lines.append("| " + " | ".join([r["model"], r["variant"]] + [_f(r[k]) for k in (
                "pq", "sq", "rq", "pq_th", "sq_th", "rq_th", "pq_st", "sq_st", "rq_st")] + [f"{r['train_s']:.0f}"]) + " |")  # fmt: skip
    lines += ["", "Every number comes from the run above; the evaluation scenes are not in the training set. Small "
              "budgets make differences of a point or two noise-level: compare groups, not decimals.", ""]  # fmt: skip
    return "\n".join(lines)


def write_accuracy(result: dict[str, Any], out_dir: str | Path, *, command: str) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fp = fingerprint()
    name = f"accuracy_{result['budget']['name']}"
    js = out / f"{name}.json"
    js.write_text(json.dumps({"command": command, "fingerprint": fp, **result}, indent=2, default=str) + "\n", encoding="utf-8")
    md = out / f"{name}.md"
    md.write_text(accuracy_markdown(result, command=command, fp=fp), encoding="utf-8")
    return [js, md]
