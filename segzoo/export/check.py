"""Check an exported artefact against the eager model it came from.

Runs both on the same random normalised images at several sizes and compares: semantic
logits (max absolute difference, identical argmax labels); for panoptic models every output
tensor (same number of detections, values within tolerance) and the fused panoptic map of
:func:`segzoo.export.fuse_panoptic` against ``PanopticModel.predict``'s, with the model's
fuser and with a permissive copy of it (score threshold 0, no stuff area limit) so that
instances take part even for an untrained model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from .core import export_graph
from .fusion import fuse_panoptic
from .panoptic import PANOPTIC_OUTPUTS, PanopticExportModule, eager_panoptic_outputs
from .runtime import ExportedModel, load_exported

__all__ = ["ATOL", "RTOL", "comparable", "SizeCheck", "verify_export", "permissive_fuser"]

# Parity tolerance: |exported - eager| <= ATOL + RTOL * |eager| elementwise (torch.allclose's rule).
# The relative part only matters for values above ~1: float32 rounding of large logits (e.g. a
# box coordinate 1 ulp off, amplified through RoIAlign into mask logits of magnitude 4-8).
ATOL = 1e-4
RTOL = 1e-5


def comparable(name: str, t: torch.Tensor) -> torch.Tensor:
    """What is compared for output ``name``: mask logits as mask probabilities (the masks the
    fusion uses; an unbounded logit of 10 carries float32 noise of ~1e-3 after the mask head,
    its probability 5e-8), everything else as is."""
    return torch.sigmoid(t.float()) if name == "mask_logits" else t


def excess(expected: torch.Tensor, got: torch.Tensor, rtol: float = RTOL) -> float:
    """max(|got - expected| - rtol * |expected|): within tolerance when <= ATOL (0 for empty tensors)."""
    if expected.numel() == 0:
        return 0.0
    e, g = expected.double(), got.double()
    return float(((e - g).abs() - rtol * e.abs()).max())


@dataclass
class SizeCheck:
    """The comparison at one input size."""

    size: tuple[int, int]
    max_abs_diff: float = float("nan")
    max_excess: float = float("nan")  # max(|diff| - RTOL * |eager|), compared with ATOL
    labels_equal: bool = False  # semantic argmax, or fused panoptic maps (both fusers)
    detections: int | None = None  # panoptic: detections of the eager model
    error: str | None = None
    details: dict[str, float] = field(default_factory=dict)

    def ok(self, atol: float = ATOL) -> bool:
        return self.error is None and self.labels_equal and self.max_excess <= atol


def permissive_fuser(fuser: nn.Module) -> nn.Module:
    """A copy of a panoptic fuser keeping every detection and stuff segment (for untrained models)."""
    out = copy.deepcopy(fuser)
    for name, value in (("score_threshold", 0.0), ("stuff_area_limit", 0)):
        if hasattr(out, name):
            setattr(out, name, value)
    return out


def _same_segments(a: tuple, b: tuple) -> bool:
    seg_a, info_a = a
    seg_b, info_b = b
    keys = ("id", "category_id", "isthing", "area")
    return torch.equal(seg_a, seg_b) and [[s[k] for k in keys] for s in info_a] == [[s[k] for k in keys] for s in info_b]


def _panoptic_check(model, exported: ExportedModel, x: torch.Tensor, check: SizeCheck) -> None:
    expected = eager_panoptic_outputs(model, x)
    got = exported(x)
    check.detections = int(expected[1].shape[0])
    diffs, excesses = {}, []
    for name, e, g in zip(PANOPTIC_OUTPUTS, expected, got):
        if tuple(e.shape) != tuple(g.shape):
            raise AssertionError(f"{name}: shape {tuple(g.shape)}, eager {tuple(e.shape)}")
        e, g = comparable(name, e), comparable(name, torch.as_tensor(g))
        diffs[name] = float((e.double() - g.double()).abs().max()) if e.numel() else 0.0
        excesses.append(excess(e, g))
    check.details = diffs
    check.max_abs_diff = max(diffs.values())
    check.max_excess = max(excesses)
    meta = {"thing_ids": model.thing_ids, "stuff_ids": model.stuff_ids}
    equal = True
    with torch.no_grad():
        raw = model(x)
    for fuser in (model.fuser, permissive_fuser(model.fuser)):
        # what predict returns for this normalised image: the graph and the fusion (the optional CRF after it is the same code)
        with torch.no_grad():
            reference = model.postprocess(raw, x, fuser=fuser, crf=False)[0]
        fused = fuse_panoptic(got, meta, fuser=fuser)
        equal &= _same_segments(fused, (reference.panoptic_seg, reference.segments_info))
    check.labels_equal = equal


def verify_export(
    model: nn.Module,
    path_or_exported,
    *,
    sizes: Sequence[tuple[int, int]] = ((64, 64), (80, 112)),
    seed: int = 0,
) -> list[SizeCheck]:
    """Compare an exported artefact with ``model`` at each of ``sizes`` (one image each)."""
    exported = path_or_exported if isinstance(path_or_exported, ExportedModel) else load_exported(path_or_exported)
    was_training = model.training
    model.eval()
    results = []
    try:
        for size in sizes:
            check = SizeCheck(size=(int(size[0]), int(size[1])))
            generator = torch.Generator().manual_seed(seed)
            x = torch.randn(1, model.in_chans, *check.size, generator=generator).to(model.pixel_mean.device)
            try:
                graph, _ = export_graph(model)
                if isinstance(graph, PanopticExportModule):
                    _panoptic_check(model, exported, x, check)
                else:
                    with torch.no_grad():
                        expected, got = graph(x), exported(x)
                    if tuple(got.shape) != tuple(expected.shape):
                        raise AssertionError(f"logits of shape {tuple(got.shape)}, eager {tuple(expected.shape)}")
                    check.max_abs_diff = float((expected.double() - got.double()).abs().max())
                    check.max_excess = excess(expected, got)
                    check.labels_equal = torch.equal(expected.argmax(1), got.argmax(1))
            except Exception as exc:  # reported, not raised: the matrix lists what fails
                check.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            results.append(check)
    finally:
        model.train(was_training)
    return results
