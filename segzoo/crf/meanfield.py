"""Fully connected CRF with Gaussian edge potentials: mean-field inference.

Krahenbuhl & Koltun, "Efficient Inference in Fully Connected CRFs with Gaussian Edge
Potentials" (arXiv:1210.5644), with the conventions of their code as wrapped by pydensecrf
(``DenseCRF2D``), read from its source:

- unary psi_u = -log(max(p, clip)) for probabilities (``unary_from_softmax``), or
  -log_softmax(logits); Q0 = softmax(-psi_u).
- one iteration: Q <- softmax(-psi_u - sum_m mu(K~_m Q)), where K~_m = n_m * K_m(n_m * .) is the
  m-th Gaussian filter with symmetric normalisation n_m = 1 / sqrt(K_m 1) (pydensecrf's
  default NORMALIZE_SYMMETRIC, for both kernels), computed by the same approximate filter.
- the filter includes each pixel itself: pydensecrf's lattice splats and slices every pixel
  onto its own simplex and nothing subtracts the self-term, so segzoo keeps it too.
- kernels: gaussian features (x / sxy, y / sxy); bilateral (x / sxy, y / sxy, r / srgb,
  g / srgb, b / srgb) with colours in 0-255; k = exp(-|f_i - f_j|^2 / 2); weight w_m = compat.
- Potts (``PottsCompatibility(w)``) multiplies the filtered Q by -w: the pairwise term
  *rewards* label l by w * K~Q(l). This equals the paper's mu(l, l') = [l != l'] (up to a
  per-pixel constant that the softmax removes). A (K, K) matrix ``compat`` is an energy:
  the term subtracted is sum_m w_m mu @ K~_m Q (pydensecrf's ``MatrixCompatibility`` with the
  kernel weight folded in; pydensecrf also symmetrises the matrix, segzoo does not).

Both kernels are filtered with permutohedral lattices (``method="permutohedral"``, the same
approximation as pydensecrf, so results match it to float rounding) or with an exact local
window (``method="local"``, ConvCRF style, see ``local.py``). The appearance-free kernel also
uses its lattice (3 entries per pixel; an exact separable 3 px blur measured ~15x slower on
the CPU) and, depending only on the image size, is cached per (H, W, sxy, device).
All steps are torch ops, so the result is differentiable with respect to the unary, the
kernel weights and the compatibility (CRF-as-RNN, Zheng et al., arXiv:1502.03240), and runs
on the inputs' device. Speed choices, from profiling (``benchmarks/crf_speed.py``):
splat and slice are ``embedding_bag`` calls with the normalisation folded into constant
weights; messages are kept in bits so the softmax is ``exp2`` (2x faster than ``exp``) without
a max pass (safe: the messages are bounded, checked once); on the CPU images of a batch run one
after another (cache locality); labels whose initial probability stays below
``min_label_mass`` everywhere are not filtered (their message is < w * min_label_mass).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from types import MappingProxyType

import torch
import torch.nn.functional as F

from .inputs import KernelSpec, abs_weights, as_lists, kernel_spec, unary_to_log_probs
from .lattice import PermutohedralLattice, build_lattice, merge_lattices
from .local import run_local
from .solver import LOG2E, mean_field

__all__ = ["BILATERAL", "GAUSSIAN", "PermutohedralMessage", "dense_crf", "image_lattice", "mean_field"]

GAUSSIAN = MappingProxyType({"sxy": 3.0, "compat": 3.0})
BILATERAL = MappingProxyType({"sxy": 80.0, "srgb": 13.0, "compat": 10.0})
METHODS = ("permutohedral", "local")


def _features(image: torch.Tensor, spec: KernelSpec) -> torch.Tensor:
    """(H*W, 2 or 5) float32 features of one (3, H, W) 0-255 image: (x/sx, y/sy[, r/sr, g/sg, b/sb])."""
    h, w = image.shape[1:]
    y, x = torch.meshgrid(
        torch.arange(h, dtype=torch.float32, device=image.device),
        torch.arange(w, dtype=torch.float32, device=image.device),
        indexing="ij",
    )
    cols = [x.reshape(-1) / spec.sxy[0], y.reshape(-1) / spec.sxy[1]]
    if spec.srgb is not None:
        cols += [image[c].reshape(-1).float() / spec.srgb[c] for c in range(3)]
    return torch.stack(cols, 1)


@functools.lru_cache(maxsize=8)
def _position_lattice(h: int, w: int, sxy: tuple[float, float], device: torch.device) -> PermutohedralLattice:
    # The appearance-free kernel depends on the image size only: build it once per size. Normal
    # tensors even under inference_mode, so a later training call can save them for backward.
    with torch.inference_mode(False):
        return build_lattice(_features(torch.zeros(3, h, w, device=device), KernelSpec(sxy, None, 0.0)))


def image_lattice(images: list[torch.Tensor], spec: KernelSpec) -> PermutohedralLattice:
    """The kernel's lattice over all pixels of all images (one merged lattice, images disjoint)."""
    if spec.srgb is None:
        lattices = [_position_lattice(*im.shape[1:], spec.sxy, im.device) for im in images]
    else:
        lattices = [build_lattice(_features(im, spec)) for im in images]
    return merge_lattices(lattices)




class PermutohedralMessage:
    """Q (P, C) -> log2(e) * sum_m w_m n_m * K_m(n_m * Q), all kernels in one splat and one slice.

    The result is in bits (base-2 log units): ``mean_field`` exponentiates with ``exp2``, about
    twice as fast as ``exp`` on the CPU, and the factor costs nothing folded into the slice.
    The normalisation n_m and the lattice scale alpha are folded into the (constant) splat and
    slice weights once; the kernel weights scale the blurred vertex values, so they stay
    differentiable. Shapes: P points, M_m vertices of lattice m.
    """

    def __init__(self, lattices: list[PermutohedralLattice], weights: list, *, dtype: torch.dtype):
        items, offsets, splat_w, vertex, slice_w = [], [], [], [], []
        n_items = n_vertices = 0
        for lat in lattices:
            ones = torch.ones(lat.num_points, 1, dtype=torch.float32, device=lat.vertex.device)
            norm = (lat.filter(ones).squeeze(1) + 1e-20).rsqrt()  # (P,) symmetric normalisation
            items.append(lat.splat_index)
            offsets.append(lat.splat_offsets + n_items)
            splat_w.append(lat.splat_weight * norm.index_select(0, lat.splat_index))
            vertex.append(lat.vertex + n_vertices)
            slice_w.append(lat.weight * (norm[:, None] * (lat.alpha * LOG2E)))
            n_items += lat.splat_index.numel()
            n_vertices += lat.num_vertices
        self.lattices = lattices
        self.weights = weights
        self.sizes = [lat.num_vertices for lat in lattices]
        self.splat_items = torch.cat(items)
        self.splat_offsets = torch.cat(offsets)
        self.splat_weight = torch.cat(splat_w).to(dtype)
        self.slice_vertex = torch.cat(vertex, 1)
        self.slice_weight = torch.cat(slice_w, 1).to(dtype)

    def __call__(self, q: torch.Tensor, weights: list | None = None) -> torch.Tensor:
        weights = self.weights if weights is None else weights
        v = F.embedding_bag(self.splat_items, q, self.splat_offsets, mode="sum", per_sample_weights=self.splat_weight)
        parts = [lat.blur(part) * w for lat, part, w in zip(self.lattices, v.split(self.sizes), weights)]
        v = torch.cat(parts) if len(parts) > 1 else parts[0]
        return F.embedding_bag(self.slice_vertex, v, mode="sum", per_sample_weights=self.slice_weight)

    def bound(self) -> float:
        """max_i log2(e) sum_m |w_m| n_m(i) (K_m n_m)(i): no message entry exceeds it (Q sums to 1)."""
        ones = torch.ones(self.slice_vertex.shape[0], 1, dtype=self.splat_weight.dtype, device=self.splat_weight.device)
        return float(self(ones, abs_weights(self.weights)).max())


def _compat_matrix(compat, k: int, device, dtype) -> torch.Tensor | None:
    if isinstance(compat, str):
        if compat != "potts":
            raise ValueError(f"compat must be 'potts' or a (K, K) tensor, got {compat!r}")
        return None
    mu = torch.as_tensor(compat, device=device, dtype=dtype)
    if mu.shape != (k, k):
        raise ValueError(f"compat matrix must be (K, K) = ({k}, {k}) for this unary, got {tuple(mu.shape)}")
    if not bool(torch.isfinite(mu).all()):
        raise ValueError("compat matrix contains NaN or infinite values")
    return mu


def _label_mass(logq0: torch.Tensor, log_norm_floor: float | None) -> torch.Tensor:
    """(K,) upper bound on each label's largest initial probability over a (K, ...) log Q0.

    With ``log_norm_floor`` <= log sum_l exp(log Q0) at every pixel (0 for log_softmax) it is
    exp(row max - floor), one pass over contiguous rows; otherwise exact via logsumexp.
    """
    flat = logq0.reshape(logq0.shape[0], -1)
    if log_norm_floor is not None:
        return (flat.amax(1) - log_norm_floor).exp()
    return (flat - torch.logsumexp(flat, 0)).amax(1).exp()


def _run_permutohedral(logq0s, images, specs, log_rests=None, **options):
    """Images as one merged lattice (one splat/blur/slice per iteration): lists of (K, H, W) Q, (H, W) log_z."""
    lattices = [image_lattice(images, spec) for spec in specs]
    message = PermutohedralMessage(lattices, [spec.weight for spec in specs], dtype=logq0s[0].dtype)
    k = logq0s[0].shape[0]
    logq0 = torch.cat([lq.reshape(k, -1).t() for lq in logq0s])  # (P, K)
    log_rest = None if log_rests is None else torch.cat([lr.reshape(-1, 1) for lr in log_rests])  # (P, 1)
    q, log_z = mean_field(logq0, message, log_rest=log_rest, **options)
    sizes = [lq[0].numel() for lq in logq0s]
    return ([part.t().reshape(lq.shape) for part, lq in zip(q.split(sizes), logq0s)],
            [part.reshape(lq.shape[1:]) for part, lq in zip(log_z.split(sizes), logq0s)])


def _skip_labels(logq0s, unaries, min_label_mass: float, input: str):
    """Active / left-out label indices (None when every label carries mass)."""
    if min_label_mass <= 0:
        return None
    floors = [0.0] * len(unaries)
    if input == "probs":  # sum_l max(p_l, clip) >= sum_l p_l: its minimum bounds the normaliser
        sums = [float(u.detach().sum(0).amin()) for u in unaries]
        floors = [math.log(s) if s > 0 else None for s in sums]
    mass = torch.stack([_label_mass(lq.detach(), f) for lq, f in zip(logq0s, floors)]).amax(0)  # (K,)
    if not bool((mass < min_label_mass).any()):
        return None
    return torch.nonzero(mass >= min_label_mass).squeeze(1), torch.nonzero(mass < min_label_mass).squeeze(1)


def dense_crf(
    unary,
    image,
    *,
    iterations: int = 5,
    gaussian: Mapping | None = GAUSSIAN,
    bilateral: Mapping | None = BILATERAL,
    compat="potts",
    input: str = "logits",
    method: str = "permutohedral",
    window: int = 11,
    blur: int = 4,
    clip: float = 1e-5,
    min_label_mass: float = 1e-4,
):
    """Refine segmentation scores with a fully connected CRF (mean-field inference).

    Args:
        unary: logits or probabilities: a ``(B, K, H, W)`` batch, one ``(K, H, W)`` tensor, or a
            list of ``(K, H, W)`` tensors of different sizes. K >= 2; float32 or float64.
        image: the RGB images, same structure: ``(B, 3, H, W)``, ``(3, H, W)`` or a list. uint8
            is 0-255; a float image whose maximum is above 1.5 is read as 0-255, otherwise as
            0-1 (decided per image). Normalised (mean/std) images are rejected.
        iterations: mean-field steps (0 returns softmax of the unary).
        gaussian: appearance-free smoothness kernel ``dict(sxy=px, compat=weight)`` or None.
        bilateral: appearance kernel ``dict(sxy=px, srgb=0-255 units, compat=weight)`` or None.
            ``sxy``/``srgb`` may also be per-axis/per-channel tuples; ``compat`` may be a
            tensor (a learnable weight).
        compat: "potts" or a (K, K) label compatibility (energy) matrix, shared by the kernels
            and multiplied by each kernel's weight.
        input: "logits" (psi_u = -log_softmax) or "probs" (psi_u = -log(max(p, clip))).
        method: "permutohedral" (pydensecrf's approximation of the full kernel) or "local"
            (exact kernel truncated to a ``window`` x ``window`` neighbourhood of a grid
            downsampled by ``blur``; faster, ignores interactions beyond window * blur / 2 px).
        min_label_mass: with Potts, labels whose initial probability is below this everywhere
            (in the whole batch) get no message and are left out of the iterations (they only
            enter each pixel's normaliser); 0 keeps every label.
        clip: smallest probability for ``input="probs"`` (pydensecrf's ``unary_from_softmax``).

    Returns:
        Refined probabilities Q in the structure of ``unary`` (dtype of ``unary``).
    """
    if not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative int, got {iterations!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    inputs = as_lists(unary, image, input=input)
    specs = [s for s in (kernel_spec(gaussian, name="gaussian", bilateral=False),
                         kernel_spec(bilateral, name="bilateral", bilateral=True)) if s is not None]
    first = inputs.unaries[0]
    mu = _compat_matrix(compat, first.shape[0], first.device, first.dtype)
    logq0s = [unary_to_log_probs(u, input=input, clip=clip) for u in inputs.unaries]
    if not specs or iterations == 0:
        return inputs.pack([torch.softmax(lq, 0) for lq in logq0s])
    # Largest log Q0 entry of each pixel: in [-log K, 0] for log_softmax, [log clip, 0] for probs <= 1
    # (minus a margin: with labels left out, the kept ones hold all but K * min_label_mass).
    k = first.shape[0]
    log_floor = -math.log(k) - 1.0 if input == "logits" else (math.log(clip) if inputs.max_value <= 1 else None)
    options = dict(iterations=iterations, compat=mu, log_floor=log_floor)
    # Potts: labels with no mass anywhere get no message; they are left out of the iterations (on
    # the (K, H, W) layout, before any transpose) and enter only each pixel's normaliser.
    split = _skip_labels(logq0s, inputs.unaries, min_label_mass, input) if mu is None else None
    kept, log_rests = logq0s, None
    if split is not None:
        kept = [lq.index_select(0, split[0]) for lq in logq0s]
        log_rests = [torch.logsumexp(lq.index_select(0, split[1]), 0) for lq in logq0s]
    if method == "local":
        qs, log_zs = run_local(kept, inputs.images, specs, log_rests=log_rests, window=window, blur=blur, **options)
    elif first.device.type == "cpu":
        # On the CPU images run one after another: a batch's (P, K) working set falls out of the
        # caches (measured 25 % slower per image for 4 photos at 500x375); GPUs take the batch at once.
        runs = [_run_permutohedral([lq], [im], specs, None if log_rests is None else [log_rests[i]], **options)
                for i, (lq, im) in enumerate(zip(kept, inputs.images))]
        qs, log_zs = [r[0][0] for r in runs], [r[1][0] for r in runs]
    else:
        qs, log_zs = _run_permutohedral(kept, inputs.images, specs, log_rests, **options)
    out = qs
    if split is not None:  # left-out labels: Q = exp(log Q0 - log normaliser)
        out = []
        for lq, q, log_z in zip(logq0s, qs, log_zs):
            full = torch.empty_like(lq).index_copy_(0, split[0], q)
            out.append(full.index_copy_(0, split[1], (lq.index_select(0, split[1]) - log_z).exp_()))
    return inputs.pack(out)
