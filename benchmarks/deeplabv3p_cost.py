"""Parameters and FLOPs of DeepLabV3+ on ResNet-50 at 512 x 512: segzoo's separable head (the
paper's default), its full-conv variant, and segmentation_models_pytorch's ``DeepLabV3Plus``
(when installed) with the same trunk, output stride and classes.

    python benchmarks/deeplabv3p_cost.py [--size 512] [--classes 21]

FLOPs are counted by ``torch.utils.flop_counter`` (2 per multiply-add) on one forward pass in
eval mode; parameters include the auxiliary head only where the model has one (segzoo's
``aux=False`` here, as smp has none).
"""

from __future__ import annotations

import argparse

import torch

import segzoo
from segzoo.bench.flops import count_flops


def cost(model: torch.nn.Module, size: int) -> tuple[float, float]:
    model.eval()
    x = torch.randn(1, 3, size, size)
    return sum(p.numel() for p in model.parameters()) / 1e6, count_flops(model, x) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--classes", type=int, default=21)
    args = parser.parse_args()
    rows = [
        ("segzoo deeplabv3p_r50 (separable, default)", segzoo.build("deeplabv3p_r50", num_classes=args.classes, aux=False)),
        ("segzoo deeplabv3p_r50 separable=False", segzoo.build("deeplabv3p_r50", num_classes=args.classes, aux=False, separable=False)),
    ]
    try:
        import segmentation_models_pytorch as smp

        smp_model = smp.DeepLabV3Plus("resnet50", encoder_weights=None, encoder_output_stride=16, classes=args.classes)
        rows.append((f"smp {smp.__version__} DeepLabV3Plus(resnet50)", smp_model))
    except ImportError:
        print("segmentation_models_pytorch is not installed: its row is skipped (pip install segmentation-models-pytorch)")
    print(f"| model ({args.size} x {args.size}, {args.classes} classes) | parameters (M) | GFLOPs |")
    print("|---|---|---|")
    for name, model in rows:
        params, gflops = cost(model, args.size)
        print(f"| {name} | {params:.1f} | {gflops:.1f} |")


if __name__ == "__main__":
    main()
