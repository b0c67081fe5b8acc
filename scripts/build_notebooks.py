"""Write the example notebooks in ``examples/`` from the cell sources below (outputs stripped).

    python scripts/build_notebooks.py

Every notebook runs top to bottom on a CPU; ``SEGZOO_SMOKE=1`` shortens training and
benchmarks (the test suite runs them that way with nbclient).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

SETUP = '''import os
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

import segzoo

torch.manual_seed(0)
SMOKE = os.environ.get("SEGZOO_SMOKE") == "1"  # shortened run (used by the test suite)
SHARED = Path.cwd().resolve().parents[1] / "shared" / "data" / "coco_panoptic_sample"  # present in the dev workspace only
print("segzoo", segzoo.__version__, "| smoke mode:", SMOKE, "| COCO sample images:", SHARED.is_dir())'''

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "01_quickstart.ipynb": [
        ("md", "# Quick start\nBuild a model, train it briefly on synthetic data, predict and look at the result."),
        ("code", SETUP),
        ("code", 'print(segzoo.list_models("deeplab*"))\nmodel = segzoo.build("deeplabv3p_mobilenetv2", backbone="tiny", num_classes=8)\nsegzoo.model_info("deeplabv3p_mobilenetv2")["defaults"]'),
        ("md", "Synthetic scenes: textured stuff regions and shapes (things) with occlusion; `sem_seg` holds train ids, 255 = ignore."),
        ("code", 'from segzoo.data import SyntheticSemantic\n\ndata = SyntheticSemantic(16, size=(96, 96), seed=0)\nimage, target = data[0]\nfig, ax = plt.subplots(1, 2, figsize=(6, 3))\nax[0].imshow(image.permute(1, 2, 0)); ax[1].imshow(target["sem_seg"], cmap="tab10", vmin=0, vmax=9)\nfor a in ax: a.axis("off")'),
        ("code", 'opt = torch.optim.AdamW(model.parameters(), lr=3e-3)\nmodel.train()\nsteps = 5 if SMOKE else 150\nfor step in range(steps):\n    batch = [data[(4 * step + j) % len(data)] for j in range(4)]\n    x = model.normalize(torch.stack([b[0] for b in batch]).float() / 255)\n    y = torch.stack([b[1]["sem_seg"] for b in batch])\n    losses = model.loss(model.forward_train(x), y)\n    opt.zero_grad(); sum(losses.values()).backward(); opt.step()\n    if step % 25 == 0 or step == steps - 1:\n        print(step, {k: round(float(v), 3) for k, v in losses.items()})'),
        ("code", 'from segzoo.metrics import SemanticMetrics\n\nmetric = SemanticMetrics(8)\nfor i in range(8):\n    image, target = data[i]\n    metric.update(model.predict(image), target["sem_seg"])\nresult = metric.compute()\nprint(f"mIoU {100 * result.miou:.1f}  aAcc {100 * result.aacc:.1f}")'),
        ("md", "`predict` takes raw images of any size (uint8 or float, tensor, numpy or PIL) and returns label maps at their size. On the real COCO photos (when the sample folder is there) the synthetic-trained model shows what it learned: colours and textures, not COCO classes."),
        ("code", 'from PIL import Image\n\nphotos = sorted(SHARED.glob("images/*.jpg")) if SHARED.is_dir() else []\nimages = [np.asarray(Image.open(p).convert("RGB")) for p in photos] or [data[i][0].permute(1, 2, 0).numpy() for i in range(2)]\nlabels = model.predict(images)\nfig, ax = plt.subplots(len(images), 2, figsize=(7, 3 * len(images)), squeeze=False)\nfor row, (img, lab) in enumerate(zip(images, labels)):\n    ax[row, 0].imshow(img); ax[row, 1].imshow(lab, cmap="tab10", vmin=0, vmax=9)\n    assert lab.shape == img.shape[:2]\nfor a in ax.flat: a.axis("off")'),
    ],
    "02_compose_your_own.ipynb": [
        ("md", "# Compose your own model\nA backbone, an attention block and a head, registered as a recipe: the recipe's keyword arguments are its configuration."),
        ("code", SETUP),
        ("code", 'from torch import nn\n\nfrom segzoo.backbones import resolve_backbone\nfrom segzoo.heads import FCNHead\nfrom segzoo.layers import resolve_attention\nfrom segzoo.models import SemanticModel\n\n\nclass AttentionFCNHead(nn.Module):\n    """An attention block (by registry name) in front of an FCN head."""\n\n    def __init__(self, in_channels, *, num_classes, attention="se"):\n        super().__init__()\n        self.attention = resolve_attention(attention, in_channels)\n        self.fcn = FCNHead(in_channels, num_classes=num_classes)\n        self.classifier = self.fcn.classifier\n\n    def forward(self, features):\n        return self.fcn(features[:-1] + [self.attention(features[-1])])'),
        ("code", '@segzoo.register_model(task="semantic", paper="my experiment")\ndef my_attention_fcn(*, num_classes: int = 8, in_chans: int = 3, backbone: str = "resnet18", attention: str = "nonlocal", output_stride: int = 8):\n    """ResNet + an attention block + FCN head."""\n    encoder = resolve_backbone(backbone, output_stride=output_stride, in_chans=in_chans)\n    head = AttentionFCNHead(encoder.feature_info[-1].channels, num_classes=num_classes, attention=attention)\n    return SemanticModel(backbone=encoder, decode_head=head, num_classes=num_classes, in_chans=in_chans)\n\nprint(segzoo.list_models("my_*"))\nprint(segzoo.model_info("my_attention_fcn")["defaults"])'),
        ("code", 'model = segzoo.build("my_attention_fcn", backbone="tiny", attention="se").eval()\nprint(model(torch.randn(1, 3, 67, 71)).shape)\ntry:\n    segzoo.build("my_attention_fcn", atention="se")\nexcept TypeError as err:\n    print("TypeError:", err)'),
        ("code", 'import tempfile\n\nwith tempfile.TemporaryDirectory() as tmp:\n    segzoo.save(model, tmp)\n    again = segzoo.load(tmp).eval()\n    x = torch.randn(1, 3, 64, 64)\n    print("identical after save/load:", torch.equal(model(x), again(x)))'),
    ],
    "03_panoptic_fusers.ipynb": [
        ("md", "# Panoptic: one model, three fusers\n`panoptic_se_r50` (seed 000) with the tiny backbone, trained briefly on synthetic panoptic scenes, then fused by the heuristic, the spatial ranking module and UPSNet's head on the same outputs."),
        ("code", SETUP),
        ("code", 'from segzoo.data import SyntheticPanoptic\n\ndata = SyntheticPanoptic(8, size=(96, 96), seed=0)\nmodel = segzoo.build("panoptic_se_r50", backbone="tiny", num_classes=len(data.classes), thing_ids=data.thing_ids, stuff_ids=data.stuff_ids,\n                     fpn_channels=64, box_channels=128, mask_channels=64, rpn_top_n=(200, 100), detections_per_img=20)\nopt = torch.optim.AdamW(model.parameters(), lr=1e-3)\nmodel.train()\nfor step in range(3 if SMOKE else 150):\n    samples = [data[(2 * step + j) % len(data)] for j in range(2)]\n    images = [model.normalize(s[0].float()[None] / 255)[0] for s in samples]\n    losses = model(images, [s[1] for s in samples])\n    opt.zero_grad(); sum(losses.values()).backward(); opt.step()\nprint({k: round(float(v), 3) for k, v in losses.items()})'),
        ("code", 'from segzoo.fusers.panoptic import check_panoptic\n\nimage, target = data[1]\nmodel.eval()\nfig, ax = plt.subplots(1, 4, figsize=(12, 3))\nax[0].imshow(image.permute(1, 2, 0)); ax[0].set_title("image")\nfor a, fuser in zip(ax[1:], ["heuristic", "spatial_ranking", "upsnet"]):\n    result = model.predict(image, fuser=fuser)\n    check_panoptic(result.panoptic_seg, result.segments_info)\n    a.imshow(result.panoptic_seg, cmap="tab20", interpolation="nearest"); a.set_title(f"{fuser}: {len(result.segments_info)} segments")\nfor a in ax: a.axis("off")'),
    ],
    "04_multiscale_attention.ipynb": [
        ("md", "# Multi-scale attention maps\nThe per-scale weights of hierarchical multi-scale attention (HMSA, seed 003) and of seed 004's refine-multiscale fuser, on a synthetic scene. Trained briefly; in smoke mode the maps are those of an untrained model."),
        ("code", SETUP),
        ("code", 'from segzoo.data import SyntheticSemantic\n\ndata = SyntheticSemantic(16, size=(96, 96), seed=1)\n\ndef train(model, steps):\n    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)\n    model.train()\n    for step in range(steps):\n        batch = [data[(4 * step + j) % len(data)] for j in range(4)]\n        x = model.normalize(torch.stack([b[0] for b in batch]).float() / 255)\n        y = torch.stack([b[1]["sem_seg"] for b in batch])\n        losses = model.loss(model.forward_train(x), y)\n        opt.zero_grad(); sum(losses.values()).backward(); opt.step()\n    return model.eval()\n\nsteps = 3 if SMOKE else 80\nhmsa = train(segzoo.build("hmsa_deeplabv3p_mobilenetv2", backbone="tiny", num_classes=8), steps)\nrefine = train(segzoo.build("msrefine_r34d8", backbone="tiny", num_classes=8), steps)'),
        ("code", 'image, _ = data[3]\nx = hmsa.normalize(image.float()[None] / 255)\nwith torch.no_grad():\n    fused_h, streams_h = hmsa.fuse(x, scales=(0.5, 1.0, 2.0))  # trained on (0.5, 1.0), run on three scales\n    fused_r, streams_r = refine.fuse(x)\nw_h, w_r = fused_h.attention["scale_weights"][0], fused_r.attention["scale_weights"][0]\nprint("HMSA weights sum to 1:", torch.allclose(w_h.sum(0), torch.ones_like(w_h[0])))\nfig, ax = plt.subplots(1, 6, figsize=(15, 2.6))\nax[0].imshow(image.permute(1, 2, 0)); ax[0].set_title("image")\nfor i, s in enumerate((0.5, 1.0, 2.0)):\n    ax[1 + i].imshow(w_h[i], vmin=0, vmax=1); ax[1 + i].set_title(f"HMSA weight {s}x")\nfor i, s in enumerate((0.5, 1.0)):\n    ax[4 + i].imshow(w_r[i], vmin=0, vmax=1); ax[4 + i].set_title(f"refine location {s}x")\nfor a in ax: a.axis("off")'),
    ],
}


def build() -> None:
    EXAMPLES.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src) for kind, src in cells]
        nbformat.write(nb, EXAMPLES / name)


if __name__ == "__main__":
    build()
