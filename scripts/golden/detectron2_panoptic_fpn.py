"""Golden files for the Detectron2 Panoptic FPN converter: a *small* Panoptic FPN built by
Detectron2's own code, with random weights, saved in Detectron2's model-zoo ``.pkl`` layout,
and its outputs on two fixed images.

Detectron2 is not on the package index, so this runs outside the project, in a scratch virtualenv
where Detectron2's public source is importable (it needs torch, torchvision, fvcore, iopath,
omegaconf, hydra-core, yacs, pycocotools and matplotlib; its compiled ``_C`` ops are not needed
for this model on a CPU: RoIAlign and NMS come from torchvision)::

    git clone https://github.com/facebookresearch/detectron2 /tmp/d2src
    python -m venv /tmp/d2venv && /tmp/d2venv/bin/pip install torch torchvision fvcore 'iopath<0.1.10' \
        omegaconf hydra-core yacs termcolor tabulate cloudpickle pycocotools matplotlib
    PYTHONPATH=/tmp/d2src /tmp/d2venv/bin/python scripts/golden/detectron2_panoptic_fpn.py \
        --config /tmp/d2src/configs/COCO-PanopticSegmentation/panoptic_fpn_R_50_3x.yaml \
        --out tests/fixtures/detectron2_panoptic_fpn

The configuration is the published ``panoptic_fpn_R_50_3x`` one (MSRA ResNet-50 with the stride in
the 1x1 conv and frozen BN, FPN, RPN, ROIAlignV2 box and mask heads, GN semantic FPN head,
heuristic combination) with narrow widths and 3 thing + 3 stuff classes, so the files stay small.
Weights are Detectron2's initialisation, then the BN statistics and the predictors are redrawn
so that the outputs are not near ties (scores above the combination threshold, mask
probabilities away from 0.5, varied semantic argmax).

Writes ``model_final_tiny.pkl`` (``{"model": {name: numpy array}, "__author__": ...}``, the layout of
Detectron2's model zoo files), ``outputs.safetensors`` (the input images and every output; the
pasted masks bit-packed with ``numpy.packbits``) and
``outputs.json`` (the configuration values the test rebuilds the segzoo model with, and the
segments of each panoptic map). The pickle is written here, by Detectron2's side; segzoo reads
it with an allow-list unpickler.
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

SIZES = [(96, 128), (84, 116)]  # (h, w); the second is not a multiple of 32 (padding is exercised)


def small_config(path: str):
    from detectron2.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(path)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = 64  # timm's 7x7 stem is 64 wide
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 16
    cfg.MODEL.RESNETS.WIDTH_PER_GROUP = 4
    cfg.MODEL.FPN.OUT_CHANNELS = 32
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 32
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 16
    cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM = 32
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 3
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 4  # "things" + 3 stuff classes
    cfg.MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT = 64
    cfg.freeze()
    return cfg


def redraw(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Random non-trivial frozen-BN statistics and predictors (Detectron2 initialises the
    predictors near zero: scores near uniform, mask probabilities near 0.5)."""

    def normal(t: torch.Tensor, std: float, mean: float = 0.0) -> None:
        t.copy_(torch.randn(t.shape, generator=generator) * std + mean)

    with torch.no_grad():
        for name, module in model.named_modules():
            if type(module).__name__ == "FrozenBatchNorm2d":
                normal(module.weight, 0.1, 1.0)
                normal(module.bias, 0.1)
                normal(module.running_mean, 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) * 0.5 + 0.75)
        # Inputs are BGR 0-255 with std 1 (the published preprocessing): scale the stem and damp each
        # residual branch so that activations stay O(1) through the random network.
        model.backbone.bottom_up.stem.conv1.weight.mul_(1 / 64)
        for name, module in model.backbone.bottom_up.named_modules():
            if name.endswith("conv3"):
                normal(module.norm.weight, 0.05, 0.3)
        heads = model.roi_heads
        normal(heads.box_predictor.cls_score.weight, 0.1)
        normal(heads.box_predictor.cls_score.bias, 0.05)
        normal(heads.box_predictor.bbox_pred.weight, 0.01)
        normal(heads.mask_head.predictor.weight, 0.3)
        normal(heads.mask_head.predictor.bias, 0.5)
        normal(model.sem_seg_head.predictor.weight, 1.0)
        normal(model.sem_seg_head.predictor.bias, 0.2)
        normal(model.proposal_generator.rpn_head.objectness_logits.weight, 0.1)


def images(generator: torch.Generator) -> list[torch.Tensor]:
    """BGR uint8 images made of a few flat rectangles on a noisy background (objects to find)."""
    out = []
    for h, w in SIZES:
        image = torch.randint(0, 256, (3, h, w), generator=generator, dtype=torch.uint8)
        for _ in range(5):
            y0, x0 = (int(torch.randint(0, s - 16, (1,), generator=generator)) for s in (h, w))
            dy, dx = (int(torch.randint(12, 48, (1,), generator=generator)) for _ in range(2))
            colour = torch.randint(0, 256, (3, 1, 1), generator=generator, dtype=torch.uint8)
            image[:, y0 : y0 + dy, x0 : x0 + dx] = colour
        out.append(image)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="Detectron2's panoptic_fpn_R_50_3x.yaml")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()

    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    cfg = small_config(args.config)
    model = build_model(cfg).eval()
    redraw(model, generator)
    inputs = images(generator)

    args.out.mkdir(parents=True, exist_ok=True)
    pkl = args.out / "model_final_tiny.pkl"
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    with open(pkl, "wb") as f:
        pickle.dump({"model": state, "__author__": "Detectron2 Model Zoo"}, f)

    # Detectron2 reads the file back (its own loader, its own key checks) and computes the goldens.
    fresh = build_model(cfg).eval()
    incompatible = DetectionCheckpointer(fresh).load(str(pkl))
    assert not incompatible.get("incompatible", None) if isinstance(incompatible, dict) else True
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key

    captured = {}

    def keep_instances(module, inputs, outputs) -> None:  # returns None: the output is unchanged
        captured["instances"] = outputs[0]

    fresh.roi_heads.register_forward_hook(keep_instances)
    batched = [{"image": im.float(), "height": im.shape[1], "width": im.shape[2]} for im in inputs]
    with torch.no_grad():
        results = fresh(batched)

    tensors: dict[str, torch.Tensor] = {}
    meta: dict = {"images": []}
    for i, (image, result, raw) in enumerate(zip(inputs, results, captured["instances"])):
        inst = result["instances"]
        panoptic, segments = result["panoptic_seg"]
        tensors[f"image{i}"] = image.contiguous()
        tensors[f"sem_seg{i}"] = result["sem_seg"].contiguous()
        tensors[f"boxes{i}"] = inst.pred_boxes.tensor.contiguous()
        tensors[f"scores{i}"] = inst.scores.contiguous()
        tensors[f"classes{i}"] = inst.pred_classes.contiguous()
        masks = inst.pred_masks.numpy()  # (N, H, W) bool, packed 8 pixels per byte to keep the file small
        tensors[f"masks{i}"] = torch.from_numpy(np.packbits(masks.reshape(-1))).contiguous()
        tensors[f"mask_probs{i}"] = raw.pred_masks[:, 0].contiguous()  # (N, 28, 28) before pasting
        tensors[f"panoptic{i}"] = panoptic.contiguous()
        meta["images"].append({"segments_info": segments, "detections": len(inst)})
        print(f"image {i}: {tuple(image.shape)}, {len(inst)} detections, {len(segments)} segments "
              f"({sum(s['isthing'] for s in segments)} things)")  # fmt: skip
    meta["config"] = {
        "pixel_mean": list(cfg.MODEL.PIXEL_MEAN),
        "pixel_std": list(cfg.MODEL.PIXEL_STD),
        "num_thing_classes": cfg.MODEL.ROI_HEADS.NUM_CLASSES,
        "num_sem_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
        "stem_channels": cfg.MODEL.RESNETS.STEM_OUT_CHANNELS,
        "res2_channels": cfg.MODEL.RESNETS.RES2_OUT_CHANNELS,
        "width_per_group": cfg.MODEL.RESNETS.WIDTH_PER_GROUP,
        "depth": cfg.MODEL.RESNETS.DEPTH,
        "fpn_channels": cfg.MODEL.FPN.OUT_CHANNELS,
        "box_channels": cfg.MODEL.ROI_BOX_HEAD.FC_DIM,
        "mask_channels": cfg.MODEL.ROI_MASK_HEAD.CONV_DIM,
        "sem_channels": cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM,
        "overlap_thresh": cfg.MODEL.PANOPTIC_FPN.COMBINE.OVERLAP_THRESH,
        "stuff_area_limit": cfg.MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT,
        "instances_score_thresh": cfg.MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH,
        "score_thresh_test": cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST,
    }
    meta["generated_by"] = "scripts/golden/detectron2_panoptic_fpn.py with Detectron2 " + _version()
    save_file(tensors, str(args.out / "outputs.safetensors"))
    (args.out / "outputs.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {pkl} ({pkl.stat().st_size / 1e6:.2f} MB) and the outputs to {args.out}")


def _version() -> str:
    import detectron2

    return getattr(detectron2, "__version__", "?")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
