"""Property-based tests of ``predict``'s input handling (segzoo.models.inputs) on a tiny FCN.

Hypothesis generates what users pass to ``predict``: tensors and numpy arrays of every
dtype, rank and layout (HW, HWC, CHW, BCHW, BHWC, wrong channel counts, rank 1 and 5),
values in and outside 0-1, NaN/Inf, zero-size images, lists of mixed sizes and types.
An oracle written from ``predict``'s documented contract says, for each input, either the
results it must give (one ``(H, W)`` int64 label map per image, numpy for numpy input,
labels equal to the argmax of ``forward`` on the image scaled to 0-1) or the error
(``ValueError`` / ``TypeError`` with a message saying what was expected and naming the image).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from conftest import build_tiny
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

NUM_CLASSES = 5
MAX_SIDE = 48

# 300 examples per test run in ~10 s here; derandomize keeps CI deterministic.
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_MODELS: dict[int, torch.nn.Module] = {}


def tiny_model(in_chans: int) -> torch.nn.Module:
    """One tiny FCN per input channel count, in eval mode (the reference forward needs BN statistics)."""
    if in_chans not in _MODELS:
        torch.manual_seed(0)
        _MODELS[in_chans] = build_tiny("fcn_r50", in_chans=in_chans, num_classes=NUM_CLASSES).eval()
    return _MODELS[in_chans]


# ----------------------------------------------------------------------------- the oracle


@dataclass
class Expected:
    """What ``predict`` must do with one input: results (``images``) or one of ``errors``."""

    images: list[torch.Tensor] = field(default_factory=list)  # (C, H, W) float32 0-1 per valid image
    single: bool = False
    as_numpy: bool = False
    # Acceptable (exception type, message regex) pairs; empty means predict must succeed.
    errors: list[tuple[type, str]] = field(default_factory=list)


_FLOAT_TORCH = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _item_problems(item: Any, index: int, in_chans: int) -> tuple[list[tuple[type, str]], torch.Tensor | None]:
    """The documented errors one image may raise (any one of them is right), or its 0-1 float32 ``(C, H, W)``."""
    tag = rf"Image {index}\b"
    if isinstance(item, np.ndarray):
        if item.ndim not in (2, 3):
            return [(ValueError, tag + r".*\(H, W, C\) or \(H, W\)")], None
        hwc = item[:, :, None] if item.ndim == 2 else item
        native = hwc.dtype.newbyteorder("=")  # big-endian pixels are the same values
        chw = torch.from_numpy(np.array(hwc, dtype=native)).permute(2, 0, 1)
        dtype_ok = native in (np.uint8, np.float16, np.float32, np.float64)
    elif isinstance(item, torch.Tensor):
        if item.ndim not in (2, 3):
            return [(ValueError, tag + r".*\(C, H, W\) or \(H, W\)")], None
        chw = item[None] if item.ndim == 2 else item
        dtype_ok = chw.dtype == torch.uint8 or chw.dtype in _FLOAT_TORCH
    else:
        return [(TypeError, tag + r".*expected a torch.Tensor, numpy array or PIL image")], None
    problems = []
    channels, height, width = chw.shape
    if channels != in_chans:
        problems.append((ValueError, tag + rf".*(expected {in_chans} channels|looks like \(C, H, W\))"))
    if height == 0 or width == 0:
        problems.append((ValueError, tag + r".*empty image"))
    if not dtype_ok:
        problems.append((TypeError, tag + r".*expected uint8 \(0-255\) or float"))
    if problems:
        return problems, None
    if chw.dtype == torch.uint8:
        return [], chw.float() / 255
    if not torch.isfinite(chw).all():
        return [(ValueError, tag + r".*NaN or Inf")], None
    as_float = chw.float()
    if not torch.isfinite(as_float).all():  # finite float64 beyond float32's range
        return [(ValueError, tag + r".*too large for float32")], None
    return [], as_float


def expected_outcome(images: Any, in_chans: int) -> Expected:
    """The documented behaviour of ``predict(images)`` for a model with ``in_chans`` channels."""
    if isinstance(images, (list, tuple)):
        items, single = list(images), False
    elif isinstance(images, (torch.Tensor, np.ndarray)):
        if images.ndim == 4:
            items, single = list(images), False
        elif images.ndim in (2, 3):
            items, single = [images], True
        else:
            return Expected(errors=[(ValueError, r"Expected one image .* got an array of shape")])
    else:
        return Expected(errors=[(TypeError, r"predict\(\) takes a tensor, numpy array, PIL image or a list")])
    if not items:
        return Expected(errors=[(ValueError, r"empty batch: pass at least one image")])
    prepared = []
    for index, item in enumerate(items):
        problems, image = _item_problems(item, index, in_chans)
        if problems:
            return Expected(errors=problems)
        prepared.append(image)
    as_numpy = all(isinstance(item, np.ndarray) for item in items)
    return Expected(images=prepared, single=single, as_numpy=as_numpy)


# ----------------------------------------------------------------------------- generators

_NUMPY_DTYPES = ["uint8", "float16", "float32", "float64", "bool", "int8", "uint16", "int32", "int64", ">f4", ">f8"]
_TORCH_DTYPES = [
    torch.uint8, torch.float16, torch.bfloat16, torch.float32, torch.float64,
    torch.bool, torch.int8, torch.int16, torch.int32, torch.int64,
]
_VALUE_RANGES = {"unit": (0.0, 1.0), "byte": (0.0, 255.0), "signed": (-3.0, 3.0), "large": (-1e6, 1e6)}


@st.composite
def pixel_array(draw, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Random pixels of ``shape`` and ``dtype``: a value range, then optional NaN/Inf/huge entries."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -1000), min(info.max, 1000), shape, endpoint=True).astype(dtype)
    low, high = _VALUE_RANGES[draw(st.sampled_from(sorted(_VALUE_RANGES)))]
    values = rng.uniform(low, high, shape)
    if values.size and draw(st.integers(0, 5)) == 0:
        special = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e39, -1e300]))
        values.reshape(-1)[draw(st.integers(0, values.size - 1))] = special
    with np.errstate(over="ignore"):  # 1e39 is Inf in float16/32: what such an array holds
        return values.astype(dtype)


@st.composite
def image_shape(draw, in_chans: int, layout: str, *, well_formed: bool) -> tuple[int, ...]:
    """A shape for ``layout`` ("hw", "chw", "hwc", "rank1", "rank5"): sides up to 48 (sometimes 0
    unless ``well_formed``), the model's channel count if ``well_formed``, else any of 1-4."""
    empty_ok = not well_formed and draw(st.integers(0, 4)) == 0
    side = st.integers(0 if empty_ok else 1, MAX_SIDE)
    h, w = draw(side), draw(side)
    c = in_chans if well_formed else draw(st.sampled_from([in_chans, 1, 2, 3, 4]))
    return {
        "hw": (h, w),
        "chw": (c, h, w),
        "hwc": (h, w, c),
        "rank1": (w,),
        "rank5": (1, 1, c, h, w),
    }[layout]


@st.composite
def one_image(draw, in_chans: int, *, kind: str | None = None) -> Any:
    """One image as a tensor or numpy array, or a non-image.

    Half are well formed (the documented layout, the model's channel count, a supported
    dtype, non-empty) with any values (outside 0-1, NaN, Inf); the rest vary everything.
    """
    kind = kind or draw(st.sampled_from(["tensor"] * 5 + ["numpy"] * 5 + ["other"]))
    if kind == "other":
        return draw(st.sampled_from([None, "image.png", 3.0, [[0.5, 0.5]]]))
    well_formed = draw(st.booleans())
    if kind == "tensor":
        if well_formed:
            layout = "hw" if in_chans == 1 and draw(st.booleans()) else "chw"
            dtype = draw(st.sampled_from(_TORCH_DTYPES[:5]))
        else:
            layout = draw(st.sampled_from(["chw"] * 3 + ["hw", "hwc", "rank1", "rank5"]))
            dtype = draw(st.sampled_from(_TORCH_DTYPES))
        shape = draw(image_shape(in_chans, layout, well_formed=well_formed))
        base = "float64" if dtype.is_floating_point else ("bool" if dtype == torch.bool else "int64")
        array = draw(pixel_array(shape, base))
        if dtype == torch.uint8:
            array = np.clip(array, 0, 255)
        with np.errstate(invalid="ignore"):
            return torch.from_numpy(np.asarray(array)).to(dtype)
    if well_formed:
        layout = "hw" if in_chans == 1 and draw(st.booleans()) else "hwc"
        dtype = draw(st.sampled_from(["uint8", "float16", "float32", "float64", ">f4", ">f8"]))
    else:
        layout = draw(st.sampled_from(["hwc"] * 3 + ["hw", "chw", "rank1", "rank5"]))
        dtype = draw(st.sampled_from(_NUMPY_DTYPES))
    array = draw(pixel_array(draw(image_shape(in_chans, layout, well_formed=well_formed)), dtype))
    if draw(st.integers(0, 4)) == 0 and array.ndim >= 2:
        array = array[::-1]  # negative strides, as flipping with numpy gives
    return array


@st.composite
def predict_input(draw, in_chans: int) -> Any:
    """What users pass to predict: one image, a 4-D batch, or a list/tuple of images."""
    form = draw(st.sampled_from(["single"] * 4 + ["batch"] * 2 + ["list"] * 3 + ["other"]))
    if form == "single":
        return draw(one_image(in_chans))
    if form == "other":
        return draw(st.sampled_from([None, "image.png", 3, {"image": 0}]))
    if form == "batch":
        kind = draw(st.sampled_from(["tensor", "numpy"]))
        first = draw(one_image(in_chans, kind=kind))
        n = draw(st.integers(0, 3))
        if first.ndim != 3:
            return first
        if kind == "tensor":
            return torch.stack([first] * n) if n else first.new_zeros((0, *first.shape))
        return np.stack([first] * n) if n else np.zeros((0, *first.shape), dtype=first.dtype)
    items = draw(st.lists(one_image(in_chans), min_size=0, max_size=3))
    return tuple(items) if draw(st.booleans()) else items


# ----------------------------------------------------------------------------- the property


def check_predict(model: torch.nn.Module, images: Any, batch_size: int) -> None:
    expected = expected_outcome(images, model.in_chans)
    event("error" if expected.errors else "results")  # --hypothesis-show-statistics shows the mix
    if expected.errors:
        with pytest.raises((ValueError, TypeError)) as info:
            model.predict(images, batch_size=batch_size)
        message = str(info.value)
        event(f"{type(info.value).__name__}: {re.sub(r'[0-9(].*', '', message.split(': ', 1)[-1])[:40]}")
        assert any(
            isinstance(info.value, kind) and re.search(pattern, message, re.S) for kind, pattern in expected.errors
        ), f"unexpected {type(info.value).__name__}: {message!r}; expected one of {expected.errors}"
        return
    results = model.predict(images, batch_size=batch_size)
    if expected.single:
        results = [results]
    assert isinstance(results, list) and len(results) == len(expected.images)
    for image, result in zip(expected.images, results):
        assert isinstance(result, np.ndarray if expected.as_numpy else torch.Tensor)
        labels = torch.as_tensor(result)
        assert labels.dtype == torch.int64 and labels.shape == image.shape[-2:]
        assert int(labels.min()) >= 0 and int(labels.max()) < NUM_CLASSES
        # The label is the argmax of forward on the 0-1 image (a batched forward may differ in
        # the last bits, so ties within 1e-4 may go either way).
        with torch.no_grad():
            logits = model(model.normalize(image[None])).logits[0]  # (K, H, W)
        chosen = logits.gather(0, labels[None])[0]
        best = logits.max(dim=0).values
        finite = torch.isfinite(best)
        assert torch.all(chosen[finite] >= best[finite] - 1e-4)


@SETTINGS
@given(images=predict_input(3), batch_size=st.integers(1, 3))
@example(images=torch.rand(3, 1, 1), batch_size=1)  # 1x1 image
@example(images=np.zeros((2, 2, 3), dtype=">f4"), batch_size=1)  # big-endian float32 numpy
@example(images=[np.zeros((3, 3, 3), dtype=np.uint8), torch.rand(3, 5, 7)], batch_size=1)  # mixed list
@example(images=np.zeros((1, 1, 3), dtype=np.uint8)[::-1], batch_size=1)  # flipped 1-pixel-high view
@example(images=torch.full((3, 2, 2), -1e300, dtype=torch.float64), batch_size=1)  # was "contains NaN or Inf"
def test_predict_rgb_model_results_or_clear_errors(images, batch_size):
    check_predict(tiny_model(3), images, batch_size)


@SETTINGS
@given(images=predict_input(1), batch_size=st.integers(1, 3))
def test_predict_single_channel_model_results_or_clear_errors(images, batch_size):
    check_predict(tiny_model(1), images, batch_size)


@SETTINGS
@given(batch_size=st.one_of(st.integers(-3, 0), st.sampled_from([1.5, "2", None])))
@example(batch_size=1.5)  # was "'float' object cannot be interpreted as an integer" from range()
@example(batch_size="2")  # was "'<' not supported between instances of 'str' and 'int'"
def test_bad_batch_size_is_a_clear_error(batch_size):
    with pytest.raises((ValueError, TypeError), match=r"batch_size must be"):
        tiny_model(3).predict(torch.rand(3, 8, 8), batch_size=batch_size)
