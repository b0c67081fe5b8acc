"""A short training run of ``panoptic_se_r50`` (tiny backbone) on synthetic panoptic images:
the loss must fall. Prints the mean total loss per block of iterations and the PQ on the
training images before and after.

    python benchmarks/panoptic_train_demo.py [--iters 200] [--images 8]
"""

from __future__ import annotations

import argparse
import time

import torch

import segzoo
from segzoo.data import SyntheticPanoptic
from segzoo.metrics import PanopticQuality


def pq_on(model, dataset) -> float:
    metric = PanopticQuality([{"id": i, "isthing": i in dataset.thing_ids} for i in range(len(dataset.classes))])
    model.eval()
    for image, target in (dataset[i] for i in range(len(dataset))):
        pred = model.predict(image)
        gt_segments = [{"id": s["id"], "category_id": s["train_id"], "iscrowd": s.get("iscrowd", 0)} for s in target["segments_info"]]
        metric.update(pred.panoptic_seg, pred.segments_info, target["panoptic"], gt_segments)
    model.train()
    return metric.compute().all["pq"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = SyntheticPanoptic(args.images, size=(96, 96), seed=0)
    model = segzoo.build(
        "panoptic_se_r50", backbone="tiny", num_classes=len(data.classes), thing_ids=data.thing_ids, stuff_ids=data.stuff_ids,
        fpn_channels=64, box_channels=128, mask_channels=64, rpn_top_n=(200, 100), detections_per_img=20,
    ).train()  # fmt: skip
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    norm = lambda img: model.normalize(img.float()[None] / 255)[0]  # noqa: E731
    print(f"panoptic_se_r50 (tiny backbone), {args.images} synthetic 96x96 images, batch {args.batch}, AdamW 1e-3")
    print(f"PQ on the training images before: {100 * pq_on(model, data):.1f}")
    start, block = time.time(), []
    for it in range(args.iters):
        idx = [(it * args.batch + j) % len(data) for j in range(args.batch)]
        samples = [data[i] for i in idx]
        losses = model([norm(s[0]) for s in samples], [s[1] for s in samples])
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        block.append(float(total.detach()))
        if (it + 1) % max(1, args.iters // 10) == 0:
            print(f"iter {it + 1:4d}  mean total loss {sum(block) / len(block):.3f}  ({time.time() - start:.0f} s)", flush=True)
            block = []
    print(f"PQ on the training images after: {100 * pq_on(model, data):.1f}")


if __name__ == "__main__":
    main()
