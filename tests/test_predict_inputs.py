"""``predict`` input handling: accepted layouts and dtypes, and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import build_tiny


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_tiny("fcn_r50")


def test_uint8_and_float_inputs_agree(model):
    image = torch.randint(0, 256, (3, 36, 44), dtype=torch.uint8)
    from_uint8 = model.predict(image)
    from_float = model.predict(image.float() / 255)
    assert from_uint8.shape == (36, 44)
    torch.testing.assert_close(from_uint8, from_float)


def test_numpy_hwc_input_returns_numpy(model):
    image = torch.randint(0, 256, (3, 36, 44), dtype=torch.uint8)
    result = model.predict(image.permute(1, 2, 0).numpy())
    assert isinstance(result, np.ndarray) and result.shape == (36, 44)
    np.testing.assert_array_equal(result, model.predict(image).numpy())


def test_batch_tensor_returns_list(model):
    batch = torch.rand(3, 3, 32, 32)
    maps = model.predict(batch)
    assert isinstance(maps, list) and len(maps) == 3
    for image, result in zip(batch, maps):
        torch.testing.assert_close(result, model.predict(image))


def test_pil_image(model):
    Image = pytest.importorskip("PIL.Image")
    array = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    result = model.predict(Image.fromarray(array))
    np.testing.assert_array_equal(result, model.predict(array))


@pytest.mark.parametrize(
    "images, error, match",
    [
        (torch.rand(1, 32, 32), ValueError, "expected 3 channels, got 1"),
        (torch.rand(2, 5, 32, 32), ValueError, "expected 3 channels, got 5"),
        (torch.randint(0, 255, (3, 32, 32), dtype=torch.int32), TypeError, "uint8 .* or floating point"),
        (torch.zeros(3, 32, 32, dtype=torch.bool), TypeError, "uint8"),
        (torch.rand(1, 1, 3, 32, 32), ValueError, "Expected one image"),
        (torch.rand(32), ValueError, "Expected one image"),
        (torch.rand(0, 3, 32, 32), ValueError, "empty batch"),
        ([], ValueError, "empty batch"),
        (torch.rand(3, 0, 32), ValueError, "empty image"),
        (torch.full((3, 8, 8), float("nan")), ValueError, "NaN or Inf"),
        ([torch.rand(3, 8, 8), torch.full((3, 8, 8), float("inf"))], ValueError, "Image 1: contains NaN or Inf"),
        (np.zeros((3, 20, 30), dtype=np.uint8), ValueError, "looks like"),
        (np.zeros((20, 30, 3), dtype=np.int64), TypeError, "uint8"),
        ("image.png", TypeError, "takes a tensor"),
    ],
)
def test_bad_inputs_raise_clear_errors(model, images, error, match):
    with pytest.raises(error, match=match):
        model.predict(images)


def test_single_channel_model_accepts_2d(model):
    gray = build_tiny("fcn_r50", in_chans=1)
    assert gray.predict(torch.rand(25, 27)).shape == (25, 27)
    assert gray.predict(np.zeros((25, 27), dtype=np.uint8)).shape == (25, 27)
    with pytest.raises(ValueError, match="expected 3 channels"):
        model.predict(torch.rand(25, 27))
