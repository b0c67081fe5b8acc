"""Does each seed's claim reproduce? A synthetic benchmark, three seeds, mean and spread per claim.

Each claim gets the scenes its method exploits and the comparison the paper makes, trained and
evaluated with the same budget for every variant, repeated for several seeds (the seed sets the
training scenes, the initial weights and the batch order; the evaluation scenes are another seeded
set). A claim *reproduces* when the claimed order holds on the mean over seeds and in at least two of
three seeds; the table gives each variant's mean and standard deviation.

Claims (paper, what is compared, scenes):
- SE helps (seed 000 on SENet): FCN head on ResNet-18 vs SE-ResNet-18, default scenes.
- refine > attention-to-scale > avg/max > single scale (seed 004, Table 1): the ResNet34-dilated8-style
  model (tiny trunk) at 1x, and at (0.5x, 1x) fused by avg, max, attention-to-scale and refine-multiscale;
  scenes whose objects' radii are log-uniform over more than 8x (2.5% to 22% of the image side).
- HMSA's eval-time scales help (seed 003): HMSA trained on (0.5, 1), evaluated on (0.5, 1) and (0.5, 1, 2).
- TTA helps (seed 001 Sec. 3.5): the single-scale model with scales 0.75/1/1.25 + flip vs without.
- the dense CRF helps (seed 002): the single-scale model's logits refined by 5 mean-field iterations.
- spatial ranking or UPSNet beats heuristic fusion (seed 000, seed 002): one trained panoptic_se_r50
  (tiny trunk) fused three ways, on scenes with many overlapping objects (6 to 12 per image).

    python benchmarks/seed_claims.py                      # 3 seeds, the default budget
    python benchmarks/seed_claims.py --seeds 0 --quick    # a smoke run
    python benchmarks/seed_claims.py --probe-fusion --seeds 0 --panoptic-iters 1500   # the fusion headroom probe
    python benchmarks/seed_claims.py --probe-se                                       # SE at 1x and 5x the budget
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from segzoo.bench.accuracy import (
    NUM_CLASSES,
    PANOPTIC_HEADS,
    STUFF_AREA_FRACTION,
    Budget,
    _seresnet18,
    eval_panoptic,
    eval_semantic,
    panoptic_batches,
    semantic_batches,
    train,
)
from segzoo.bench.fingerprint import fingerprint
from segzoo.bench.report import fingerprint_lines

RESULTS = Path(__file__).resolve().parent / "results"

# claim -> (variants in the claimed order, worst first; how to read it)
CLAIMS: dict[str, tuple[list[str], str]] = {
    "SE helps (seed 000)": (["ResNet-18", "SE-ResNet-18"], "mIoU"),
    "refine > attention-to-scale > avg/max > single scale (seed 004)": (
        ["single scale", "avg/max (best)", "attention-to-scale", "refine-multiscale"], "mIoU"),
    "HMSA: adding an eval-time scale helps (seed 003)": (["hmsa eval (0.5, 1)", "hmsa eval (0.5, 1, 2)"], "mIoU"),
    "TTA helps (seed 001)": (["single scale", "TTA 0.75/1/1.25 + flip"], "mIoU"),
    "dense CRF helps (seed 002)": (["single scale", "dense CRF"], "mIoU"),
    "spatial ranking or UPSNet beats heuristic fusion (seeds 000, 002)": (
        ["heuristic", "best of spatial ranking / UPSNet"], "PQ"),
}  # fmt: skip


def semantic_data(n: int, size: int, seed: int, **scene) -> tuple[torch.Tensor, torch.Tensor]:
    from segzoo.data import SyntheticSemantic

    data = SyntheticSemantic(n, size=(size, size), seed=seed, **scene)
    samples = [data[i] for i in range(n)]
    return torch.stack([s[0] for s in samples]), torch.stack([s[1]["sem_seg"] for s in samples])


def run_seed(seed: int, args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, dict[str, float]]:
    """Every variant's metric for one seed: ``{claim: {variant: value}}``."""
    from segzoo import build
    from segzoo.crf import dense_crf
    from segzoo.fusers.panoptic import create_panoptic_fuser
    from segzoo.postprocess import TTA

    budget = Budget("claims", size=args.size, train_images=args.train_images, eval_images=args.eval_images,
                    iters=args.iters, batch=args.batch, panoptic_iters=args.panoptic_iters, panoptic_batch=2,
                    seed=seed)  # fmt: skip
    out: dict[str, dict[str, float]] = {claim: {} for claim in CLAIMS}
    sets = {size: (semantic_data(args.train_images, size, seed), semantic_data(args.eval_images, size, 1000 + seed))
            for size in {args.size, args.ms_size}}  # fmt: skip
    tr_x, tr_y, ev_x, ev_y = None, None, None, None

    def use(size: int) -> None:
        nonlocal tr_x, tr_y, ev_x, ev_y
        (tr_x, tr_y), (ev_x, ev_y) = sets[size]

    use(args.size)

    def fit(make: Callable[[], torch.nn.Module], label: str) -> torch.nn.Module:
        torch.manual_seed(seed)
        model = make()
        t0 = time.time()
        train(model, semantic_batches(model, tr_x, tr_y, budget), iters=args.iters, lr=budget.lr,
              weight_decay=budget.weight_decay)  # fmt: skip
        log(f"  seed {seed} {label}: trained in {time.time() - t0:.0f} s")
        return model

    def miou(model: torch.nn.Module, predict: Callable | None = None) -> float:
        predict = predict or (lambda x: model.semantic_logits(model.normalize(x.float() / 255)))
        return eval_semantic(predict, ev_x, ev_y)["miou"]

    if "se" in args.claims:
        claim = "SE helps (seed 000)"
        se = {"num_classes": NUM_CLASSES, "output_stride": 16, "aux": False}
        out[claim]["ResNet-18"] = miou(fit(lambda: build("fcn_r50", backbone="resnet18", **se), "fcn resnet18"))
        out[claim]["SE-ResNet-18"] = miou(fit(lambda: build("fcn_r50", backbone=_seresnet18(16), **se), "fcn seresnet18"))

    if {"multiscale", "hmsa", "tta", "crf"} & set(args.claims):
        use(args.ms_size)
        ms = {"backbone": "tiny", "num_classes": NUM_CLASSES}
        single = fit(lambda: build("msrefine_r34d8", fuser="avg", scales=(1.0,), **ms), "single scale")
        base = miou(single)
        if "multiscale" in args.claims:
            claim = "refine > attention-to-scale > avg/max > single scale (seed 004)"
            fused = {}
            for fuser in ("avg", "max", "attention_to_scale", "refine_multiscale"):
                model = fit(lambda: build("msrefine_r34d8", fuser=fuser, scales=(0.5, 1.0), **ms), fuser)
                fused[fuser] = miou(model)
            out[claim].update({"single scale": base, "avg/max (best)": max(fused["avg"], fused["max"]),
                               "attention-to-scale": fused["attention_to_scale"],
                               "refine-multiscale": fused["refine_multiscale"],
                               "avg": fused["avg"], "max": fused["max"]})  # fmt: skip
        if "hmsa" in args.claims:
            claim = "HMSA: adding an eval-time scale helps (seed 003)"
            hmsa = fit(lambda: build("msrefine_r34d8", fuser="hmsa", scales=(0.5, 1.0), **ms), "hmsa")
            out[claim]["hmsa eval (0.5, 1)"] = miou(hmsa)
            hmsa.scales = (0.5, 1.0, 2.0)
            out[claim]["hmsa eval (0.5, 1, 2)"] = miou(hmsa)
        if "tta" in args.claims:
            claim = "TTA helps (seed 001)"
            tta = TTA(single, scales=(0.75, 1.0, 1.25), flip=True)
            out[claim].update({"single scale": base,
                               "TTA 0.75/1/1.25 + flip": miou(single, lambda x: tta(single.normalize(x.float() / 255)))})
        if "crf" in args.claims:
            claim = "dense CRF helps (seed 002)"

            def refined(x: torch.Tensor) -> torch.Tensor:
                return dense_crf(single.semantic_logits(single.normalize(x.float() / 255)), x, iterations=5)

            out[claim].update({"single scale": base, "dense CRF": miou(single, refined)})

    if "fusion" in args.claims:
        claim = "spatial ranking or UPSNet beats heuristic fusion (seeds 000, 002)"
        model, data, eval_samples, options = fusion_model(seed, args, budget, log)
        pq = {}
        for fuser in ("heuristic", "spatial_ranking", "upsnet"):
            pq[fuser] = eval_panoptic(model, data, eval_samples, create_panoptic_fuser(fuser, **options))["pq"] or 0.0
        out[claim].update({"heuristic": pq["heuristic"], "best of spatial ranking / UPSNet": max(pq["spatial_ranking"], pq["upsnet"]),
                           "spatial ranking": pq["spatial_ranking"], "UPSNet": pq["upsnet"]})  # fmt: skip
    for claim, values in out.items():
        if values:
            log(f"  seed {seed} {claim}: " + ", ".join(f"{k} {v:.1f}" for k, v in values.items()))
    return out


def probe_refine(seed: int, args: argparse.Namespace, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Why refine-multiscale falls behind: the same comparison with a fuser sized to the trunk (32 channels
    instead of 256) and with twice the training budget (single scale retrained at that budget too)."""
    from segzoo import build
    from segzoo.fusers import create_fuser

    budget = Budget("probe", size=args.ms_size, train_images=args.train_images, eval_images=args.eval_images,
                    iters=args.iters, batch=args.batch, panoptic_iters=0, panoptic_batch=2, seed=seed)  # fmt: skip
    tr_x, tr_y = semantic_data(args.train_images, args.ms_size, seed)
    ev_x, ev_y = semantic_data(args.eval_images, args.ms_size, 1000 + seed)
    ms = {"backbone": "tiny", "num_classes": NUM_CLASSES}

    def refine(channels: int) -> torch.nn.Module:
        model = build("msrefine_r34d8", fuser="refine_multiscale", scales=(0.5, 1.0), **ms)
        if channels != 256:
            inner = [f.channels for f in model.model.feature_info]
            model.fuser = create_fuser("refine_multiscale", in_channels=inner, num_classes=NUM_CLASSES, dilations=(2, 12),
                                       channels=channels)  # fmt: skip
        return model

    variants = [("single scale", lambda: build("msrefine_r34d8", fuser="avg", scales=(1.0,), **ms), 1),
                ("refine-multiscale, 256 channels (the paper's)", lambda: refine(256), 1),
                ("refine-multiscale, 32 channels", lambda: refine(32), 1),
                ("single scale, 2x iterations", lambda: build("msrefine_r34d8", fuser="avg", scales=(1.0,), **ms), 2),
                ("refine-multiscale, 256 channels, 2x iterations", lambda: refine(256), 2)]  # fmt: skip
    rows = []
    for label, make, factor in variants:
        model, loss, miou, seconds = train_and_score(make, seed, budget, (tr_x, tr_y), (ev_x, ev_y), args.iters * factor)
        rows.append({"variant": label, "iters": args.iters * factor, "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
                     "final_loss": loss, "miou": miou, "train_s": seconds})  # fmt: skip
        log(f"  probe seed {seed} {label}: mIoU {miou:.1f}, final loss {loss:.3f} ({seconds:.0f} s)")
    return rows


def train_and_score(
    make, seed: int, budget: Budget, train_set, eval_set, iters: int
) -> tuple[torch.nn.Module, float, float, float]:
    """A semantic model from ``make()`` trained ``iters`` steps from ``seed``: ``(model, final loss, mIoU, seconds)``."""
    torch.manual_seed(seed)
    model = make()
    t0 = time.time()
    loss = train(model, semantic_batches(model, *train_set, budget), iters=iters, lr=budget.lr,
                 weight_decay=budget.weight_decay)  # fmt: skip
    miou = eval_semantic(lambda x: model.semantic_logits(model.normalize(x.float() / 255)), *eval_set)["miou"]
    return model, loss, miou, time.time() - t0


def probe_se(seed: int, args: argparse.Namespace, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Is SE's missing gain a budget effect? The SE claim's two models (FCN on ResNet-18 and on
    SE-ResNet-18, output stride 16, trained from scratch) at the claim's budget and at 5x its iterations."""
    from segzoo import build

    budget = Budget("probe", size=args.size, train_images=args.train_images, eval_images=args.eval_images,
                    iters=args.iters, batch=args.batch, panoptic_iters=0, panoptic_batch=2, seed=seed)  # fmt: skip
    tr_x, tr_y = semantic_data(args.train_images, args.size, seed)
    ev_x, ev_y = semantic_data(args.eval_images, args.size, 1000 + seed)
    se = {"num_classes": NUM_CLASSES, "output_stride": 16, "aux": False}
    rows = []
    for factor in (1, 5):
        for label, make in (("ResNet-18", lambda: build("fcn_r50", backbone="resnet18", **se)),
                            ("SE-ResNet-18", lambda: build("fcn_r50", backbone=_seresnet18(16), **se))):  # fmt: skip
            _, loss, miou, seconds = train_and_score(make, seed, budget, (tr_x, tr_y), (ev_x, ev_y), args.iters * factor)
            rows.append({"seed": seed, "variant": label, "iters": args.iters * factor, "final_loss": loss,
                         "miou": miou, "train_s": seconds})  # fmt: skip
            log(f"  probe seed {seed} {label} x{factor}: mIoU {miou:.1f}, final loss {loss:.3f}")
    return rows


def fusion_model(seed: int, args: argparse.Namespace, budget: Budget, log: Callable[[str], None]):
    """The fusion claim's model, trained: ``panoptic_se_r50`` (tiny trunk) on crowded scenes (6 to 12 objects);
    returns ``(model, training data, evaluation samples, the fusers' options)``."""
    from segzoo import build
    from segzoo.data import SyntheticPanoptic

    crowded = {"min_objects": 6, "max_objects": 12}
    data = SyntheticPanoptic(args.train_images, size=(args.size, args.size), seed=seed, **crowded)
    evaluation = SyntheticPanoptic(args.eval_images, size=(args.size, args.size), seed=1000 + seed, **crowded)
    eval_samples = [evaluation[i] for i in range(len(evaluation))]
    torch.manual_seed(seed)
    model = build("panoptic_se_r50", backbone="tiny", num_classes=len(data.classes), thing_ids=data.thing_ids,
                  stuff_ids=data.stuff_ids, **PANOPTIC_HEADS)  # fmt: skip
    t0 = time.time()
    train(model, panoptic_batches(model, [data[i] for i in range(len(data))], budget), iters=args.panoptic_iters,
          lr=1e-3, weight_decay=budget.weight_decay)  # fmt: skip
    log(f"  seed {seed} panoptic_se_r50: trained in {time.time() - t0:.0f} s")
    options = {"stuff_area_limit": max(1, round(STUFF_AREA_FRACTION * args.size * args.size)),
               "score_threshold": args.score_threshold}  # fmt: skip
    return model, data, eval_samples, options


def probe_fusion(seed: int, args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """Why no fusion beats the heuristic: how much any paste order could gain on these scenes.

    The fusion claim's model, trained and fused as in :func:`run_seed`, plus an oracle: OANet's fusion
    with its rank scores read from the ground truth instead of the ranking module (each detection's
    share of pixels on the visible ground-truth masks of its class: the map the module is trained to
    predict, made perfect). The oracle bounds what a better order can gain; the contested share (pixels
    covered by two or more detections above the score threshold, of those covered by one or more) and
    the overlapping pairs whose order the oracle reverses say how often the order matters at all."""
    from segzoo.fusers.panoptic import (
        SpatialRankingFuser,
        create_panoptic_fuser,
        rank_scores_from_map,
        spatial_ranking_targets,
    )

    budget = Budget("probe", size=args.size, train_images=args.train_images, eval_images=args.eval_images,
                    iters=args.iters, batch=args.batch, panoptic_iters=args.panoptic_iters, panoptic_batch=2,
                    seed=seed)  # fmt: skip
    model, data, eval_samples, options = fusion_model(seed, args, budget, log)
    counts = {"contested": 0, "covered": 0, "pairs": 0, "reversed": 0}

    class GroundTruthRanked(SpatialRankingFuser):
        targets: Any = iter(())  # the evaluation targets, in the order eval_panoptic fuses the images

        def fuse(self, sem_logits, instances, *, thing_ids, stuff_ids):
            target = next(self.targets)
            binary = instances["masks"] >= self.mask_threshold
            visible = spatial_ranking_targets(target["masks"], target["labels"], thing_ids=thing_ids)
            oracle = rank_scores_from_map(visible, binary, instances["labels"], thing_ids=thing_ids, from_logits=False)
            kept = instances["scores"] >= self.score_threshold
            cover = binary[kept].sum(0)
            counts["contested"] += int((cover >= 2).sum())
            counts["covered"] += int((cover >= 1).sum())
            flat, score, rank = binary[kept].flatten(1).float(), instances["scores"][kept], oracle[kept]
            overlap = torch.triu((flat @ flat.t()) > 0, diagonal=1)
            counts["pairs"] += int(overlap.sum())
            differs = (score[:, None] - score[None, :]) * (rank[:, None] - rank[None, :]) < 0
            counts["reversed"] += int((overlap & differs).sum())
            return super().fuse(sem_logits, {**instances, "rank_scores": oracle}, thing_ids=thing_ids, stuff_ids=stuff_ids)

    oracle = GroundTruthRanked(**options)
    oracle.targets = iter([target for _, target in eval_samples])
    pq = {}
    for name, fuser in (("heuristic", create_panoptic_fuser("heuristic", **options)),
                        ("spatial ranking (the module)", create_panoptic_fuser("spatial_ranking", **options)),
                        ("UPSNet", create_panoptic_fuser("upsnet", **options)),
                        ("spatial ranking (ground-truth rank scores)", oracle)):  # fmt: skip
        pq[name] = eval_panoptic(model, data, eval_samples, fuser)["pq"] or 0.0
        log(f"  probe seed {seed} {name}: PQ {pq[name]:.1f}")
    share = counts["contested"] / max(counts["covered"], 1)
    return {"seed": seed, "pq": pq, "contested_share": share, "overlapping_pairs": counts["pairs"],
            "pairs_reversed_by_oracle": counts["reversed"], "images": len(eval_samples)}  # fmt: skip


def verdicts(per_seed: list[dict[str, dict[str, float]]]) -> list[dict[str, Any]]:
    """Per claim: each variant's mean and spread; whether the claimed order holds on the mean and per seed."""
    rows = []
    for claim, (order, metric) in CLAIMS.items():
        runs = [seed[claim] for seed in per_seed if seed.get(claim)]
        if not runs:
            continue
        variants = list(runs[0])
        stats = {v: (statistics.mean(r[v] for r in runs), statistics.pstdev(r[v] for r in runs)) for v in variants}

        def holds(values: dict[str, float]) -> bool:
            return all(values[a] < values[b] for a, b in zip(order, order[1:]))

        seeds_holding = sum(holds(r) for r in runs)
        mean_holds = holds({v: m for v, (m, _) in stats.items()})
        reproduces = mean_holds and seeds_holding >= max(1, (2 * len(runs) + 2) // 3)
        gap = stats[order[-1]][0] - stats[order[0]][0]
        rows.append({"claim": claim, "metric": metric, "order": order, "stats": stats, "seeds": len(runs),
                     "seeds_holding": seeds_holding, "mean_holds": mean_holds, "reproduces": reproduces,
                     "best_minus_worst": gap})  # fmt: skip
    return rows


def markdown(payload: dict[str, Any]) -> str:
    a = payload["args"]
    lines = ["# Do the seeds' claims reproduce? (synthetic scenes, several seeds)", "", "```", payload["command"], "```", "",
             f"{a['size']} px scenes ({a['ms_size']} px for the multi-scale, HMSA, TTA and CRF claims), {a['train_images']} training / {a['eval_images']} evaluation images per seed, "
             f"semantic models {a['iters']} iterations x batch {a['batch']}, panoptic {a['panoptic_iters']} x 2, AdamW lr 2e-3 "
             f"(panoptic 1e-3) with poly decay; seeds {a['seeds']}; {payload['seconds'] / 60:.1f} min. Claimed order: worst "
             "first; *reproduces* = the order holds on the mean and in at least 2 of 3 seeds.", ""]  # fmt: skip
    lines += fingerprint_lines(payload["fingerprint"]) + [""]
    lines += ["| claim | variant | metric | mean | std | claimed order holds in seeds | reproduces |", "|---|---|---|---|---|---|---|"]
    for row in payload["verdicts"]:
        first = True
        for variant, (mean, std) in row["stats"].items():
            tail = (f"{row['seeds_holding']}/{row['seeds']}", "yes" if row["reproduces"] else "**no**") if first else ("", "")
            lines.append(f"| {row['claim'] if first else ''} | {variant} | {row['metric'] if first else ''} | {mean:.1f} | "
                         f"{std:.1f} | {tail[0]} | {tail[1]} |")  # fmt: skip
            first = False
    return "\n".join(lines)


def write_probe(out: Path, stem: str, lines: list[str], rows: list[dict[str, Any]]) -> int:
    """Write a probe's table (``stem.md``) and rows (``stem.json``) into ``out``, print the table; 0."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--claims", nargs="+", default=["se", "multiscale", "hmsa", "tta", "crf", "fusion"])
    parser.add_argument("--size", type=int, default=64, help="scene size of the SE and panoptic claims")
    parser.add_argument("--ms-size", type=int, default=96, help="scene size of the multi-scale, HMSA, TTA and CRF claims "
                        "(at 64 px the 0.5x stream of an output-stride-8 trunk is 4x4)")
    parser.add_argument("--train-images", type=int, default=128)
    parser.add_argument("--eval-images", type=int, default=48)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--panoptic-iters", type=int, default=300)
    parser.add_argument("--score-threshold", type=float, default=0.3, help="detection score threshold of the fusers")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 48 px, 40 iterations")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--probe-refine", action="store_true",
                        help="instead of the claims: the refine-multiscale probe (fuser size, budget) on the first seed")
    parser.add_argument("--probe-se", action="store_true",
                        help="instead of the claims: the SE comparison at the claim's budget and at 5x its iterations")
    parser.add_argument("--probe-fusion", action="store_true",
                        help="instead of the claims: how much a perfect paste order could gain (one model per seed)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.ms_size, args.train_images, args.eval_images, args.iters, args.panoptic_iters = 48, 48, 32, 8, 40, 40
    torch.set_num_threads(args.threads)
    command = "python benchmarks/seed_claims.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    start = time.time()
    if args.probe_refine:
        rows = probe_refine(args.seeds[0], args, lambda m: print(m, flush=True))
        lines = ["# Probe: why refine-multiscale falls behind on the synthetic scenes", "", "```", command.strip(), "```", "",
                 f"Seed {args.seeds[0]}, {args.ms_size} px scenes, tiny trunk, {args.train_images} training images, "
                 f"{time.time() - start:.0f} s.", "", "| variant | iterations | params (M) | final train loss | mIoU |",
                 "|---|---|---|---|---|"]  # fmt: skip
        lines += [f"| {r['variant']} | {r['iters']} | {r['params_m']:.2f} | {r['final_loss']:.3f} | {r['miou']:.1f} |" for r in rows]
        return write_probe(Path(args.out), "seed_claims_probe", lines, rows)
    if args.probe_se:
        rows = [row for seed in args.seeds for row in probe_se(seed, args, lambda m: print(m, flush=True))]
        lines = ["# Probe: does SE help with a longer budget?", "", "```", command.strip(), "```", "",
                 f"{args.size} px scenes, {args.train_images} training / {args.eval_images} evaluation images, batch "
                 f"{args.batch}, from scratch, {time.time() - start:.0f} s.", "",
                 "| seed | iterations | ResNet-18 mIoU | SE-ResNet-18 mIoU | SE - plain | final loss plain / SE |",
                 "|---|---|---|---|---|---|"]  # fmt: skip
        pairs = {}
        for r in rows:
            pairs.setdefault((r["seed"], r["iters"]), {})[r["variant"]] = r
        for (seed, iters), pair in sorted(pairs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            plain, se = pair["ResNet-18"], pair["SE-ResNet-18"]
            lines.append(f"| {seed} | {iters} | {plain['miou']:.1f} | {se['miou']:.1f} | {se['miou'] - plain['miou']:+.1f} | "
                         f"{plain['final_loss']:.3f} / {se['final_loss']:.3f} |")  # fmt: skip
        return write_probe(Path(args.out), "seed_claims_se_probe", lines, rows)
    if args.probe_fusion:
        rows = [probe_fusion(seed, args, lambda m: print(m, flush=True)) for seed in args.seeds]
        names = list(rows[0]["pq"])
        lines = ["# Probe: how much could a better paste order gain on the fusion claim's scenes?", "", "```",
                 command.strip(), "```", "",
                 f"{args.size} px scenes with 6-12 objects, tiny trunk, {args.train_images} training images, "
                 f"{args.panoptic_iters} iterations, {args.eval_images} evaluation images, {time.time() - start:.0f} s. "
                 "Contested: pixels under two or more detections above the score threshold, of the pixels under one "
                 "or more. Reversed: overlapping detection pairs the ground-truth order pastes the other way round.",
                 "", "| seed | " + " | ".join(f"PQ {n}" for n in names) + " | contested | overlapping pairs | reversed |",
                 "|---" * (len(names) + 4) + "|"]  # fmt: skip
        for r in rows:
            pqs = " | ".join(f"{r['pq'][n]:.1f}" for n in names)
            lines.append(f"| {r['seed']} | {pqs} | {100 * r['contested_share']:.1f}% | {r['overlapping_pairs']} | "
                         f"{r['pairs_reversed_by_oracle']} |")  # fmt: skip
        return write_probe(Path(args.out), "seed_claims_fusion_probe", lines, rows)
    per_seed = []
    for seed in args.seeds:
        print(f"== seed {seed}", flush=True)
        per_seed.append(run_seed(seed, args, lambda m: print(m, flush=True)))
    payload = {"command": command.strip(), "fingerprint": fingerprint(), "args": vars(args), "per_seed": per_seed,
               "verdicts": verdicts(per_seed), "seconds": time.time() - start}  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "seed_claims_quick" if args.quick else "seed_claims"
    (out / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    md = markdown(payload)
    (out / f"{name}.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
