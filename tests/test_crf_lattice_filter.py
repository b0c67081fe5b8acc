"""Permutohedral lattice (Adams et al., 2010) as used by the dense CRF: symmetry and merging."""

from __future__ import annotations

import torch

from segzoo.crf.lattice import build_lattice, merge_lattices


def filter_matrix(lattice, n):
    return lattice.filter(torch.eye(n, dtype=torch.float64))


def test_one_dimensional_filter_is_symmetric():
    # On a line, splat / [1/2, 1, 1/2] blur / slice is a symmetric operator: point i gives j what j gives i.
    for points in (torch.arange(12.0) * 0.7, torch.tensor([0.0, 0.3, 1.9, 2.0, 4.5, 4.6, 7.0])):
        n = len(points)
        f = filter_matrix(build_lattice(points[:, None]), n)
        torch.testing.assert_close(f, f.t(), atol=1e-12, rtol=0)
        assert bool((f.diagonal() > 0).all())
        blur = build_lattice(points[:, None])
        b = blur.blur(torch.eye(blur.num_vertices, dtype=torch.float64))
        torch.testing.assert_close(b, b.t(), atol=0, rtol=0)


def test_merged_lattices_filter_each_image_on_its_own():
    g = torch.Generator().manual_seed(0)
    features = [torch.rand(n, 3, generator=g) * 4 for n in (7, 11, 5)]
    lattices = [build_lattice(f) for f in features]
    values = [torch.randn(len(f), 2, generator=g) for f in features]
    merged = merge_lattices(lattices)
    assert merged.num_points == 23 and merged.num_vertices == sum(lat.num_vertices for lat in lattices)
    expected = torch.cat([lat.filter(v) for lat, v in zip(lattices, values)])
    torch.testing.assert_close(merged.filter(torch.cat(values)), expected)
    assert merge_lattices(lattices[:1]) is lattices[0]
