"""The dense CRF as post-processing: the same functions as :mod:`segzoo.crf` (where they live, below
the models, so a panoptic model's ``predict`` can refine its segments), under the name users of
``segzoo.postprocess`` look for."""

from ...crf import (
    BILATERAL,
    GAUSSIAN,
    DenseCRF,
    LocalMessage,
    PermutohedralLattice,
    PermutohedralMessage,
    build_lattice,
    dense_crf,
    merge_lattices,
    refine_panoptic,
)

__all__ = [
    "BILATERAL",
    "GAUSSIAN",
    "DenseCRF",
    "LocalMessage",
    "PermutohedralLattice",
    "PermutohedralMessage",
    "build_lattice",
    "dense_crf",
    "merge_lattices",
    "refine_panoptic",
]
