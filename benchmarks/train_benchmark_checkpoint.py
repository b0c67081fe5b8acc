"""Train a semantic recipe with its real trunk on the synthetic scenes: a *trained* network for the
precision and speed benchmarks (random weights give near-tie logits that say nothing about how a
reduced precision treats a real model).

The recipe is built at its default size (e.g. ``fcn_r50``: dilated ResNet-50, output stride 8) with
8 classes, from scratch (no ImageNet weights offline), and trained with the synthetic accuracy
benchmark's loop (AdamW 2e-3, poly decay, random flips; ``segzoo.bench.accuracy.train``) on
``SyntheticSemantic`` scenes. The result is written with ``segzoo.save`` to
``benchmarks/checkpoints/<recipe>_synthetic`` (about 140 MB for fcn_r50: not committed) with a
``train.json`` holding the command, the final loss and the held-out mIoU.

    python benchmarks/train_benchmark_checkpoint.py fcn_r50 --iters 300 --size 128
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

import segzoo
from segzoo.bench.accuracy import Budget, eval_semantic, semantic_batches, train
from segzoo.data import SyntheticSemantic

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
NUM_CLASSES = 8


def scenes(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = SyntheticSemantic(n, size=(size, size), seed=seed)
    samples = [data[i] for i in range(n)]
    return torch.stack([s[0] for s in samples]), torch.stack([s[1]["sem_seg"] for s in samples])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a semantic recipe, e.g. fcn_r50 or deeplabv3_r50")
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--train-images", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help=f"default: {CHECKPOINTS}/<model>_synthetic")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = args.out or CHECKPOINTS / f"{args.model}_synthetic"
    budget = Budget("checkpoint", size=args.size, train_images=args.train_images, eval_images=32, iters=args.iters,
                    batch=args.batch, panoptic_iters=0, panoptic_batch=1)  # fmt: skip
    torch.manual_seed(budget.seed)
    model = segzoo.build(args.model, num_classes=NUM_CLASSES)
    images, labels = scenes(budget.train_images, budget.size, seed=0)
    start = time.perf_counter()
    loss = train(model, semantic_batches(model, images, labels, budget), iters=budget.iters, lr=budget.lr,
                 weight_decay=budget.weight_decay)  # fmt: skip
    seconds = time.perf_counter() - start
    test_images, test_labels = scenes(budget.eval_images, budget.size, seed=1)
    with torch.no_grad():
        metrics = eval_semantic(lambda x: model.semantic_logits(model.normalize(x.float() / 255)), test_images, test_labels)
    segzoo.save(model, out)
    record = {
        "command": "python benchmarks/train_benchmark_checkpoint.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv)),
        "model": args.model, "iters": budget.iters, "size": budget.size, "batch": budget.batch,
        "final_loss": loss, "train_seconds": round(seconds, 1), "heldout": metrics,
    }  # fmt: skip
    (out / "train.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
