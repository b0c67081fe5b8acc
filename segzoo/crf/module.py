"""``DenseCRF``: the dense CRF as a trainable layer (CRF-as-RNN).

Zheng et al., "Conditional Random Fields as Recurrent Neural Networks" (arXiv:1502.03240):
the mean-field iterations of Krahenbuhl & Koltun's fully connected CRF (arXiv:1210.5644)
are unrolled as differentiable layers, so the kernel weights and the label compatibility
can be learned end to end with the network. The kernel widths (sxy, srgb) stay fixed: the
permutohedral lattice is built from them and is not differentiable in them. Unlike
CRF-as-RNN's Caffe layer, any batch size and image size work.
"""

from __future__ import annotations

import torch
from torch import nn

from .meanfield import METHODS, dense_crf

__all__ = ["DenseCRF"]


class DenseCRF(nn.Module):
    """Mean-field dense CRF over (B, K, H, W) scores and (B, 3, H, W) images.

    Args:
        num_classes: K; needed only with ``learn_compat``.
        iterations: mean-field steps (CRF-as-RNN trains with 5 and tests with 10).
        gaussian_sxy, gaussian_weight: appearance-free kernel width (px) and initial weight.
        bilateral_sxy, bilateral_srgb, bilateral_weight: appearance kernel widths (px, 0-255
            colour units) and initial weight.
        learn_weights: the two kernel weights are ``nn.Parameter`` s.
        learn_compat: learn a (K, K) compatibility (energy) matrix, initialised to Potts
            (1 - identity); otherwise the fixed Potts model.
        method, window, blur, input: as in ``dense_crf``.

    ``forward(unary, image)`` returns refined probabilities (same structure as ``unary``).
    """

    def __init__(
        self,
        *,
        num_classes: int | None = None,
        iterations: int = 5,
        gaussian_sxy: float = 3.0,
        gaussian_weight: float = 3.0,
        bilateral_sxy: float = 80.0,
        bilateral_srgb: float = 13.0,
        bilateral_weight: float = 10.0,
        learn_weights: bool = True,
        learn_compat: bool = False,
        method: str = "permutohedral",
        window: int = 11,
        blur: int = 4,
        input: str = "logits",
    ):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if learn_compat and (not isinstance(num_classes, int) or num_classes < 2):
            raise ValueError("learn_compat=True needs num_classes >= 2 (the compatibility is K x K), "
                             f"got {num_classes!r}")
        self.num_classes, self.iterations = num_classes, iterations
        self.gaussian_sxy, self.bilateral_sxy, self.bilateral_srgb = gaussian_sxy, bilateral_sxy, bilateral_srgb
        self.method, self.window, self.blur, self.input = method, window, blur, input
        self.gaussian_weight = nn.Parameter(torch.tensor(float(gaussian_weight)), requires_grad=learn_weights)
        self.bilateral_weight = nn.Parameter(torch.tensor(float(bilateral_weight)), requires_grad=learn_weights)
        if learn_compat:
            self.compat = nn.Parameter(1.0 - torch.eye(num_classes))
        else:
            self.register_parameter("compat", None)

    def forward(self, unary, image):
        return dense_crf(
            unary,
            image,
            iterations=self.iterations,
            gaussian=dict(sxy=self.gaussian_sxy, compat=self.gaussian_weight),
            bilateral=dict(sxy=self.bilateral_sxy, srgb=self.bilateral_srgb, compat=self.bilateral_weight),
            compat="potts" if self.compat is None else self.compat,
            input=self.input,
            method=self.method,
            window=self.window,
            blur=self.blur,
        )

    def extra_repr(self) -> str:
        return (f"iterations={self.iterations}, gaussian_sxy={self.gaussian_sxy}, bilateral_sxy={self.bilateral_sxy}, "
                f"bilateral_srgb={self.bilateral_srgb}, method={self.method!r}, "
                f"compat={'potts' if self.compat is None else 'learned'}")
