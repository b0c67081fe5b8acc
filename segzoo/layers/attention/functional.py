"""Dot-product attention over pixels without materialising the (N x N) affinity.

Used by DANet's position attention (arXiv:1809.02983) and the non-local block
(arXiv:1711.07971), whose affinity over a 128x256 map (32768 positions) would take 4 GiB
in fp32. ``torch.nn.functional.scaled_dot_product_attention`` runs fused kernels (flash /
memory-efficient) that never hold the whole matrix when query, key and value share a head
size; when the value is wider than the query/key (DANet: C/8 vs C), the value channels are
split into heads that reuse the same (expanded, not copied) query and key, which keeps the
fused path. Otherwise queries are processed in chunks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["attend", "attend_reference", "tokens_to_map"]

_CHUNK_BYTES = 64 * 2**20  # affinity memory per query chunk in the fallback path


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
    """``softmax(scale * q k^T) v`` for ``q (B, N, d)``, ``k (B, M, d)``, ``v (B, M, e)`` -> ``(B, N, e)``.

    The softmax runs over the M keys. Memory stays O((N + M) * (d + e)) in the fused paths
    and O(chunk * M) in the chunked one.
    """
    d, e = q.shape[-1], v.shape[-1]
    # The fused CPU kernels need a unit stride on the last dim; (B, C, N) -> (B, N, C) views from
    # channels-first feature maps don't have it and silently fall back to the O(N*M) math path.
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    if d == e:  # as one head of 4D inputs: the form ONNX export translates (it rejects 3D q, k, v)
        return F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], scale=scale)[:, 0]
    if e % d == 0:
        heads = e // d
        batch, n, m = q.shape[0], q.shape[1], k.shape[1]
        qh = q.unsqueeze(1).expand(batch, heads, n, d)  # (B, heads, N, d), a view
        kh = k.unsqueeze(1).expand(batch, heads, m, d)
        vh = v.reshape(batch, m, heads, d).transpose(1, 2)  # (B, heads, M, d)
        out = F.scaled_dot_product_attention(qh, kh, vh, scale=scale)  # (B, heads, N, d)
        return out.transpose(1, 2).reshape(batch, n, e)
    chunk = max(1, _CHUNK_BYTES // (4 * max(k.shape[1], 1)))
    return torch.cat(
        [F.scaled_dot_product_attention(q[:, s : s + chunk], k, v, scale=scale) for s in range(0, q.shape[1], chunk)],
        dim=1,
    )


def tokens_to_map(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``(B, H*W, C)`` attention output -> contiguous ``(B, C, H, W)`` map for the next convolution.

    The transposed view is channels-last-strided; handing it to a convolution makes the memory
    format depend on the batch size, which ``torch.export`` turns into a ``batch <= 1`` guard."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, h, w).contiguous()


def attend_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
    """The plain implementation (materialises the affinity), for tests and benchmarks."""
    return torch.softmax(scale * q @ k.transpose(1, 2), dim=-1) @ v
