"""Golden files for the MMSegmentation converters: a *small* PSPNet, FCN or DeepLabV3 R50-D8 built by
MMSegmentation's own code, with random weights, saved in MMSegmentation's checkpoint layout
(``{"meta": ..., "state_dict": ...}``), and its logits on two fixed inputs.

MMSegmentation needs mmcv, whose compiled ops can't be built here in reasonable time. The
models used (ResNetV1c, PSPHead, FCNHead, ASPPHead, DepthwiseSeparableASPPHead, DAHead, NLHead) call
none of them, so this script runs with
``mmcv-lite`` and registers a stand-in for ``mmcv._ext`` whose every function raises if called
(no op of it runs). In a scratch virtualenv::

    python -m venv /tmp/mmvenv && /tmp/mmvenv/bin/pip install torch torchvision mmengine \
        "mmcv-lite==2.1.0" mmsegmentation ftfy regex safetensors
    for m in pspnet fcn deeplabv3 danet nonlocal deeplabv3plus ocrnet; do
        /tmp/mmvenv/bin/python scripts/golden/mmseg_models.py --method $m --out tests/fixtures/mmseg_$m
    done

The configurations are MMSegmentation's ``<method>_r50-d8_4xb4-80k_ade20k-512x512`` (ResNetV1c deep
stem, dilations 1/1/2/4 with contracted first dilations, the method's head, an FCN auxiliary head
on stage 3) with narrow widths (``base_channels`` 4, stem 16, head channels 32, auxiliary channels
16), 8 classes and BN instead of SyncBN (one process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

SIZES = [(64, 80), (72, 56)]
HRNET_SIZES = [(64, 96), (96, 64)]  # HRNet: multiples of 32 (MMSegmentation's fuse resizes odd sizes, segzoo's HRNet pads)
NUM_CLASSES = 8


def stub_compiled_ops() -> None:
    """``mmcv._ext`` (the compiled ops) as a module whose functions raise when called."""
    stub = types.ModuleType("mmcv._ext")

    def missing(name: str):
        def op(*args, **kwargs):
            raise RuntimeError(f"mmcv's compiled op {name} is not built here")

        return op

    def getattr_(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return missing(name)

    stub.__getattr__ = getattr_
    sys.modules["mmcv._ext"] = stub


CONFIGS = {
    "pspnet": ("pspnet", "pspnet_r50-d8_4xb4-80k_ade20k-512x512.py"),
    "fcn": ("fcn", "fcn_r50-d8_4xb4-80k_ade20k-512x512.py"),
    "deeplabv3": ("deeplabv3", "deeplabv3_r50-d8_4xb4-80k_ade20k-512x512.py"),
    "danet": ("danet", "danet_r50-d8_4xb4-80k_ade20k-512x512.py"),
    "nonlocal": ("nonlocal_net", "nonlocal_r50-d8_4xb4-80k_ade20k-512x512.py"),
    "deeplabv3plus": ("deeplabv3plus", "deeplabv3plus_r50-d8_4xb4-80k_ade20k-512x512.py"),
    "ocrnet": ("ocrnet", "ocrnet_hr18_4xb4-80k_ade20k-512x512.py"),
}
HRNET_WIDTHS = (4, 8, 16, 32)  # OCRNet's HRNet, one block per stage
HEAD_EXTRA = {"danet": {"pam_channels": 4}, "deeplabv3plus": {"c1_in_channels": 16}}  # position attention's query/key width: channels / 8, as in the full model


def build(method: str):
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules()
    import mmseg

    folder, config = CONFIGS[method]
    cfg = Config.fromfile(os.path.join(os.path.dirname(mmseg.__file__), ".mim", "configs", folder, config))
    m = cfg.model
    m.pop("data_preprocessor", None)
    m.pop("pretrained", None)
    bn = dict(type="BN", requires_grad=True)
    if method == "ocrnet":  # a cascade of an FCN head (soft regions) and the OCR head on HRNet
        m.backbone.norm_cfg = bn
        for i, stage in enumerate(("stage1", "stage2", "stage3", "stage4")):
            widths = (8,) if i == 0 else HRNET_WIDTHS[: i + 1]
            m.backbone.extra[stage].update(num_modules=1, num_blocks=(1,) * len(widths), num_channels=widths)
        for head in m.decode_head:
            head.update(norm_cfg=bn, in_channels=list(HRNET_WIDTHS), num_classes=NUM_CLASSES)
        m.decode_head[0].channels = sum(HRNET_WIDTHS)
        m.decode_head[1].update(channels=16, ocr_channels=8)
        return MODELS.build(m).eval(), cfg
    m.backbone.update(norm_cfg=bn, base_channels=4, stem_channels=16)
    m.decode_head.update(norm_cfg=bn, in_channels=128, channels=32, num_classes=NUM_CLASSES, **HEAD_EXTRA.get(method, {}))
    m.auxiliary_head.update(norm_cfg=bn, in_channels=64, channels=16, num_classes=NUM_CLASSES)
    return MODELS.build(m).eval(), cfg


def randomise(model: torch.nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) * 0.5 + 0.75)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) * 0.5 + 0.75)
        for module in model.modules():  # attention gammas start at 0 (identity): give them a value to test
            if type(module).__name__ == "Scale":
                module.scale.copy_(torch.rand(module.scale.shape, generator=generator) + 0.5)
            if type(module).__name__ == "NonLocal2d":  # peaked affinities, so that their scaling matters
                module.theta.conv.weight.mul_(8.0)
                module.phi.conv.weight.mul_(8.0)
        heads = list(model.decode_head) if isinstance(model.decode_head, torch.nn.ModuleList) else [model.decode_head]
        for head in heads + ([model.auxiliary_head] if getattr(model, "auxiliary_head", None) is not None else []):
            # MMSegmentation's std 0.01: near-uniform logits
            head.conv_seg.weight.copy_(torch.randn(head.conv_seg.weight.shape, generator=generator) * 0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=sorted(CONFIGS), default="pspnet")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    stub_compiled_ops()
    import mmseg

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model, cfg = build(args.method)
    randomise(model, generator)
    args.out.mkdir(parents=True, exist_ok=True)
    classes = [f"class{i}" for i in range(NUM_CLASSES)]
    checkpoint = {
        "meta": {"mmseg_version": mmseg.__version__, "dataset_meta": {"classes": classes}, "config": cfg.pretty_text},
        "state_dict": model.state_dict(),
    }
    path = args.out / f"{args.method}_{'hr18' if args.method == 'ocrnet' else 'r50-d8'}_tiny.pth"
    torch.save(checkpoint, path)

    fresh, _ = build(args.method)  # MMSegmentation reads the file back with its own loader
    from mmengine.runner import load_checkpoint

    load_checkpoint(fresh, str(path), map_location="cpu", strict=True)
    fresh.eval()
    tensors = {}
    for i, (h, w) in enumerate(HRNET_SIZES if args.method == "ocrnet" else SIZES):
        x = torch.randn(1, 3, h, w, generator=generator)  # normalised RGB, what the data preprocessor outputs
        meta = [dict(img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w))]
        with torch.no_grad():
            logits = fresh.encode_decode(x, meta)  # decode head, resized to the input (align_corners=False)
            if isinstance(fresh.decode_head, torch.nn.ModuleList):  # OCRNet: the cascade's first (FCN) head
                aux = fresh.decode_head[0].forward(fresh.extract_feat(x))
            else:
                aux = fresh.auxiliary_head.forward(fresh.extract_feat(x))
        tensors[f"input{i}"], tensors[f"logits{i}"], tensors[f"aux{i}"] = x, logits, aux
        print(f"image {i}: {(h, w)}, logits {tuple(logits.shape)}, {logits.argmax(1).unique().numel()} labels")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(args.out / "outputs.safetensors"))
    (args.out / "outputs.json").write_text(json.dumps({
        "config": CONFIGS[args.method][1], "mmseg_version": mmseg.__version__, "num_classes": NUM_CLASSES,
        "base_channels": 4, "stem_channels": 16, "head_channels": 32, "aux_channels": 16,
        "generated_by": f"scripts/golden/mmseg_models.py --method {args.method}",
        **({"hrnet_widths": HRNET_WIDTHS, "ocr_channels": 16, "ocr_key_channels": 8} if args.method == "ocrnet" else {}),
    }, indent=1) + "\n")  # fmt: skip
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
