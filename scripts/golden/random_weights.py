"""Random weights for the golden-file scripts whose upstreams initialise near zero (HRNet's std 0.001):
He-normal convs, small random biases and random BatchNorm statistics, drawn from ``generator``.

Imported by the scripts next to it (``hrnet_ocr.py``, ``nvidia_hmsa.py``); torch only.
"""

from __future__ import annotations

import math

import torch


def he_normal_with_random_norms(model: torch.nn.Module, generator: torch.Generator) -> None:
    """In place: every non-empty conv He-normal (bias N(0, 0.1)), every BatchNorm's affine and statistics random."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d) and module.weight.numel():
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * math.sqrt(2.0 / fan_in))
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
            elif isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) * 0.5 + 0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) * 0.5 + 0.75)
