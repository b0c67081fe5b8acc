"""Dense CRF label compatibility: orientation of a non-symmetric matrix, Potts, kernels off.

``compat[l, l']`` is the energy of label ``l`` at a pixel whose neighbours hold ``l'``
(Krahenbuhl & Koltun, arXiv:1210.5644; pydensecrf's ``MatrixCompatibility``). On a flat image
with a uniform unary, a matrix with a single positive entry ``[0, 1]`` penalises label 0 and
must push every pixel towards label 1; its transpose pushes towards label 0.
"""

from __future__ import annotations

import pytest
import torch

from segzoo.crf import DenseCRF, dense_crf

METHODS = [dict(method="permutohedral"), dict(method="local", window=5, blur=1)]
FLAT = torch.full((3, 6, 7), 128, dtype=torch.uint8)
ONE_WAY = torch.tensor([[0.0, 2.0], [0.0, 0.0]])


def uniform(k=2, h=6, w=7):
    return torch.zeros(k, h, w)  # logits: Q0 = 1/K everywhere


@pytest.mark.parametrize("opts", METHODS)
def test_non_symmetric_compat_penalises_the_row_label(opts):
    kernel = dict(gaussian=dict(sxy=3, compat=1.0), bilateral=None, iterations=1, **opts)
    q = dense_crf(uniform(), FLAT, compat=ONE_WAY, **kernel)
    assert bool((q[1] > 0.6).all())  # label 0 pays for its label-1 neighbours
    q_t = dense_crf(uniform(), FLAT, compat=ONE_WAY.t(), **kernel)
    assert bool((q_t[0] > 0.6).all())
    torch.testing.assert_close(q_t, q.flip(0))  # the mirror image: labels swap roles
    sym = dense_crf(uniform(), FLAT, compat=ONE_WAY + ONE_WAY.t(), **kernel)
    torch.testing.assert_close(sym, torch.full_like(sym, 0.5))


@pytest.mark.parametrize("opts", METHODS)
def test_compat_scales_with_the_kernel_weight(opts):
    # A stronger kernel weight (or a larger matrix entry) pushes further, in the same direction.
    runs = [
        dense_crf(uniform(), FLAT, compat=ONE_WAY, gaussian=dict(sxy=3, compat=w), bilateral=None, iterations=1, **opts)
        for w in (0.5, 1.0, 2.0)
    ]
    middle = [float(q[1, 3, 3]) for q in runs]
    assert 0.5 < middle[0] < middle[1] < middle[2] < 1.0
    doubled = dense_crf(uniform(), FLAT, compat=2 * ONE_WAY, gaussian=dict(sxy=3, compat=0.5), bilateral=None,
                        iterations=1, **opts)  # fmt: skip
    torch.testing.assert_close(doubled, runs[1])


def test_negative_compat_rewards_the_neighbours_label():
    # A (K, K) entry below 0 is a reward: label 2 is attracted by label 0 around it.
    unary = torch.zeros(3, 6, 7)
    unary[0] = 2.0  # label 0 dominates
    mu = torch.zeros(3, 3)
    mu[2, 0] = -3.0
    q0 = torch.softmax(unary, 0)
    q = dense_crf(unary, FLAT, compat=mu, gaussian=dict(sxy=3, compat=1.0), bilateral=None, iterations=1)
    assert bool((q[2] > q0[2] + 0.05).all()) and bool((q[1] < q0[1]).all())


def test_no_kernel_or_zero_iterations_return_the_softmax_of_the_unary():
    unary = torch.randn(3, 5, 6, generator=torch.Generator().manual_seed(0))
    expected = torch.softmax(unary, 0)
    torch.testing.assert_close(dense_crf(unary, FLAT[:, :5, :6], gaussian=None, bilateral=None), expected)
    torch.testing.assert_close(dense_crf(unary, FLAT[:, :5, :6], iterations=0), expected)
    probs = expected.clone()
    torch.testing.assert_close(dense_crf(probs, FLAT[:, :5, :6], input="probs", iterations=0), expected)


def test_learned_compat_starts_as_potts_and_receives_gradients():
    unary = torch.randn(1, 3, 6, 7, generator=torch.Generator().manual_seed(1))
    image = FLAT[None]
    potts = DenseCRF(iterations=2, learn_compat=False)
    learned = DenseCRF(num_classes=3, iterations=2, learn_compat=True)
    assert torch.equal(learned.compat.detach(), 1.0 - torch.eye(3))
    out = learned(unary, image)
    torch.testing.assert_close(out, potts(unary, image), atol=1e-5, rtol=1e-4)
    (out[:, 0] * torch.linspace(0, 1, 7)).sum().backward()
    assert learned.compat.grad is not None and bool(learned.compat.grad.abs().sum() > 0)
    assert learned.gaussian_weight.grad is not None


def test_compat_validation():
    with pytest.raises(ValueError, match="potts"):
        dense_crf(uniform(), FLAT, compat="ising")
    with pytest.raises(ValueError, match="NaN"):
        dense_crf(uniform(), FLAT, compat=torch.tensor([[0.0, float("inf")], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="num_classes"):
        DenseCRF(learn_compat=True)


def test_two_classes_are_enough_for_a_learned_compat():
    crf = DenseCRF(num_classes=2, iterations=1, learn_compat=True)
    out = crf(torch.zeros(1, 2, 6, 7), FLAT[None])
    torch.testing.assert_close(out, torch.full_like(out, 0.5))  # symmetric Potts on a uniform unary
    with pytest.raises(ValueError, match="num_classes >= 2"):
        DenseCRF(num_classes=1, learn_compat=True)
