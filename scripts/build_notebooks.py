"""Write the example notebooks in ``examples/`` from the cell sources below, run them, export their figures.

    python scripts/build_notebooks.py                   # write the cells (outputs stripped)
    python scripts/build_notebooks.py --execute         # write and run them: the committed notebooks, with outputs
    python scripts/build_notebooks.py --export-images docs/images   # the figures the docs show, from the outputs

Every notebook runs top to bottom on a CPU; ``SEGZOO_SMOKE=1`` shortens training and
benchmarks (the test suite runs them that way with nbclient). ``--execute`` runs the
notebooks in ``FULL_RUN`` in full and the others in smoke mode (each notebook's first cell
says which), with Jupyter's inline figures and without the dev workspace's COCO photos
(they must not be copied into the project), so the outputs show synthetic scenes.
"""

from __future__ import annotations

import argparse
import base64
import io
import logging
import os
import time
from pathlib import Path

import nbformat

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # Jupyter's inline figures (the ipykernel default)
# executed in full by --execute (about half an hour on two busy cores); the others in smoke mode
FULL_RUN = {"01_quickstart.ipynb", "02_compose_your_own.ipynb", "03_panoptic_fusers.ipynb", "04_multiscale_attention.ipynb",
            "05_dense_crf.ipynb", "06_train_curves.ipynb", "07_benchmark.ipynb"}
FULL_RUN_NOTE = (
    "*The outputs below come from a full run on a CPU, on synthetic data (`python scripts/build_notebooks.py --execute`).*"
)
SMOKE_RUN_NOTE = (
    "*The outputs below come from a smoke run (`SEGZOO_SMOKE=1`: a few steps, tiny models) on a CPU, on synthetic data "
    "(`python scripts/build_notebooks.py --execute`); run the notebook without `SEGZOO_SMOKE` for the full version.*"
)

log = logging.getLogger("build_notebooks")

SETUP = '''import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import segzoo

torch.manual_seed(0)
SMOKE = os.environ.get("SEGZOO_SMOKE") == "1"  # shortened run (used by the test suite)
# two real COCO photos, in the dev workspace only (the committed outputs are made with SEGZOO_COCO_SAMPLE=none)
SHARED = Path(os.environ.get("SEGZOO_COCO_SAMPLE", Path.cwd().resolve().parents[1] / "shared" / "data" / "coco_panoptic_sample"))
print("segzoo", segzoo.__version__, "| smoke mode:", SMOKE, "| COCO sample images:", SHARED.is_dir())'''

# (kind, source) or ("code", source, docs image file name)
NOTEBOOKS: dict[str, list[tuple[str, ...]]] = {
    "01_quickstart.ipynb": [
        ("md", "# Quick start\nBuild a model, train it briefly on synthetic data, predict and look at the result."),
        ("code", SETUP),
        ("code", 'print(segzoo.list_models("deeplab*"))\nmodel = segzoo.build("deeplabv3p_mobilenetv2", backbone="tiny", num_classes=8)\nsegzoo.model_info("deeplabv3p_mobilenetv2")["defaults"]'),
        ("md", "Synthetic scenes: textured stuff regions and shapes (things) with occlusion; `sem_seg` holds train ids, 255 = ignore."),
        ("code", 'from segzoo.data import SyntheticSemantic\n\ndata = SyntheticSemantic(16, size=(96, 96), seed=0)\nimage, target = data[0]\nfig, ax = plt.subplots(1, 2, figsize=(6, 3))\nax[0].imshow(image.permute(1, 2, 0)); ax[1].imshow(target["sem_seg"], cmap="tab10", vmin=0, vmax=9)\nfor a in ax: a.axis("off")\nplt.show()'),
        ("code", 'opt = torch.optim.AdamW(model.parameters(), lr=3e-3)\nmodel.train()\nsteps = 5 if SMOKE else 150\nfor step in range(steps):\n    batch = [data[(4 * step + j) % len(data)] for j in range(4)]\n    x = model.normalize(torch.stack([b[0] for b in batch]).float() / 255)\n    y = torch.stack([b[1]["sem_seg"] for b in batch])\n    losses = model.losses(model(x), y)\n    opt.zero_grad(); sum(losses.values()).backward(); opt.step()\n    if step % 25 == 0 or step == steps - 1:\n        print(step, {k: round(v.item(), 3) for k, v in losses.items()})'),
        ("code", 'from segzoo.metrics import SemanticMetrics\n\nmetric = SemanticMetrics(8)\nfor i in range(8):\n    image, target = data[i]\n    metric.update(model.predict(image), target["sem_seg"])\nresult = metric.compute()\nprint(f"mIoU {100 * result.miou:.1f}  aAcc {100 * result.aacc:.1f}")'),
        ("md", "`predict` takes raw images of any size (uint8 or float, tensor, numpy or PIL) and returns label maps at their size. On the real COCO photos (when the sample folder is there) the synthetic-trained model shows what it learned: colours and textures, not COCO classes."),
        ("code", 'from PIL import Image\n\nphotos = sorted(SHARED.glob("images/*.jpg")) if SHARED.is_dir() else []\nimages = [np.asarray(Image.open(p).convert("RGB")) for p in photos] or [data[i][0].permute(1, 2, 0).numpy() for i in range(2)]\nlabels = model.predict(images)\nfig, ax = plt.subplots(len(images), 2, figsize=(7, 3 * len(images)), squeeze=False)\nfor row, (img, lab) in enumerate(zip(images, labels)):\n    ax[row, 0].imshow(img); ax[row, 1].imshow(lab, cmap="tab10", vmin=0, vmax=9)\n    assert lab.shape == img.shape[:2]\nfor a in ax.flat: a.axis("off")\nplt.show()', "quickstart_predict.png"),
    ],
    "02_compose_your_own.ipynb": [
        ("md", "# Compose your own model\nA backbone, an attention block and a head, registered as a recipe: the recipe's keyword arguments are its configuration."),
        ("code", SETUP),
        ("code", 'from torch import nn\n\nfrom segzoo.backbones import resolve_backbone\nfrom segzoo.heads import FCNHead\nfrom segzoo.layers import resolve_attention\nfrom segzoo.models import SemanticModel\n\n\nclass AttentionFCNHead(nn.Module):\n    """An attention block (by registry name) in front of an FCN head."""\n\n    def __init__(self, in_channels, *, num_classes, attention="se"):\n        super().__init__()\n        self.attention = resolve_attention(attention, in_channels)\n        self.fcn = FCNHead(in_channels, num_classes=num_classes)\n        self.classifier = self.fcn.classifier\n\n    def forward(self, features):\n        return self.fcn(features[:-1] + [self.attention(features[-1])])'),
        ("code", '@segzoo.register_model(task="semantic", paper="my experiment")\ndef my_attention_fcn(*, num_classes: int = 8, in_chans: int = 3, backbone: str = "resnet18", attention: str = "nonlocal", output_stride: int = 8):\n    """ResNet + an attention block + FCN head."""\n    encoder = resolve_backbone(backbone, output_stride=output_stride, in_chans=in_chans)\n    head = AttentionFCNHead(encoder.feature_info[-1].channels, num_classes=num_classes, attention=attention)\n    return SemanticModel(backbone=encoder, decode_head=head, num_classes=num_classes, in_chans=in_chans)\n\nprint(segzoo.list_models("my_*"))\nprint(segzoo.model_info("my_attention_fcn")["defaults"])'),
        ("code", 'model = segzoo.build("my_attention_fcn", backbone="tiny", attention="se").eval()\nprint(model(torch.randn(1, 3, 67, 71)).logits.shape)\ntry:\n    segzoo.build("my_attention_fcn", atention="se")\nexcept TypeError as err:\n    print("TypeError:", err)'),
        ("md", "What the head receives: the backbone's feature maps, high resolution first, with the channels and stride of its `feature_info` (`output_stride=8` dilates the last stages instead of striding)."),
        ("code", 'from segzoo.data import SyntheticSemantic\n\nimage, _ = SyntheticSemantic(1, size=(96, 96), seed=0)[0]\nwith torch.no_grad():\n    features = model.backbone(model.normalize(image.float()[None] / 255))\nfig, ax = plt.subplots(1, len(features) + 1, figsize=(2 * len(features) + 2, 2.2))\nax[0].imshow(image.permute(1, 2, 0)); ax[0].set_title("image", fontsize=9)\nfor a, f, info in zip(ax[1:], features, model.backbone.feature_info):\n    a.imshow(f[0].mean(0)); a.set_title(f"stride {info.stride}, {info.channels} ch", fontsize=9)\nfor a in ax: a.axis("off")\nplt.show()'),
        ("code", 'import tempfile\n\nwith tempfile.TemporaryDirectory() as tmp:\n    segzoo.save(model, tmp)\n    again = segzoo.load(tmp).eval()\n    x = torch.randn(1, 3, 64, 64)\n    print("identical after save/load:", torch.equal(model(x).logits, again(x).logits))'),
        ("md", "## Published weights from other projects\nsegzoo converts the checkpoints torchvision publishes into its recipes (`segzoo.build(\"fcn_r50.tv_coco\")` downloads and converts; see `docs/pretrained.md`). Here a randomly initialised torchvision FCN stands in for the download: saved in torchvision's file format, converted by `segzoo.build(..., weights=path)`, it computes the same logits."),
        ("code", 'import tempfile\n\nimport torchvision\n\ntorch.manual_seed(0)\nupstream = torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True).eval()\nwith tempfile.TemporaryDirectory() as tmp:\n    path = Path(tmp) / "fcn_resnet50_random.pth"\n    torch.save(upstream.state_dict(), path)  # torchvision\'s file format\n    converted = segzoo.build("fcn_r50", weights=str(path)).eval()  # layout detected from the keys\nx = torch.randn(1, 3, 96, 128)\nwith torch.no_grad():\n    a, b = upstream(x)["out"], converted(x).logits\nprint("max difference:", (a - b).abs().max().item(), "| same labels:", torch.equal(a.argmax(1), b.argmax(1)))\nprint("published tags:", segzoo.list_models(pretrained=True))'),
    ],
    "03_panoptic_fusers.ipynb": [
        ("md", "# Panoptic: one model, three fusers\n`panoptic_se_r50` (seed 000) with the tiny backbone, trained briefly on synthetic panoptic scenes, then fused by the heuristic, the spatial ranking module and UPSNet's head on the same outputs."),
        ("code", SETUP),
        ("code", 'from segzoo.data import SyntheticPanoptic\n\ndata = SyntheticPanoptic(8, size=(96, 96), seed=0)\nmodel = segzoo.build("panoptic_se_r50", backbone="tiny", num_classes=len(data.classes), thing_ids=data.thing_ids, stuff_ids=data.stuff_ids,\n                     fpn_channels=64, box_channels=128, mask_channels=64, rpn_top_n=(200, 100), detections_per_img=20)\nopt = torch.optim.AdamW(model.parameters(), lr=1e-3)\nmodel.train()\nfor step in range(3 if SMOKE else 150):\n    samples = [data[(2 * step + j) % len(data)] for j in range(2)]\n    images = [model.normalize(s[0].float()[None] / 255)[0] for s in samples]\n    targets = [s[1] for s in samples]\n    losses = model.losses(model(images, targets), targets)\n    opt.zero_grad(); sum(losses.values()).backward(); opt.step()\nprint({k: round(v.item(), 3) for k, v in losses.items()})'),
        ("code", 'from segzoo.fusers.panoptic import check_panoptic\n\nimage, target = data[1]\nmodel.eval()\nfig, ax = plt.subplots(1, 4, figsize=(12, 3))\nax[0].imshow(image.permute(1, 2, 0)); ax[0].set_title("image")\nfor a, fuser in zip(ax[1:], ["heuristic", "spatial_ranking", "upsnet"]):\n    result = model.predict(image, fuser=fuser)\n    check_panoptic(result.panoptic_seg, result.segments_info)\n    a.imshow(result.panoptic_seg, cmap="tab20", interpolation="nearest"); a.set_title(f"{fuser}: {len(result.segments_info)} segments")\nfor a in ax: a.axis("off")\nplt.show()', "panoptic_fusers.png"),
    ],
    "04_multiscale_attention.ipynb": [
        ("md", "# Multi-scale attention maps\nThe per-scale weights of hierarchical multi-scale attention (HMSA, seed 003) and of seed 004's refine-multiscale fuser, on a synthetic scene. Trained briefly; in smoke mode the maps are those of an untrained model."),
        ("code", SETUP),
        ("code", 'from segzoo.data import SyntheticSemantic\n\ndata = SyntheticSemantic(16, size=(96, 96), seed=1)\n\ndef train(model, steps):\n    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)\n    model.train()\n    for step in range(steps):\n        batch = [data[(4 * step + j) % len(data)] for j in range(4)]\n        x = model.normalize(torch.stack([b[0] for b in batch]).float() / 255)\n        y = torch.stack([b[1]["sem_seg"] for b in batch])\n        losses = model.losses(model(x), y)\n        opt.zero_grad(); sum(losses.values()).backward(); opt.step()\n    return model.eval()\n\nsteps = 3 if SMOKE else 80\nhmsa = train(segzoo.build("hmsa_deeplabv3p_mobilenetv2", backbone="tiny", num_classes=8), steps)\nrefine = train(segzoo.build("msrefine_r34d8", backbone="tiny", num_classes=8), steps)'),
        ("code", 'image, _ = data[3]\nx = hmsa.normalize(image.float()[None] / 255)\nwith torch.no_grad():\n    fused_h, streams_h = hmsa.fuse(x, scales=(0.5, 1.0, 2.0))  # trained on (0.5, 1.0), run on three scales\n    fused_r, streams_r = refine.fuse(x)\nw_h, w_r = fused_h.attention["scale_weights"][0], fused_r.attention["scale_weights"][0]\nprint("HMSA weights sum to 1:", torch.allclose(w_h.sum(0), torch.ones_like(w_h[0])))\nfig, ax = plt.subplots(1, 6, figsize=(15, 2.6))\nax[0].imshow(image.permute(1, 2, 0)); ax[0].set_title("image")\nfor i, s in enumerate((0.5, 1.0, 2.0)):\n    ax[1 + i].imshow(w_h[i], vmin=0, vmax=1); ax[1 + i].set_title(f"HMSA weight {s}x")\nfor i, s in enumerate((0.5, 1.0)):\n    ax[4 + i].imshow(w_r[i], vmin=0, vmax=1); ax[4 + i].set_title(f"refine location {s}x")\nfor a in ax: a.axis("off")\nplt.show()'),
    ],
    "05_dense_crf.ipynb": [
        ("md", "# Dense CRF: before and after\nA coarse, blocky labelling snapped to the image's edges by `segzoo.postprocess.crf.dense_crf` (Krahenbuhl & Koltun's fully connected CRF, permutohedral lattice, pure PyTorch), on a real COCO photo when the sample folder is there and on a synthetic scene otherwise; with timings of the exact lattice filter and the faster local-window approximation."),
        ("code", SETUP),
        ("code", 'import time\n\nfrom PIL import Image\n\nfrom segzoo.data import SyntheticSemantic\nfrom segzoo.postprocess.crf import dense_crf\n\nphotos = sorted(SHARED.glob("images/*.jpg")) if SHARED.is_dir() else []\nif photos:\n    photo = Image.open(photos[0]).convert("RGB")\n    if SMOKE:\n        photo = photo.resize((photo.width // 3, photo.height // 3))\n    image = torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1)  # (3, H, W) uint8\n    truth = None\nelse:\n    image, target = SyntheticSemantic(1, size=(96, 128), seed=2)[0]\n    truth = target["sem_seg"]\nprint("image", tuple(image.shape), image.dtype)'),
        ("md", "The coarse labelling: colour clusters (k-means) computed on an image 8x smaller and blown back up, so every edge is off by up to 8 pixels, with 70% confidence on the chosen label. On the synthetic scene the ground truth is degraded the same way instead."),
        ("code", 'def kmeans_labels(small, k=6, iters=10):\n    x = small.flatten(1).T.float()  # (N, 3)\n    centres = x[torch.linspace(0, len(x) - 1, k).long()]\n    for _ in range(iters):\n        assign = torch.cdist(x, centres).argmin(1)\n        centres = torch.stack([x[assign == j].mean(0) if (assign == j).any() else centres[j] for j in range(k)])\n    return assign.reshape(small.shape[1:])\n\nh, w = image.shape[1:]\nsmall_size = (max(1, h // 8), max(1, w // 8))\nif truth is None:\n    small = torch.nn.functional.interpolate(image[None].float(), size=small_size, mode="area")[0]\n    coarse_small = kmeans_labels(small)\nelse:\n    coarse_small = torch.nn.functional.interpolate(truth[None, None].float(), size=small_size, mode="nearest")[0, 0].long()\n    coarse_small[coarse_small == 255] = 0\ncoarse = torch.nn.functional.interpolate(coarse_small[None, None].float(), size=(h, w), mode="nearest")[0, 0].long()\nnum_labels = int(coarse.max()) + 1\nunary = torch.full((num_labels, h, w), 0.3 / max(num_labels - 1, 1))\nunary.scatter_(0, coarse[None], 0.7)\nprint(num_labels, "labels")'),
        ("code", 'def timed(fn, repeats=1 if SMOKE else 3):\n    fn()  # the first call builds and caches the position lattice for this size\n    start = time.perf_counter()\n    for _ in range(repeats):\n        out = fn()\n    return out, (time.perf_counter() - start) / repeats\n\nexact, t_exact = timed(lambda: dense_crf(unary[None], image[None], input="probs", iterations=5)[0])\nlocal, t_local = timed(lambda: dense_crf(unary[None], image[None], input="probs", iterations=5, method="local", window=11, blur=4)[0])\nrefined, refined_local = exact.argmax(0), local.argmax(0)\nprint(f"permutohedral lattice: {1000 * t_exact:.0f} ms   local 11x11 window: {1000 * t_local:.0f} ms")\nprint(f"pixels changed by the CRF: {100 * (refined != coarse).float().mean():.1f}%; local window agrees with the lattice on {100 * (refined_local == refined).float().mean():.1f}%")\nif truth is not None:\n    valid = truth != 255\n    for name, labels in (("coarse", coarse), ("CRF", refined)):\n        print(f"{name:>7}: pixel accuracy {100 * (labels == truth)[valid].float().mean():.1f}%")'),
        ("code", 'fig, ax = plt.subplots(1, 4, figsize=(14, 3.4))\nax[0].imshow(image.permute(1, 2, 0)); ax[0].set_title("image")\nfor a, labels, title in zip(ax[1:], (coarse, refined, refined_local), ("coarse labels", "dense CRF (lattice)", "dense CRF (local window)")):\n    a.imshow(image.permute(1, 2, 0)); a.imshow(labels, cmap="tab10", alpha=0.55, vmin=0, vmax=9, interpolation="nearest"); a.set_title(title)\nfor a in ax: a.axis("off")\nplt.show()', "crf_before_after.png"),
        ("md", "The same CRF runs inside panoptic models: `segzoo.build(\"panoptic_cascade_x101_dcn\")` refines its segments with `refine_panoptic` in `predict` (seed 002), and any panoptic model takes `predict(images, crf=True)`. See `docs/crf.md` for the parity with pydensecrf and the speed table."),
    ],
    "06_train_curves.ipynb": [
        ("md", "# Train on synthetic data and plot the curves\n`segzoo.engine.Trainer` on the synthetic semantic scenes for a couple of minutes (a few steps in smoke mode): AdamW with poly decay and warm-up, evaluation every N iterations, checkpoints, and a `metrics.jsonl` log that this notebook plots."),
        ("code", SETUP),
        ("code", 'import json\nimport tempfile\n\nfrom segzoo.data import SyntheticSemantic\nfrom segzoo.engine import Trainer, TrainConfig\n\ntrain_data = SyntheticSemantic(64, size=(64, 64), seed=0)\nval_data = SyntheticSemantic(16, size=(64, 64), seed=1000)  # other scenes\nmodel = segzoo.build("deeplabv3p_mobilenetv2", backbone="tiny", num_classes=len(train_data.classes))\niters = 6 if SMOKE else 400\nconfig = TrainConfig(max_iters=iters, batch_size=8, optimizer="adamw", lr=3e-3, weight_decay=1e-4, warmup_iters=min(20, iters // 3),\n                     eval_every=max(2, iters // 8), checkpoint_every=iters, progress=False, seed=0)\nout_dir = Path(tempfile.mkdtemp(prefix="segzoo-train-"))\nresult = Trainer(model, train_data, val_data=val_data, out_dir=out_dir, config=config).fit()\nprint("steps:", result.step, "| best", result.best_metric, round(result.best_value, 4), "at step", result.best_step)\nprint(sorted(p.name for p in out_dir.iterdir()))'),
        ("code", 'records = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]\ntrain = [r for r in records if r["type"] == "train"]\nevals = [r for r in records if r["type"] == "eval"]\nloss_keys = [k for k in train[0] if k.startswith("loss")] or ["total"]\nfig, ax = plt.subplots(1, 3, figsize=(14, 3.2))\nfor k in loss_keys:\n    ax[0].plot([r["step"] for r in train], [r[k] for r in train], label=k)\nax[0].set_xlabel("iteration"); ax[0].set_title("training losses"); ax[0].legend()\nax[1].plot([r["step"] for r in train], [r["lr"] for r in train]); ax[1].set_title("learning rate (warm-up + poly)"); ax[1].set_xlabel("iteration")\nfor k in ("mIoU", "aAcc"):\n    ax[2].plot([r["step"] for r in evals], [r[k] for r in evals], marker="o", label=k)\nax[2].set_title("validation"); ax[2].set_xlabel("iteration"); ax[2].legend()\nplt.show()\nprint("last evaluation:", {k: round(evals[-1][k], 3) for k in ("mIoU", "aAcc")})', "training_curves.png"),
        ("md", "The best checkpoint is a normal segzoo weights folder: `segzoo.load` rebuilds the model from it, and `fit(resume=True)` continues a run bit for bit. The command line does the same: `segzoo train --model deeplabv3p_mobilenetv2 --data synthetic --set backbone=tiny --iters 400 --out runs/demo`."),
        ("code", 'best = segzoo.load(out_dir / "best").eval()\nimage, target = val_data[0]\nlabels = best.predict(image)\nfig, ax = plt.subplots(1, 3, figsize=(9, 3))\nfor a, im, title in zip(ax, (image.permute(1, 2, 0), target["sem_seg"], labels), ("image", "ground truth", "prediction")):\n    a.imshow(im, cmap="tab10", vmin=0, vmax=9, interpolation="nearest") if im.dim() == 2 else a.imshow(im); a.set_title(title); a.axis("off")\nplt.show()'),
    ],
    "07_benchmark.ipynb": [
        ("md", "# Benchmark runner\n`segzoo.bench` (the code behind `segzoo bench`): latency, throughput, FLOPs, memory and the fraction of this machine's GEMM peak, for recipes of your choice, through the fast inference path `segzoo.optimize`. Smoke mode times tiny variants at 64x64; the full run times the real recipes at 256x256."),
        ("code", SETUP),
        ("code", 'from segzoo.bench import BenchConfig, run_benchmark\nfrom segzoo.bench.report import markdown_table\n\nif SMOKE:\n    config = BenchConfig(models=["fcn_r50", "deeplabv3p_mobilenetv2", "pspnet_r50"], sizes=[(64, 64)], warmup=1, iters=2,\n                         overrides={"backbone": "tiny"}, num_classes=8, threads=1, gemm_size=256)\nelse:\n    config = BenchConfig(models=["fcn_r50", "deeplabv3_r50", "deeplabv3p_mobilenetv2", "pspnet_r50", "ocrnet_hrnet_w18"],\n                         sizes=[(256, 256)], warmup=1, iters=3)\nresult = run_benchmark(config, progress=False, command="notebook 07")\nprint(markdown_table(result.rows))'),
        ("code", 'rows = [r for r in result.rows if not r.get("error")]\nfig, ax = plt.subplots(1, 2, figsize=(12, 3.8))\nfor r in rows:\n    ax[0].scatter(r["params_m"], r["latency_mean_ms"]); ax[0].annotate(r["model"], (r["params_m"], r["latency_mean_ms"]), fontsize=8)\n    ax[1].scatter(r["gflops"], r["latency_mean_ms"]); ax[1].annotate(r["model"], (r["gflops"], r["latency_mean_ms"]), fontsize=8)\nax[0].set_xlabel("parameters (M)"); ax[1].set_xlabel("GFLOPs (FLOPs, not MACs)")\nfor a in ax: a.set_ylabel("latency (ms)"); a.grid(alpha=0.3)\nplt.show()\nprint("GEMM peak of this machine:", round(rows[0]["gemm_peak_gflops_s"], 1), "GFLOP/s")\nfor r in rows:\n    print(f"{r[\'model\']:<26} {r[\'achieved_gflops_s\']:7.1f} GFLOP/s = {100 * r[\'peak_fraction\']:5.1f}% of peak, argmax agreement with fp32 eager {100 * r[\'agreement\']:.2f}%")', "benchmark_latency.png"),
        ("md", "The committed results of the default command on the project's benchmark machine (`segzoo bench`, 512x512) are in `benchmarks/results/`; `docs/benchmarks.md` explains every column and the peer comparison with torchvision and segmentation_models_pytorch."),
        ("code", 'committed = Path.cwd().resolve().parent / "benchmarks" / "results" / "bench_default.md"\nprint(committed.read_text() if committed.is_file() else "(not in this checkout)")'),
    ],
}


def _cell(kind: str, source: str, image: str | None = None):
    if kind == "md":
        return nbformat.v4.new_markdown_cell(source)
    cell = nbformat.v4.new_code_cell(source)
    if image is not None:  # the figure this cell shows goes to the docs as docs/images/<image>
        cell.metadata["docs_image"] = image
    return cell


def notebook(name: str) -> nbformat.NotebookNode:
    """The notebook's cells (no outputs); the first markdown cell says how the committed outputs were made."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [_cell(*spec) for spec in NOTEBOOKS[name]]
    nb.cells[0].source += "\n\n" + (FULL_RUN_NOTE if name in FULL_RUN else SMOKE_RUN_NOTE)
    for i, cell in enumerate(nb.cells):  # stable ids: rebuilding changes nothing that didn't change
        cell["id"] = f"cell-{i:02d}"
    return nb


def build(names: list[str]) -> None:
    """Write the notebooks without outputs."""
    EXAMPLES.mkdir(exist_ok=True)
    for name in names:
        nbformat.write(notebook(name), EXAMPLES / name)


def _palette_png(data: str) -> str:
    """The base64 PNG re-encoded with a 256-colour palette: half the bytes or less, the same look for these figures."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB").quantize(256).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def execute(names: list[str], *, timeout: int = 3600) -> None:
    """Run the notebooks in ``examples/`` (as their first cell says: full or smoke run) and keep their outputs."""
    import nbclient

    for name in names:
        path = EXAMPLES / name
        nb = nbformat.read(path, as_version=4)
        smoke = "0" if name in FULL_RUN else "1"
        env = {**os.environ, "MPLBACKEND": INLINE_BACKEND, "SEGZOO_COCO_SAMPLE": "none", "SEGZOO_SMOKE": smoke}
        start = time.perf_counter()
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                                         resources={"metadata": {"path": str(EXAMPLES)}})  # fmt: skip
        client.execute(env=env)  # the kernel's environment
        images = 0
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                if "image/png" in output.get("data", {}):
                    output.data["image/png"] = _palette_png(output.data["image/png"])
                    images += 1
        nbformat.write(nb, path)
        log.info("%s: %.0f s, %d images, %.0f KB", name, time.perf_counter() - start, images, path.stat().st_size / 1024)


def export_images(out_dir: Path) -> list[Path]:
    """Write the figure of every cell marked ``docs_image`` in the executed notebooks to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in NOTEBOOKS:
        nb = nbformat.read(EXAMPLES / name, as_version=4)
        for cell in nb.cells:
            image = cell.metadata.get("docs_image")
            if image is None:
                continue
            pngs = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
            if not pngs:
                raise RuntimeError(f"{name} {cell.id} has no figure output: run this script with --execute first.")
            path = out_dir / image
            path.write_bytes(base64.b64decode(pngs[-1]))
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebook file names (default: all)")
    parser.add_argument("--execute", action="store_true", help="run the notebooks and keep their outputs")
    parser.add_argument("--export-images", type=Path, metavar="DIR", help="write the docs figures to DIR")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    unknown = sorted(set(args.names) - set(NOTEBOOKS))
    if unknown:
        parser.error(f"unknown notebooks {unknown}; choose from {sorted(NOTEBOOKS)}")
    names = args.names or list(NOTEBOOKS)
    if args.export_images is None or args.execute:
        build(names)
    if args.execute:
        execute(names)
    if args.export_images is not None:
        for path in export_images(args.export_images):
            log.info("%s: %.0f KB", path, path.stat().st_size / 1024)


if __name__ == "__main__":
    main()
