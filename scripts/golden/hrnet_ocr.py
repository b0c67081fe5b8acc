"""Golden files for the HRNet-OCR converter: a *small* HRNet + OCR built by HRNet-Semantic-Segmentation's
own code (branch ``HRNet-OCR``, ``lib/models/seg_hrnet_ocr.py``), with random weights, saved in the
layout its trainer writes (``FullModel.state_dict()``: ``model.*`` plus the loss's ``loss.criterion.weight``),
and its logits on two fixed inputs.

Plain PyTorch apart from its config package (yacs). In a scratch virtualenv, with the repository's
source checked out at SRC::

    python -m venv /tmp/hrvenv && /tmp/hrvenv/bin/pip install torch torchvision yacs numpy safetensors
    PYTHONPATH=SRC/lib /tmp/hrvenv/bin/python scripts/golden/hrnet_ocr.py \\
        --config SRC/experiments/cityscapes/seg_hrnet_ocr_w48_train_512x1024_sgd_lr1e-2_wd5e-4_bs_12_epoch484.yaml \\
        --out tests/fixtures/hrnet_ocr

The configuration is the Cityscapes HRNet-W48 + OCR one (``ALIGN_CORNERS: True``) with one module of
one block per stage, branch widths 4/8/16/32 (stage 1: 8 x 4), OCR widths 16/8 and 5 classes.
``numpy.int`` (gone from numpy) is set to ``int`` for the model file, which still uses it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from random_weights import he_normal_with_random_norms  # next to this script
from safetensors.torch import save_file

SIZES = [(64, 96), (96, 64)]  # multiples of 32, as the model's fuse layers expect
STAGES = {  # stage: (modules, blocks per branch, channels per branch)
    "STAGE1": (1, [1], [8]),
    "STAGE2": (1, [1, 1], [4, 8]),
    "STAGE3": (1, [1, 1, 1], [4, 8, 16]),
    "STAGE4": (1, [1, 1, 1, 1], [4, 8, 16, 32]),
}
NUM_CLASSES = 5


def small_config(path: str):
    from config import config

    config.defrost()
    config.merge_from_file(path)
    for stage, (modules, blocks, channels) in STAGES.items():
        config.MODEL.EXTRA[stage].NUM_MODULES = modules
        config.MODEL.EXTRA[stage].NUM_BLOCKS = blocks
        config.MODEL.EXTRA[stage].NUM_CHANNELS = channels
    config.MODEL.OCR.MID_CHANNELS = 16
    config.MODEL.OCR.KEY_CHANNELS = 8
    config.MODEL.PRETRAINED = ""
    config.DATASET.NUM_CLASSES = NUM_CLASSES
    config.freeze()
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    np.int = int  # the model file calls np.int (removed in numpy 1.24)
    import models.seg_hrnet_ocr as seg_hrnet_ocr

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    config = small_config(args.config)
    model = seg_hrnet_ocr.get_seg_model(config).eval()
    he_normal_with_random_norms(model, generator)  # the repository initialises with std 0.001
    state = {f"model.{k}": v for k, v in model.state_dict().items()}  # FullModel(model, loss).state_dict()
    state["loss.criterion.weight"] = torch.rand(NUM_CLASSES, generator=generator) + 0.5  # class weights of the loss
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "hrnet_ocr_tiny.pth"
    torch.save(state, path)

    fresh = seg_hrnet_ocr.get_seg_model(config).eval()  # read back the way tools/test.py does (strip "model.")
    loaded = torch.load(path, map_location="cpu")
    fresh.load_state_dict({k[6:]: v for k, v in loaded.items() if k.startswith("model.")}, strict=True)
    tensors = {}
    for i, (h, w) in enumerate(SIZES):
        x = torch.randn(1, 3, h, w, generator=generator)
        with torch.no_grad():
            aux, out = fresh(x)
            logits = torch.nn.functional.interpolate(out, size=(h, w), mode="bilinear", align_corners=config.MODEL.ALIGN_CORNERS)
        tensors.update({f"input{i}": x, f"aux{i}": aux, f"out{i}": out, f"logits{i}": logits})
        print(f"image {i}: {(h, w)}, logits {tuple(logits.shape)}, {logits.argmax(1).unique().numel()} labels")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(args.out / "outputs.safetensors"))
    meta = {"stages": STAGES, "ocr_mid_channels": 16, "ocr_key_channels": 8, "num_classes": NUM_CLASSES,
            "align_corners": config.MODEL.ALIGN_CORNERS, "generated_by": "scripts/golden/hrnet_ocr.py"}  # fmt: skip
    (args.out / "outputs.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
