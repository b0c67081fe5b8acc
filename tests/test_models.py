"""Every registered recipe, on CPU with small inputs: shapes, gradients, predict, export."""

from __future__ import annotations

import pytest
import torch
from conftest import build_tiny

import segzoo
from segzoo.export import SemanticExportModule

SEMANTIC = segzoo.list_models(task="semantic")


@pytest.mark.parametrize("name", SEMANTIC)
@pytest.mark.parametrize("size", [(64, 64), (67, 71)])
def test_forward_gives_input_sized_logits(name, size):
    model = build_tiny(name).eval()
    x = torch.randn(2, 3, *size)
    raw = model(x)
    logits = raw.logits
    assert raw.aux == {}  # eval mode: the auxiliary heads are skipped
    assert logits.shape == (2, 5, *size)
    assert torch.isfinite(logits).all()
    model.train()
    if hasattr(model, "train_scales"):  # HMSA trains on other scales than it infers on
        model.train_scales = model.scales
    for m in model.modules():  # training mode with frozen normalisation: same logits, plus the auxiliary ones
        if isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.Dropout, torch.nn.Dropout2d)):
            m.eval()
    out = model(x)
    assert type(out) is type(raw)
    torch.testing.assert_close(out.logits, logits)
    for aux in out.aux.values():
        assert aux.shape == (2, 5, *size)


# The whole real-backbone sweep is slow-marked (pytest -m slow); two recipes stay in the default run.
REAL_BACKBONE_DEFAULT = ("fcn_r50", "ocrnet_hrnet_w18")


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n in REAL_BACKBONE_DEFAULT else pytest.mark.slow) for n in SEMANTIC]
)
def test_real_backbone_forward(name):
    """The recipe as registered (real backbone) gives logits at an odd input size."""
    model = segzoo.build(name, num_classes=4).eval()
    logits = model(torch.randn(1, 3, 67, 71)).logits
    assert logits.shape == (1, 4, 67, 71)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", SEMANTIC)
def test_backward_reaches_every_parameter(name):
    model = build_tiny(name).train()
    x = torch.randn(2, 3, 64, 64)
    target = torch.randint(0, 5, (2, 64, 64))
    target[:, :4] = 255  # some ignored pixels
    losses = model.losses(model(x), target)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    # Reached by the graph. (Blocks initialised as the identity, e.g. DANet's gamma = 0 and the
    # non-local block's zero-initialised norm, give their inner projections a zero gradient at step 0.)
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad}"
    nonzero = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert len(nonzero) >= 0.6 * len(list(model.parameters()))
    assert all(p.grad.abs().sum() > 0 for n, p in model.named_parameters() if n.endswith("classifier.weight"))


@pytest.mark.parametrize("name", SEMANTIC)
def test_batch_of_one_in_train_mode(name):
    # 96 px: the 0.5x stream of multi-scale models still has 2x2 pixels at stride 32 (BatchNorm
    # can't train on one value per channel, in any framework).
    model = build_tiny(name).train()
    out = model(torch.randn(1, 3, 96, 96))
    assert out.logits.shape == (1, 5, 96, 96)


@pytest.mark.parametrize("name", SEMANTIC)
def test_predict_on_images_of_different_sizes(name):
    model = build_tiny(name)
    model.train()
    images = [torch.randint(0, 256, (3, 40, 52), dtype=torch.uint8), torch.randint(0, 256, (3, 33, 29), dtype=torch.uint8)]
    maps = model.predict(images)
    assert [tuple(m.shape) for m in maps] == [(40, 52), (33, 29)]
    assert all(m.dtype == torch.int64 and 0 <= m.min() and m.max() < 5 for m in maps)
    assert model.training, "predict must restore the training mode"
    # Same answer as running forward by hand on the normalised image.
    expected = model.eval()(model.normalize(images[1][None].float() / 255)).logits.argmax(1)[0]
    torch.testing.assert_close(maps[1], expected)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace.*` is deprecated:FutureWarning")
@pytest.mark.parametrize("name", SEMANTIC)
def test_declared_export_formats_work(name):
    model = build_tiny(name).eval()
    x = torch.randn(1, 3, 64, 64)
    expected = model(x).logits
    graph = SemanticExportModule(model)  # what segzoo.export writes: forward's logits
    formats = type(model).export_formats
    assert formats, f"{name} declares no export format"
    if "torchscript" in formats:
        traced = torch.jit.trace(graph, x)
        torch.testing.assert_close(traced(x), expected, rtol=1e-4, atol=1e-4)
    if "torch-export" in formats:
        exported = torch.export.export(graph, (x,))
        torch.testing.assert_close(exported.module()(x), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", SEMANTIC)
def test_in_chans(name):
    model = build_tiny(name, in_chans=4).eval()
    assert model(torch.randn(1, 4, 48, 48)).logits.shape == (1, 5, 48, 48)
    assert model.predict(torch.rand(4, 30, 30)).shape == (30, 30)
