"""Dense CRF post-processing in pure PyTorch.

Fully connected CRF with Gaussian edge potentials (Krahenbuhl & Koltun, arXiv:1210.5644),
filtered with a permutohedral lattice (Adams, Baek & Davis, "Fast High-Dimensional Filtering
Using the Permutohedral Lattice", 2010) or an exact local window (ConvCRF, Teichmann &
Cipolla, arXiv:1805.04777); differentiable through the iterations (CRF-as-RNN, Zheng et
al., arXiv:1502.03240). Runs on the inputs' device, on batches or lists of mixed sizes.

>>> probs = dense_crf(logits, images)                        # (B, K, H, W), (B, 3, H, W) uint8
>>> seg, info = refine_panoptic(panoptic_seg, segments_info, image)
"""

from .lattice import PermutohedralLattice, build_lattice, merge_lattices
from .local import LocalMessage
from .meanfield import BILATERAL, GAUSSIAN, PermutohedralMessage, dense_crf
from .module import DenseCRF
from .panoptic import refine_panoptic

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
