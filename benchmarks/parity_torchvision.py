"""Parity of segzoo's converted torchvision weights: max output differences, same labels or not.

Builds each torchvision segmentation model with random weights (and random BatchNorm statistics),
saves it in torchvision's format, converts it into the segzoo recipe and compares both on random
images. Prints a Markdown table (the one quoted in docs/pretrained.md).

    python benchmarks/parity_torchvision.py [--size 128] [--images 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

import segzoo
from segzoo.convert.torchvision_segmentation import RECIPE_OF, random_upstream_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--images", type=int, default=2)
    args = parser.parse_args()
    print("| torchvision model | segzoo tag | max abs diff | max diff / max abs logit | same arg-max |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, recipe) in enumerate(RECIPE_OF.items()):
            upstream = random_upstream_model(name, seed=i)
            path = Path(tmp) / f"{name}.pth"
            torch.save(upstream.state_dict(), path)
            model = segzoo.build(recipe, weights=str(path)).eval()
            x = torch.randn(args.images, 3, args.size, args.size + 13, generator=torch.Generator().manual_seed(i))
            with torch.no_grad():
                a, b = upstream(x)["out"], model(x).logits
            diff = float((a - b).abs().max())
            print(f"| {name} | {recipe}.tv_coco | {diff:.2e} | {diff / float(a.abs().max()):.2e} | "
                  f"{'yes' if torch.equal(a.argmax(1), b.argmax(1)) else 'no'} |")  # fmt: skip


if __name__ == "__main__":
    main()
