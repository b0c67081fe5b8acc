"""Dense CRF (Krahenbuhl & Koltun, arXiv:1210.5644): mean field, permutohedral lattice (Adams et
al. 2010), local window (ConvCRF, arXiv:1805.04777), gradients (CRF-as-RNN, arXiv:1502.03240)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segzoo.crf import DenseCRF, LocalMessage, build_lattice, dense_crf
from segzoo.crf.inputs import kernel_spec
from segzoo.crf.meanfield import LOG2E
from segzoo.crf.synthetic import noisy_unary

METHODS = [dict(method="permutohedral"), dict(method="local", window=7, blur=2)]


def blocks_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """(3, H, W) uint8: four flat colour quadrants plus mild noise."""
    g = torch.Generator().manual_seed(seed)
    colours = torch.randint(0, 256, (4, 3), generator=g).float()
    quad = (torch.arange(h)[:, None] >= h // 2).long() * 2 + (torch.arange(w)[None] >= w // 3).long()
    img = colours[quad].permute(2, 0, 1) + 8 * torch.randn(3, h, w, generator=g)
    return img.clamp(0, 255).to(torch.uint8)



@pytest.mark.parametrize("opts", METHODS)
def test_confident_unary_is_left_unchanged(opts):
    labels = noisy_unary(40, 48, 5).argmax(0)
    logits = 30.0 * F.one_hot(labels, 5).permute(2, 0, 1).float()  # log-odds 30 > total pairwise weight 13
    q = dense_crf(logits, blocks_image(40, 48), iterations=5, **opts)
    assert torch.equal(q.argmax(0), labels)
    assert q.shape == logits.shape and torch.allclose(q.sum(0), torch.ones(40, 48))


@pytest.mark.parametrize("opts", METHODS)
def test_single_colour_image_is_smoothed_to_one_label(opts):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 36, 44, generator=g)
    logits[2] += 0.6  # label 2 wins on average but only at about half the pixels
    before = (logits.argmax(0) == 2).float().mean()
    assert before < 0.6
    image = torch.full((3, 36, 44), 120, dtype=torch.uint8)
    q = dense_crf(logits, image, iterations=10, **opts)
    assert bool((q.argmax(0) == 2).all())


@pytest.mark.parametrize("opts", METHODS)
def test_batched_equals_per_image(opts):
    unary = torch.stack([noisy_unary(32, 40, 6, seed=s) for s in range(3)])
    images = torch.stack([blocks_image(32, 40, seed=s) for s in range(3)])
    batched = dense_crf(unary, images, input="probs", **opts)
    for b in range(3):
        single = dense_crf(unary[b], images[b], input="probs", **opts)
        torch.testing.assert_close(batched[b], single, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("opts", METHODS)
def test_mixed_size_list_equals_per_image(opts):
    sizes = [(32, 40), (48, 36), (33, 41)]
    unary = [noisy_unary(h, w, 5, seed=i) for i, (h, w) in enumerate(sizes)]
    images = [blocks_image(h, w, seed=i).float() / 255 for i, (h, w) in enumerate(sizes)]  # float 0-1 images
    out = dense_crf(unary, images, input="probs", iterations=4, **opts)
    assert isinstance(out, list) and [o.shape[1:] for o in out] == [torch.Size(s) for s in sizes]
    for u, im, o in zip(unary, images, out):
        torch.testing.assert_close(o, dense_crf(u, im, input="probs", iterations=4, **opts), atol=1e-5, rtol=1e-4)


def test_probs_and_logits_inputs_agree():
    p = noisy_unary(30, 34, 4)
    image = blocks_image(30, 34)
    torch.testing.assert_close(dense_crf(p, image, input="probs"), dense_crf(p.log(), image, input="logits"),
                               atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("opts", METHODS)
@pytest.mark.parametrize("input", ["probs", "logits"])
def test_labels_without_mass_are_skipped_without_changing_the_result(opts, input):
    p = torch.cat([noisy_unary(30, 34, 4), torch.zeros(6, 30, 34)])  # 6 labels with probability 0 (clipped to 1e-5)
    p[5, :3] = 0.3  # ... and one with a little mass in a corner: kept
    unary = p if input == "probs" else (p + 1e-7).log()
    image = blocks_image(30, 34)
    skipped = dense_crf(unary, image, input=input, min_label_mass=1e-4, **opts)
    full = dense_crf(unary, image, input=input, min_label_mass=0.0, **opts)
    torch.testing.assert_close(skipped, full, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(skipped.sum(0), torch.ones(30, 34))
    assert float(skipped[[4, 6, 7, 8, 9]].max()) < 1e-4 and float(skipped[5].max()) > 1e-3


def _bilateral_features(image: torch.Tensor, sxy: float, srgb: float) -> torch.Tensor:
    h, w = image.shape[1:]
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return torch.cat([torch.stack([x, y]) / sxy, image.double() / srgb]).reshape(5, -1).t()


def _normalised_brute_force(feats: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None = None):
    k = torch.exp(-0.5 * torch.cdist(feats, feats) ** 2)  # (P, P), self included
    if mask is not None:
        k = k * mask
    n = k.sum(1).rsqrt()
    return n[:, None] * (k @ (n[:, None] * values))


def test_lattice_approximates_dense_gaussian_filtering():
    image = blocks_image(10, 12, seed=3)
    feats = _bilateral_features(image, sxy=1.5, srgb=15.0)  # (120, 5): narrow kernels, a local filter
    values = torch.rand(120, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    lattice = build_lattice(feats)
    assert lattice.num_vertices < 120 * 6
    # as the CRF uses it (symmetric normalisation): 4.6 % mean error; a global mean would give 15 %
    n = lattice.filter(torch.ones(120, 1)).rsqrt()
    approx = n * lattice.filter(n * values.float())
    exact = _normalised_brute_force(feats, values).float()
    rel = ((approx - exact).abs() / exact.abs()).mean()
    assert rel < 0.08, f"mean relative error of the normalised lattice filter {rel:.3f}"
    # unnormalised: the lattice returns about half the Gaussian sum (a scale the normalisation removes)
    raw = lattice.filter(values.float())
    dense = (torch.exp(-0.5 * torch.cdist(feats, feats) ** 2) @ values).float()
    scale = (raw * dense).sum() / (raw * raw).sum()
    assert 1.5 < scale < 2.5 and ((scale * raw - dense).abs() / dense).mean() < 0.15
    # and it does depend on colour: a far-away colour gets (almost) nothing from this pixel
    lone = torch.zeros(120, 1)
    lone[0] = 1.0
    spread = lattice.filter(lone)[:, 0].view(10, 12)
    assert spread[0, 0] > 10 * spread[9, 11]


def test_local_window_is_exact_inside_its_window():
    image = blocks_image(10, 12, seed=4).float()
    specs = [kernel_spec(dict(sxy=2.0, compat=1.0), name="g", bilateral=False),
             kernel_spec(dict(sxy=5.0, srgb=30.0, compat=1.0), name="b", bilateral=True)]
    message = LocalMessage(image[None], specs, window=5, blur=1, dtype=torch.float64)
    q = torch.rand(1, 3, 10, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y, x = torch.meshgrid(torch.arange(10), torch.arange(12), indexing="ij")
    y, x = y.reshape(-1), x.reshape(-1)
    window = ((y[:, None] - y[None]).abs() <= 2) & ((x[:, None] - x[None]).abs() <= 2)
    values = q[0].reshape(3, -1).t()
    expected = _normalised_brute_force(_bilateral_features(image, 5.0, 30.0), values, window)
    gauss = _bilateral_features(image, 2.0, 1.0)[:, :2]
    expected = expected + _normalised_brute_force(gauss, values, window)
    # messages come back in bits (x log2 e): mean field exponentiates with exp2
    torch.testing.assert_close(message(q)[0].reshape(3, -1).t() / LOG2E, expected)


@pytest.mark.parametrize("method", ["permutohedral", "local"])
def test_gradients_reach_the_kernel_weights_and_compatibility(method):
    crf = DenseCRF(num_classes=4, learn_compat=True, iterations=3, method=method, window=5, blur=2)
    logits = torch.randn(2, 4, 24, 28, requires_grad=True)
    target = torch.randint(0, 4, (2, 24, 28))
    q = crf(logits, torch.stack([blocks_image(24, 28, seed=s) for s in range(2)]))
    F.nll_loss(q.clamp_min(1e-8).log(), target).backward()
    for p in [crf.gaussian_weight, crf.bilateral_weight, crf.compat, logits]:
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


@pytest.mark.parametrize("method", ["permutohedral", "local"])
def test_gradients_match_finite_differences(method):
    image = blocks_image(6, 7, seed=5)
    unary = torch.randn(3, 6, 7, dtype=torch.float64)

    def run(wg, wb, u):
        return dense_crf(u, image, iterations=2, method=method, window=3, blur=1,
                         gaussian=dict(sxy=2, compat=wg), bilateral=dict(sxy=5, srgb=30, compat=wb))

    args = (torch.tensor(3.0, dtype=torch.float64, requires_grad=True),
            torch.tensor(5.0, dtype=torch.float64, requires_grad=True), unary.requires_grad_())
    assert torch.autograd.gradcheck(run, args, atol=1e-5, fast_mode=True)


def test_large_weights_take_the_max_subtracting_softmax():
    image = blocks_image(12, 14)
    wb = torch.tensor(300.0, requires_grad=True)  # messages up to ~430 bits: exp2 without a max pass would overflow
    logits = torch.randn(3, 12, 14, requires_grad=True)
    q = dense_crf(logits, image, bilateral=dict(sxy=5, srgb=20, compat=wb), iterations=3)
    assert torch.isfinite(q).all() and torch.allclose(q.sum(0), torch.ones(12, 14))
    (q * torch.randn(3, 12, 14)).sum().backward()
    assert torch.isfinite(wb.grad) and torch.isfinite(logits.grad).all()


def test_compat_matrix_potts_equivalence():
    p, image = noisy_unary(30, 34, 4), blocks_image(30, 34)
    potts = dense_crf(p, image, input="probs")
    for mu in (1.0 - torch.eye(4), -torch.eye(4)):  # [l != l'] and pydensecrf's -I: the same model
        torch.testing.assert_close(dense_crf(p, image, input="probs", compat=mu), potts, atol=1e-5, rtol=1e-4)


U, IMG = torch.randn(1, 3, 8, 9), torch.zeros(1, 3, 8, 9)


@pytest.mark.parametrize(
    ("unary", "image", "kwargs", "error", "match"),
    [
        (U, torch.zeros(1, 3, 8, 10), {}, ValueError, "resize the unary"),
        (torch.randn(1, 1, 8, 9), IMG, {}, ValueError, "K >= 2"),
        (-torch.rand(1, 3, 8, 9), IMG, dict(input="probs"), ValueError, "negative"),
        (torch.full((1, 3, 8, 9), float("nan")), IMG, {}, ValueError, "NaN"),
        (U, torch.randn(1, 3, 8, 9), {}, ValueError, r"\[0, 1\] or \[0, 255\]"),
        (U, torch.zeros(1, 1, 8, 9), {}, ValueError, "RGB"),
        (torch.randn(3, 8, 9), IMG, {}, ValueError, "same structure"),
        (U, IMG, dict(method="fast"), ValueError, "method"),
        (U, IMG, dict(input="scores"), ValueError, "input"),
        (U, IMG, dict(compat=torch.eye(4)), ValueError, r"\(3, 3\)"),
        (U, IMG, dict(gaussian=dict(sxy=3, w=3)), TypeError, "keys"),
        (U, IMG, dict(method="local", window=4), ValueError, "odd"),
        (U, IMG, dict(iterations=-1), ValueError, "non-negative"),
    ],
)
def test_invalid_inputs_raise_clear_errors(unary, image, kwargs, error, match):
    with pytest.raises(error, match=match):
        dense_crf(unary, image, **kwargs)


def test_training_after_an_inference_mode_call_at_the_same_size():
    image = blocks_image(20, 24)
    with torch.inference_mode():  # fills the cached position lattice with inference-mode-safe tensors
        dense_crf(torch.randn(3, 20, 24), image)
    crf = DenseCRF()
    logits = torch.randn(3, 20, 24, requires_grad=True)
    crf(logits, image)[0].sum().backward()
    assert crf.bilateral_weight.grad is not None and logits.grad is not None


def test_wide_keys_fallback_builds_the_same_lattice(monkeypatch):
    import segzoo.crf.lattice as lattice_module

    feats = _bilateral_features(blocks_image(9, 11, seed=6), sxy=1.5, srgb=15.0).float()
    values = torch.rand(99, 2, generator=torch.Generator().manual_seed(1))
    fast = build_lattice(feats)
    monkeypatch.setattr(lattice_module, "_CODE_BITS", 0)  # force the row-wise torch.unique path
    slow = build_lattice(feats)
    assert slow.num_vertices == fast.num_vertices
    torch.testing.assert_close(slow.filter(values), fast.filter(values))
