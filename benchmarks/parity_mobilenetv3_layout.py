"""Where timm's MobileNetV3-Large differs from torchvision's (Howard et al., arXiv:1905.02244), level by level.

Builds torchvision's ``mobilenet_v3_large(dilated=True)`` trunk with random weights and random
BatchNorm statistics, copies its weights (renamed by ``segzoo.convert.torchvision_mobilenet``) into
timm's ``mobilenetv3_large_100`` at output stride 16 as segzoo registers it, with torchvision's
BatchNorm eps only, and as segzoo's ``mobilenetv3_large_100_tv`` (eps and dilation placement), and
prints ``max |difference| / max |torchvision|`` of each compared level (the numbers quoted in
``docs/pretrained.md`` and ``segzoo/backbones/mobilenetv3_tv.py``).

    python benchmarks/parity_mobilenetv3_layout.py [--size 96]
"""

from __future__ import annotations

import argparse

import timm
import torch
import torchvision

from segzoo.backbones import create_backbone
from segzoo.convert.core import randomise_norm_statistics
from segzoo.convert.torchvision_mobilenet import MOBILENET_V3_LARGE_BLOCKS, mobilenet_v3_large_renames

LEVELS = (0, 1, 2, 4, 6, 7, 12, 13, 14, 15, 16)  # torchvision features indices compared


def _trunk(seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    model = randomise_norm_statistics(torchvision.models.mobilenet_v3_large(weights=None, dilated=True))
    return model.features.eval()


def _module(index: int) -> str:
    if index == 0:
        return "bn1"  # timm's stem BatchNorm carries the activation
    return "blocks.{}.{}".format(*MOBILENET_V3_LARGE_BLOCKS[index])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=96)
    args = parser.parse_args()
    trunk = _trunk()
    state = trunk.state_dict()
    renames = mobilenet_v3_large_renames(state, "")
    x = torch.randn(2, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    expected, h = {}, x
    with torch.no_grad():
        for i, layer in enumerate(trunk):
            h = layer(h)
            expected[i] = h
    timm_eps = timm.create_model("mobilenetv3_large_100", features_only=True, output_stride=16, bn_eps=1e-3)
    models = {
        "mobilenetv3_large_100 (timm as registered)": create_backbone("mobilenetv3_large_100", output_stride=16).model,
        "+ BatchNorm eps 1e-3": timm_eps,
        "mobilenetv3_large_100_tv (+ dilation placement)": create_backbone("mobilenetv3_large_100_tv", output_stride=16).model,
    }
    print("| torchvision level | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    results = {}
    for label, model in models.items():
        model.load_state_dict({renames[k]: v for k, v in state.items()}, strict=False)
        model.eval()
        outputs = {}
        hooks = [model.get_submodule(_module(i)).register_forward_hook(
            lambda mod, inp, out, i=i: outputs.__setitem__(i, out)) for i in LEVELS]  # fmt: skip
        with torch.no_grad():
            model(x)
        for hook in hooks:
            hook.remove()
        results[label] = {i: float((outputs[i] - expected[i]).abs().max() / expected[i].abs().max()) for i in LEVELS}
    for i in LEVELS:
        row = " | ".join(f"{results[label][i]:.2e}" for label in models)
        print(f"| features[{i}] ({_module(i)}) | {row} |")


if __name__ == "__main__":
    main()
