"""Speed and agreement of segzoo's dense CRF against pydensecrf.

Dense CRF of Krahenbuhl & Koltun (arXiv:1210.5644), permutohedral lattice of Adams et al.
(2010), local-window variant after ConvCRF (Teichmann & Cipolla, arXiv:1805.04777).

Same run for every row: a real COCO photo resized to 500x375, a noisy 21-label unary (random
labels on a 16 px grid, one-hot, 9x9 box blur, times 3, plus N(0, 1) noise, softmax), the
pydensecrf defaults (gaussian sxy=3 compat=3, bilateral sxy=80 srgb=13 compat=10), 10
mean-field iterations (one row pads the unary to 133 labels, 112 of them with probability 0,
to show the label skipping). Times are the median of ``--repeats`` interleaved runs (the machine
may be shared: the load average is printed). "agree" is the share of pixels whose argmax
label equals pydensecrf's.

    python benchmarks/crf_speed.py                    # default torch threads
    python benchmarks/crf_speed.py --threads 1        # single-threaded, like pydensecrf
    python benchmarks/crf_speed.py --profile          # torch.profiler table of one segzoo run

pydensecrf is optional (``pip install pydensecrf2``); without it the pydensecrf rows are skipped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from segzoo.crf import dense_crf
from segzoo.crf.synthetic import noisy_unary

try:
    import pydensecrf.densecrf as dcrf
except ImportError:  # optional
    dcrf = None

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco_panoptic_sample" / "images"
LABELS, ITERATIONS, SIZE = 21, 10, (500, 375)



def load_image(path: Path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB").resize(SIZE, Image.BILINEAR))  # writable, C-contiguous


def run_pydensecrf(image: np.ndarray, probs: torch.Tensor) -> np.ndarray:
    k, h, w = probs.shape
    crf = dcrf.DenseCRF2D(w, h, k)
    crf.setUnaryEnergy(np.ascontiguousarray(-np.log(np.clip(probs.numpy(), 1e-5, 1.0)).reshape(k, -1)))
    crf.addPairwiseGaussian(sxy=3, compat=3)
    crf.addPairwiseBilateral(sxy=80, srgb=13, rgbim=image, compat=10)
    return np.asarray(crf.inference(ITERATIONS)).reshape(k, h, w)


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = sorted(DATA.glob("*.jpg"))
    if not paths:
        raise SystemExit(f"no images under {DATA}")
    image = load_image(paths[0])
    h, w = image.shape[:2]
    probs = noisy_unary(h, w, LABELS, seed=0)
    timg = torch.from_numpy(image).permute(2, 0, 1)
    opts = dict(iterations=ITERATIONS, input="probs")
    batch_p = torch.stack([noisy_unary(h, w, LABELS, seed=s) for s in range(args.batch)])
    batch_i = timg[None].expand(args.batch, -1, -1, -1).contiguous()
    wide = torch.cat([probs, torch.zeros(133 - LABELS, h, w)])[None]  # COCO-panoptic-sized K, most labels absent

    print(f"# dense CRF, {w}x{h} photo, {LABELS} labels, {ITERATIONS} iterations, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        dense_crf(probs[None], timg[None], **opts)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            dense_crf(probs[None], timg[None], **opts)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))

    t0 = time.perf_counter()
    dense_crf(probs[None], timg[None], **opts)  # first call at this size: builds the cached position lattice
    cold = time.perf_counter() - t0
    rows, reference = [], None
    runs = {
        "pydensecrf (C++, 1 thread)": (1, (lambda: run_pydensecrf(image, probs)) if dcrf else None),
        "segzoo permutohedral": (1, lambda: dense_crf(probs[None], timg[None], **opts)[0]),
        f"segzoo permutohedral, batch {args.batch}": (args.batch, lambda: dense_crf(batch_p, batch_i, **opts)[0]),
        "segzoo permutohedral, 133 labels (21 with mass)": (1, lambda: dense_crf(wide, timg[None], **opts)[0]),
        "same, min_label_mass=0 (no label skipping)": (
            1, lambda: dense_crf(wide, timg[None], min_label_mass=0.0, **opts)[0]),
        "segzoo local 11x11, blur 4": (1, lambda: dense_crf(probs[None], timg[None], method="local", **opts)[0]),
        "segzoo local 7x7, blur 2": (
            1, lambda: dense_crf(probs[None], timg[None], method="local", window=7, blur=2, **opts)[0]),
    }
    times = {name: [] for name, (_, fn) in runs.items() if fn is not None}
    outputs = {}
    for _ in range(args.repeats):  # interleaved, so load changes hit every row alike
        for name, (_, fn) in runs.items():
            if fn is not None:
                seconds, outputs[name] = timed(fn, 1)
                times[name].append(seconds)
    if dcrf is not None:
        reference = outputs["pydensecrf (C++, 1 thread)"].argmax(0)
    base = statistics.median(times["pydensecrf (C++, 1 thread)"]) if dcrf else None
    print("| run | images | ms / image | speed-up vs pydensecrf | agree with pydensecrf |")
    print("|---|---|---|---|---|")
    for name, (n, _) in runs.items():
        if name not in times:
            print(f"| {name} | - | not installed | - | - |")
            continue
        per_image = statistics.median(times[name]) / n
        out = outputs[name]
        out = out.numpy() if isinstance(out, torch.Tensor) else out  # (K, H, W); labels >= 21 carry no mass
        agree = f"{(out.argmax(0) == reference).mean() * 100:.2f} %" if reference is not None else "-"
        speed = f"{base / per_image:.2f}x" if base else "-"
        rows.append(name)
        print(f"| {name} | {n} | {per_image * 1000:.0f} | {speed} | {agree} |")
    print(f"\nfirst segzoo call at this size (builds the cached position lattice): {cold * 1000:.0f} ms")
    print("GPU: " + (torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"))
    if torch.cuda.is_available():
        gp, gi = batch_p.cuda(), batch_i.cuda()
        dense_crf(gp, gi, **opts)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        dense_crf(gp, gi, **opts)
        torch.cuda.synchronize()
        per_image = (time.perf_counter() - t0) / args.batch
        print(f"segzoo permutohedral on GPU, batch {args.batch}: {per_image * 1000:.0f} ms / image")


if __name__ == "__main__":
    main()
