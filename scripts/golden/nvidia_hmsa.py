"""Golden files for the NVIDIA HMSA converter: a *small* ``ocrnet.HRNet_Mscale`` (hierarchical multi-scale
attention on HRNet-OCR, Tao et al., arXiv:2005.10821) built by NVIDIA semantic-segmentation's own code,
with random weights, saved as its trainer saves checkpoints (``{"state_dict": ...}`` with DataParallel's
``module.`` prefix), and its fused prediction at scales (0.5, 1.0, 2.0) on two fixed inputs.

Plain PyTorch, but its modules import NVIDIA apex (``amp.float_function``, ``parallel.SyncBatchNorm``)
and runx at import time, and calls ``numpy.int`` (set to ``int``): apex is stubbed (``float_function`` a no-op decorator, ``SyncBatchNorm`` torch's;
neither is called in eval on a CPU), runx comes from PyPI. In a scratch virtualenv, with the
repository's source checked out at SRC::

    python -m venv /tmp/nvvenv && /tmp/nvvenv/bin/pip install torch torchvision runx numpy safetensors
    PYTHONPATH=SRC /tmp/nvvenv/bin/python scripts/golden/nvidia_hmsa.py --out tests/fixtures/nvidia_hmsa

Configuration: the repository's defaults (``ALIGN_CORNERS`` False, attention head with the inner 3x3
conv, bottleneck 256 -> 8 here) with the HRNet reduced to one block per stage, branch widths 4/8/16/32,
OCR widths 16/8 and 5 classes.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import torch
from random_weights import he_normal_with_random_norms  # next to this script
from safetensors.torch import save_file

SCALES = [0.5, 1.0, 2.0]
SIZES = [(128, 192), (64, 64)]  # every scale a multiple of 32: its HRNet interpolates odd branch sizes, segzoo's pads
STAGES = {"STAGE1": (1, [1], [8]), "STAGE2": (1, [1, 1], [4, 8]), "STAGE3": (1, [1, 1, 1], [4, 8, 16]),
          "STAGE4": (1, [1, 1, 1, 1], [4, 8, 16, 32])}  # fmt: skip
NUM_CLASSES = 5


def stub_apex() -> None:
    apex = types.ModuleType("apex")
    apex.__path__ = []
    amp = types.ModuleType("apex.amp")
    amp.float_function = lambda fn: fn
    parallel = types.ModuleType("apex.parallel")
    parallel.SyncBatchNorm = torch.nn.SyncBatchNorm
    apex.amp, apex.parallel = amp, parallel
    sys.modules.update({"apex": apex, "apex.amp": amp, "apex.parallel": parallel})


def configure():
    from config import cfg

    cfg.MODEL.BNFUNC = torch.nn.BatchNorm2d
    cfg.DATASET.NUM_CLASSES = NUM_CLASSES  # the OCR block reads the class count from here
    cfg.OPTIONS.TORCH_VERSION = 2.0  # set by its assert_and_infer_cfg (picks the resize call)
    cfg.MODEL.HRNET_CHECKPOINT = ""  # no ImageNet weights (read at import by hrnetv2)
    cfg.MODEL.N_SCALES = SCALES
    cfg.MODEL.SEGATTN_BOT_CH = 8
    cfg.MODEL.OCR.MID_CHANNELS = 16
    cfg.MODEL.OCR.KEY_CHANNELS = 8
    for stage, (modules, blocks, channels) in STAGES.items():
        cfg.MODEL.OCR_EXTRA[stage]["NUM_MODULES"] = modules
        cfg.MODEL.OCR_EXTRA[stage]["NUM_BLOCKS"] = blocks
        cfg.MODEL.OCR_EXTRA[stage]["NUM_CHANNELS"] = channels
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    stub_apex()
    import numpy as np

    np.int = int  # hrnetv2.py calls np.int (removed in numpy 1.24)
    cfg = configure()
    import tempfile

    from runx.logx import logx

    logx.initialize(logdir=tempfile.mkdtemp(), global_rank=0)  # the model logs through runx
    import network.ocrnet as ocrnet
    from utils.misc import fmt_scale

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = ocrnet.HRNet_Mscale(NUM_CLASSES, criterion=None).eval()
    he_normal_with_random_norms(model, generator)  # the repository initialises with std 0.001
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "hrnet_mscale_tiny.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 0}, path)

    fresh = ocrnet.HRNet_Mscale(NUM_CLASSES, criterion=None).eval()  # read back as its restore code does
    checkpoint = torch.load(path, map_location="cpu")
    fresh.load_state_dict({k[len("module."):]: v for k, v in checkpoint["state_dict"].items()}, strict=True)
    tensors = {}
    for i, (h, w) in enumerate(SIZES):
        x = torch.randn(1, 3, h, w, generator=generator)
        with torch.no_grad():
            out = fresh({"images": x})
        tensors[f"input{i}"], tensors[f"pred{i}"] = x, out["pred"]
        for s in (s for s in SCALES if s <= 1.0):  # each scale's own prediction at its input size (2x: too large to keep)
            tensors[f"pred{i}_{s:g}"] = out[fmt_scale("pred", s)]
        print(f"image {i}: {(h, w)}, fused {tuple(out['pred'].shape)}, {out['pred'].argmax(1).unique().numel()} labels")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(args.out / "outputs.safetensors"))
    meta = {"stages": STAGES, "ocr_mid_channels": 16, "ocr_key_channels": 8, "attention_channels": 8,
            "num_classes": NUM_CLASSES, "scales": SCALES, "align_corners": bool(cfg.MODEL.ALIGN_CORNERS),
            "generated_by": "scripts/golden/nvidia_hmsa.py"}  # fmt: skip
    (args.out / "outputs.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
