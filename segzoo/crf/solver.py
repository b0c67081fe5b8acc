"""The mean-field solver of the fully connected CRF, shared by both message filters.

Krahenbuhl & Koltun, "Efficient Inference in Fully Connected CRFs with Gaussian Edge
Potentials" (arXiv:1210.5644): Q <- softmax(-psi_u - mu(sum_m w_m K~_m Q)) repeated. The
message filter is injected (``PermutohedralMessage`` in ``meanfield.py``, ``LocalMessage`` in
``local.py``); conventions are those described in ``meanfield.py``. Messages are kept in bits
so the normalisation is ``exp2``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["LOG2E", "mean_field", "exp2_normalise"]

LOG2E = 1.0 / math.log(2.0)


def exp2_normalise(logits: torch.Tensor, *, safe: bool, inplace: bool, log_rest: torch.Tensor | None = None):
    """softmax over dim 1 of base-2 logits, with the labels left out summing to 2^log_rest.

    Returns (Q, log2 of the per-pixel normaliser). ``safe``: every pixel's logits are known to
    lie below 100 with a maximum above -100, so exp2 needs no max subtraction (a max pass costs
    as much as the exp2 itself).
    """
    shift = None
    if not safe:
        shift = logits.detach().amax(1, keepdim=True)
        logits = logits.sub_(shift) if inplace else logits - shift
    q = logits.exp2_() if inplace else logits.exp2()
    z = q.sum(1, keepdim=True)
    if log_rest is not None:
        z = z + (log_rest if shift is None else (log_rest - shift).clamp_max(100.0)).exp2()
    q = q.div_(z) if inplace else q / z
    return q, (z.log2() if shift is None else z.log2() + shift)


def mean_field(logq0: torch.Tensor, message, *, iterations: int, compat: torch.Tensor | None,
               log_floor: float | None = None, log_rest: torch.Tensor | None = None):
    """Mean-field iterations on log Q0 (natural log) with labels on dim 1 ((P, K) or (B, K, H, W)).

    ``message(Q)`` returns log2(e) * sum_m w_m K~_m Q and has a ``bound()`` on its entries;
    ``compat`` None is Potts, else a (K, K) energy matrix. ``log_floor``: every pixel's largest
    log Q0 entry is known to lie in [log_floor, 0] (None: shifted here). ``log_rest`` (labels
    on dim 1 of size 1): log of the summed exp(log Q0) of labels left out of the CRF (Potts
    only: they get no message, so they enter every normaliser as this constant).
    Returns (Q, log of the per-pixel normaliser): a left-out label's Q is exp(log Q0 - log_z).
    """
    weights = [w for w in message.weights if isinstance(w, torch.Tensor)]
    tracked = [logq0] + weights + ([compat] if compat is not None else [])
    inplace = not (torch.is_grad_enabled() and any(t.requires_grad for t in tracked))
    shift = 0.0
    if log_floor is None:
        shift = logq0.detach().amax(1, keepdim=True)
        logq0, log_floor = logq0 - shift, 0.0
        log_rest = None if log_rest is None else log_rest - shift
    logq0 = logq0 * LOG2E  # bits from here on
    log_rest = None if log_rest is None else log_rest * LOG2E
    if iterations == 0:
        safe = log_floor * LOG2E > -100.0
    else:
        bound = message.bound() * (1.0 if compat is None else float(compat.detach().abs().max()))
        safe = bound < 100.0 and bound - log_floor * LOG2E < 100.0
    q, log_z = exp2_normalise(logq0.clone() if inplace else logq0, safe=safe, inplace=inplace, log_rest=log_rest)
    for _ in range(iterations):
        msg = message(q)
        if compat is None:  # Potts rewards agreeing labels (pydensecrf's sign)
            logits = msg.add_(logq0) if inplace else msg + logq0
        else:
            logits = logq0 - torch.einsum("lk,bk...->bl...", compat.to(msg.dtype), msg)
        q, log_z = exp2_normalise(logits, safe=safe, inplace=inplace, log_rest=log_rest)
    return q, log_z / LOG2E + shift
