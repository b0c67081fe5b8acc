"""Golden files for the UPSNet converter, made by UPSNet's own source (uber-research/UPSNet).

UPSNet (Xiong et al., arXiv:1901.03784) is PyTorch 0.4 code whose deformable convolution and
RoIAlign are CUDA extensions built with cffi; neither builds here (no GPU, no PyTorch 0.4). This
script imports UPSNet's modules unchanged and replaces only those two operators, re-expressed in
plain PyTorch from UPSNet's kernels (``operators/src/deform_conv_kernel.cu``:
``deformable_im2col_bilinear`` with offsets ``[dy, dx]`` per kernel position;
``operators/src/roi_align_kernel.cu``: Caffe2's RoIAlign, ``roi_width = max(x2 - x1, 1)`` in
feature units, 2 x 2 samples per bin, zero beyond one pixel outside the map), so the files test
segzoo's torchvision operators against UPSNet's rules rather than against themselves.

UPSNet hard-codes ResNet-50's and its FPN's input widths, so even a small configuration is a
ResNet-50 (about 30M parameters here): too large to commit. The checkpoint is therefore written
as a manifest (UPSNet's state-dict keys and shapes, read from the model it builds) plus a seed;
``tests/seeded_state.py`` turns them into the same tensors here and in the test. UPSNet's own
loader (``resnet_upsnet.load_state_dict(..., resume=True)``) reads the checkpoint before any
output is computed.

Configuration: ``upsnet_resnet50_coco_16gpu.yaml`` (COCO's layout: ``fpn_with_gap``, 3-layer
deformable FCN head, no norms) with ``fpn_feature_dim=64``, 3 thing classes (+ background) and 4
stuff classes (UPSNet's semantic order: stuff first, then things).

Run it with UPSNet's source checked out (``fetch github:uber-research/UPSNet`` and
``git archive HEAD | tar -x -C /tmp/upsrc``), in a scratch venv with torch, numpy, pyyaml,
easydict (outside the repository)::

    python scripts/golden/upsnet_coco.py --upsnet /tmp/upsrc --out tests/fixtures/upsnet

Outputs: ``manifest.json`` (keys, shapes, seed, checksums, configuration) and
``outputs.safetensors`` (the input and every dense output, the RoIs and the heads' outputs on them).
The files are outputs of UPSNet's code, under its non-commercial licence (see ``NOTICE`` there).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from seeded_state import checksums, seeded_state  # noqa: E402

SEED = 20190111
OFFSET_GAIN = 0.02  # offsets of about a pixel on these activations (see "semantic_offsets_abs_mean")
THINGS, STUFF = 3, 4
FPN_DIM = 64
IMAGE = (96, 128)
# RoIs (x1, y1, x2, y2) in input pixels whose sizes put them on each of P2-P5 by UPSNet's rule
# (floor(2 + log2(sqrt((w + 1)(h + 1)) / 224))) and torchvision's alike, away from the level edges.
ROIS = [
    (3.0, 5.0, 30.5, 41.0),
    (40.2, 10.7, 77.9, 60.1),
    (-20.0, -10.0, 120.0, 90.0),
    (10.0, 20.0, 150.0, 150.0),
    (-100.0, -120.0, 210.0, 200.0),
    (-250.0, -200.0, 350.0, 300.0),
]


def deform_conv(data, offset, weight, bias, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                deformable_groups):
    """UPSNet's deformable im2col (``deform_conv_kernel.cu``) in PyTorch: stride 1, one group."""
    assert tuple(stride) == (1, 1) and groups == 1 and deformable_groups == 1
    n, c, h, w = data.shape
    kh, kw = kernel_size
    ys = torch.arange(h, dtype=data.dtype).view(h, 1)
    xs = torch.arange(w, dtype=data.dtype).view(1, w)
    cols = []
    for i in range(kh):
        for j in range(kw):
            k = i * kw + j
            y = ys - padding[0] + i * dilation[0] + offset[:, 2 * k]  # (n, h, w)
            x = xs - padding[1] + j * dilation[1] + offset[:, 2 * k + 1]
            inside = (y > -1) & (x > -1) & (y < h) & (x < w)
            y0, x0 = torch.floor(y), torch.floor(x)
            ly, lx = y - y0, x - x0
            value = torch.zeros(n, c, h, w, dtype=data.dtype)
            for dy, dx, wgt in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx), (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
                yy, xx = (y0 + dy).long(), (x0 + dx).long()
                valid = inside & (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)
                index = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
                gathered = data.reshape(n, c, h * w).gather(2, index).view(n, c, h, w)
                value = value + gathered * (wgt * valid).unsqueeze(1)
            cols.append(value)
    col = torch.stack(cols, dim=2)  # (n, c, k, h, w): UPSNet's column order (channel, then kernel position)
    out = torch.einsum("ock,nckhw->nohw", weight.reshape(out_channels, c, kh * kw), col)
    return out + bias.view(1, -1, 1, 1) if bias is not None else out


class RoIAlignFunction:
    """UPSNet's RoIAlign (``roi_align_kernel.cu``, Caffe2's) in NumPy; a legacy-style callable as UPSNet uses it."""

    def __init__(self, pooled_height, pooled_width, spatial_scale, sampling_ratio=2):
        self.ph, self.pw, self.scale, self.ratio = int(pooled_height), int(pooled_width), float(spatial_scale), sampling_ratio

    def __call__(self, features, rois):
        feats = features.detach().double().numpy()
        _, c, h, w = feats.shape
        out = np.zeros((rois.shape[0], c, self.ph, self.pw))
        for r, roi in enumerate(rois.detach().double().numpy()):
            b = int(roi[0])
            x1, y1, x2, y2 = (float(v) * self.scale for v in roi[1:5])
            rw, rh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
            bw, bh = rw / self.pw, rh / self.ph
            gh = self.ratio if self.ratio > 0 else int(np.ceil(rh / self.ph))
            gw = self.ratio if self.ratio > 0 else int(np.ceil(rw / self.pw))
            for py in range(self.ph):
                for px in range(self.pw):
                    acc = np.zeros(c)
                    for iy in range(gh):
                        y = y1 + py * bh + (iy + 0.5) * bh / gh
                        for ix in range(gw):
                            x = x1 + px * bw + (ix + 0.5) * bw / gw
                            acc += _bilinear(feats[b], y, x, h, w)
                    out[r, :, py, px] = acc / (gh * gw)
        return torch.from_numpy(out).to(features.dtype)


def _bilinear(feat, y, x, h, w):
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return (1 - ly) * (1 - lx) * feat[:, y0, x0] + (1 - ly) * lx * feat[:, y0, x1] + ly * (1 - lx) * feat[:, y1, x0] + ly * lx * feat[:, y1, x1]


def _stub(name: str, **attrs) -> None:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module


def import_upsnet(source: Path):
    """UPSNet's model module with the two CUDA operators replaced; everything else is UPSNet's."""
    sys.path.insert(0, str(source))
    import collections
    import collections.abc

    collections.Sequence = collections.abc.Sequence  # UPSNet predates Python 3.10
    unavailable = types.SimpleNamespace()  # the cffi extensions: never called (their Python users are replaced)
    for ext in ("deform_conv", "roi_align", "roi_pooling", "mod_deform_conv", "deformable_convolution"):
        _stub(f"upsnet.operators._ext.{ext}", **{f"{ext}_cuda": unavailable})
    _stub("upsnet.nms.cpu_nms", cpu_nms=unavailable, cpu_soft_nms=unavailable)  # Cython/CUDA NMS and box overlaps:
    _stub("upsnet.nms.gpu_nms", gpu_nms=unavailable)  # used by the proposal stage only, which this script skips
    _stub("upsnet.bbox.bbox", bbox_overlaps=unavailable)
    _stub("upsnet.rpn.anchors", anchors_cython=unavailable)
    import yaml

    load = yaml.load
    yaml.load = lambda stream, Loader=yaml.SafeLoader: load(stream, Loader=Loader)  # UPSNet predates PyYAML 6
    from upsnet.config.config import config, update_config

    update_config(str(source / "upsnet/experiments/upsnet_resnet50_coco_16gpu.yaml"))
    config.train.use_horovod = False
    config.network.use_syncbn = False
    config.dataset.num_classes = THINGS + 1
    config.dataset.num_seg_classes = STUFF + THINGS
    config.network.fpn_feature_dim = FPN_DIM
    from upsnet.operators.functions import deform_conv as deform_fn

    deform_fn.DeformConvFunction.apply = staticmethod(deform_conv)
    from upsnet.operators.modules import fpn_roi_align, roialign

    fpn_roi_align.RoIAlignFunction = RoIAlignFunction
    roialign.RoIAlignFunction = RoIAlignFunction
    fpn_roi_align.torch = types.SimpleNamespace(**{**vars(torch), "device": lambda *a: torch.device("cpu")})
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upsnet", type=Path, required=True, help="UPSNet's source checkout")
    parser.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/upsnet")
    args = parser.parse_args()
    config = import_upsnet(args.upsnet)
    cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self  # DeformConv allocates its weights with .cuda()
    try:
        from upsnet.models.resnet_upsnet import resnet_50_upsnet

        model = resnet_50_upsnet()
    finally:
        torch.Tensor.cuda = cuda
    model.eval()
    manifest = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    state = seeded_state(manifest, SEED, offset_gain=OFFSET_GAIN)
    with tempfile.TemporaryDirectory() as tmp:  # UPSNet's file layout: a plain state dict, read by its own loader
        path = Path(tmp) / "upsnet_tiny.pth"
        torch.save(state, path)
        model.load_state_dict(torch.load(path), resume=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key

    generator = torch.Generator().manual_seed(7)
    image = torch.randn(1, 3, *IMAGE, generator=generator)  # BGR, mean subtracted (UPSNet's input; unit scale)
    rois = torch.tensor([[0.0, *r] for r in ROIS])
    with torch.no_grad():
        res = model.resnet_backbone(image)
        fpn = model.fpn(*res)
        outputs = {"image_bgr": image, "rois": rois}
        for i, level in enumerate(fpn):
            outputs[f"fpn.{i}"] = level
            score, deltas, _ = model.rpn(level)
            outputs[f"rpn_objectness.{i}"], outputs[f"rpn_deltas.{i}"] = score, deltas
        fcn = model.fcn_head(*fpn[:4])
        outputs["fcn_score"], outputs["fcn_output"] = fcn["fcn_score"], fcn["fcn_output"]
        rcnn = model.rcnn(list(fpn[:4]), rois)
        outputs["cls_score"], outputs["bbox_pred"] = rcnn["cls_score"], rcnn["bbox_pred"]
        outputs["mask_score"] = model.mask_branch(list(fpn[:4]), rois)
        offsets = model.fcn_head.fcn_subnet.conv[0][0].conv_offset(fpn[0])
    args.out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous().float() for k, v in outputs.items()}, str(args.out / "outputs.safetensors"))
    record = {
        "source": "uber-research/UPSNet upsnet/models/resnet_upsnet.py (resnet_50_upsnet)",
        "config": "upsnet/experiments/upsnet_resnet50_coco_16gpu.yaml",
        "changes": {"fpn_feature_dim": FPN_DIM, "num_classes": THINGS + 1, "num_seg_classes": STUFF + THINGS},
        "seed": SEED,
        "offset_gain": OFFSET_GAIN,
        "manifest": manifest,
        "checksums": checksums(state),
        "semantic_offsets_abs_mean": float(offsets.abs().mean()),
        "pixel_means_bgr": [float(v) for v in config.network.pixel_means],
    }
    (args.out / "manifest.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {len(manifest)} keys, outputs {sorted(outputs)}; semantic offsets |mean| {record['semantic_offsets_abs_mean']:.3f}")
    print("fcn_score", tuple(fcn["fcn_score"].shape), "mask_score", tuple(outputs["mask_score"].shape), F.softmax(rcnn["cls_score"], 1)[:, 0])


if __name__ == "__main__":
    main()
