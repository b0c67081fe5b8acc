"""Parity of segzoo's dense CRF with pydensecrf (Krahenbuhl & Koltun, arXiv:1210.5644) on real photos.

pydensecrf is an optional test dependency (``pip install pydensecrf2``); without it, or without the
shared COCO sample, these tests skip.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from segzoo.crf import dense_crf
from segzoo.crf.synthetic import noisy_unary

dcrf = pytest.importorskip(
    "pydensecrf.densecrf", reason="pydensecrf not importable (optional: pip install pydensecrf2)", exc_type=ImportError
)

SIZE = (160, 120)  # downscaled COCO photos keep the test fast



def _photos(shared_data) -> list[np.ndarray]:
    paths = sorted((shared_data / "coco_panoptic_sample" / "images").glob("*.jpg"))
    if not paths:
        pytest.skip("no photos in the shared COCO sample")
    return [np.array(Image.open(p).convert("RGB").resize(SIZE, Image.BILINEAR)) for p in paths]


def _pydensecrf(image: np.ndarray, probs: torch.Tensor, iterations: int, gaussian=3.0, bilateral=10.0) -> np.ndarray:
    k, h, w = probs.shape
    crf = dcrf.DenseCRF2D(w, h, k)
    crf.setUnaryEnergy(np.ascontiguousarray(-np.log(np.clip(probs.numpy(), 1e-5, 1.0)).reshape(k, -1)))
    crf.addPairwiseGaussian(sxy=3, compat=gaussian)
    crf.addPairwiseBilateral(sxy=80, srgb=13, rgbim=image, compat=bilateral)
    return np.asarray(crf.inference(iterations)).reshape(k, h, w)


@pytest.mark.parametrize("iterations", [5, 10])
def test_argmax_agrees_with_pydensecrf_on_photos(shared_data, iterations):
    for i, image in enumerate(_photos(shared_data)):
        probs = noisy_unary(SIZE[1], SIZE[0], 21, seed=i)
        reference = _pydensecrf(image, probs, iterations)
        ours = dense_crf(probs, torch.from_numpy(image).permute(2, 0, 1), iterations=iterations, input="probs")
        agree = float((ours.argmax(0).numpy() == reference.argmax(0)).mean())
        changed = float((probs.argmax(0).numpy() != reference.argmax(0)).mean())
        assert changed > 0.2  # the CRF does real work on this unary
        assert agree >= 0.99, f"photo {i}, {iterations} iterations: {agree:.4f} of pixels agree"
        assert np.abs(ours.numpy() - reference).max() < 1e-2


def test_compatibility_matrix_matches_pydensecrf(shared_data):
    image = np.ascontiguousarray(_photos(shared_data)[0][::2, ::2])
    h, w = image.shape[:2]
    probs = noisy_unary(h, w, 5, seed=7)
    g = torch.Generator().manual_seed(0)
    mu = torch.rand(5, 5, generator=g) * 2 - 1
    mu = (mu + mu.t()) / 2  # pydensecrf symmetrises its matrices; segzoo takes them as given
    reference = _pydensecrf(image, probs, 5, gaussian=mu.numpy() * 3, bilateral=mu.numpy() * 10)
    ours = dense_crf(probs, torch.from_numpy(image).permute(2, 0, 1), iterations=5, input="probs", compat=mu)
    assert float((ours.argmax(0).numpy() == reference.argmax(0)).mean()) >= 0.99
