"""Dense CRF labels left out of the mean-field iterations (``min_label_mass``): their own
probabilities, not only the kept labels', must match a run that keeps every label."""

from __future__ import annotations

import pytest
import torch

from segzoo.crf import dense_crf
from segzoo.crf.synthetic import noisy_unary


@pytest.mark.parametrize("method", [dict(method="permutohedral"), dict(method="local", window=5, blur=2)])
def test_left_out_labels_keep_their_relative_probability(method):
    g = torch.Generator().manual_seed(0)
    p = torch.cat([noisy_unary(12, 14, 3), torch.full((2, 12, 14), 1e-6)])
    p = p / p.sum(0, keepdim=True)
    unary = p.log()
    image = torch.randint(0, 256, (3, 12, 14), generator=g, dtype=torch.uint8)
    skipped = dense_crf(unary, image, min_label_mass=1e-4, **method)
    full = dense_crf(unary, image, min_label_mass=0.0, **method)
    torch.testing.assert_close(skipped[3:], full[3:], rtol=2e-3, atol=0)  # tiny values, compared relatively
    torch.testing.assert_close(skipped.sum(0), torch.ones(12, 14))


def test_a_label_exactly_at_min_label_mass_is_kept():
    unary = torch.log(noisy_unary(10, 12, 4, seed=1))
    mass = float(torch.log_softmax(unary, 0)[3].amax().exp())  # label 3's largest probability
    unary_rest = torch.log_softmax(unary, 0)
    others = [float(unary_rest[k].amax().exp()) for k in range(3)]
    assert all(m > mass for m in others) or all(m != mass for m in others)
    image = torch.full((3, 10, 12), 90, dtype=torch.uint8)
    at = dense_crf(unary, image, min_label_mass=mass)
    full = dense_crf(unary, image, min_label_mass=0.0)
    assert bool(torch.isfinite(at).all())
    torch.testing.assert_close(at.sum(0), torch.ones(10, 12))
    torch.testing.assert_close(at, full, atol=1e-5, rtol=1e-4)
