"""Random weights for an upstream layout, drawn reproducibly from a manifest of keys and shapes.

Used where an upstream's checkpoint is too large to commit even at small settings (UPSNet hard-codes
ResNet-50's and its FPN's widths): its golden-file script (``scripts/golden/upsnet_coco.py``) fills the
upstream model with ``seeded_state(manifest, seed)`` and records the manifest and the outputs; the
test rebuilds the same checkpoint from the manifest. NumPy's legacy ``RandomState`` draws the
values (its stream is frozen across NumPy versions), one key after another in manifest order.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import torch

_NORM = re.compile(r"(?:^|\.)(?:bn\d*|downsample\.1|norm)\.(weight|bias|running_mean|running_var)$")


def seeded_state(
    manifest: Sequence[tuple[str, Sequence[int]]], seed: int, *, offset_gain: float = 0.5
) -> dict[str, torch.Tensor]:
    """``{key: tensor}`` for ``manifest`` (``(key, shape)`` pairs): He-normal weights, N(0, 0.1) biases,
    random BatchNorm affines and statistics; weights of keys with ``offset`` in their name (deformable
    convs' offset predictors) get variance ``offset_gain / fan_in`` instead, to keep offsets near a pixel."""
    rng = np.random.RandomState(seed)
    state: dict[str, torch.Tensor] = {}
    for key, shape in manifest:
        shape = tuple(int(s) for s in shape)
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros(shape, dtype=torch.long)
            continue
        norm = _NORM.search(key)
        if norm is not None:
            kind = norm[1]
            if kind in ("weight", "running_var"):
                value = rng.uniform(0.5, 1.0, shape) if kind == "weight" else rng.uniform(0.75, 1.25, shape)
            else:
                value = rng.standard_normal(shape) * 0.1
        elif len(shape) >= 2:
            fan_in = int(np.prod(shape[1:]))
            gain = offset_gain if "offset" in key else 2.0
            value = rng.standard_normal(shape) * math.sqrt(gain / fan_in)
        else:
            value = rng.standard_normal(shape) * 0.1
        state[key] = torch.from_numpy(np.asarray(value, dtype=np.float32))
    return state


def checksums(state: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per-key sums of absolute values (float64), to check a regenerated state is the recorded one."""
    return {k: float(v.double().abs().sum()) for k, v in state.items()}
