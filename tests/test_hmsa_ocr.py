"""HMSA on HRNet-OCR as the authors build it (NVIDIA's ``MscaleOCR``, arXiv:2005.10821): the scale
attention reads OCR's representation, OCR's soft-region logits are fused across scales with the
same attention and supervised (0.4), each training scale's prediction adds 0.05."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import segzoo
from segzoo.fusers import ScaleStream, create_fuser
from segzoo.models import MultiScaleModel


def _tiny_hmsa_ocr(**kwargs):
    return segzoo.build("hmsa_ocrnet_hrnet_w48", backbone="tiny", num_classes=4, **kwargs)


def test_the_attention_reads_ocrs_representation():
    model = _tiny_hmsa_ocr()
    ocr = model.model.decode_head
    assert model.attention_on == "head" and model.fuse_aux
    assert model.fuser.attention[0][0].in_channels == ocr.out_channels == 512
    torch.manual_seed(0)
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        stream = model.run_streams(x, (1.0,))[0]
        features = model.model.extract_features(x)
        expected = ocr(features, with_features=True)
    assert len(stream.features) == 1 and torch.equal(stream.features[0], expected["features"])
    assert torch.equal(stream.logits, expected["logits"])


def test_training_supervises_the_fused_ocr_auxiliary_output_with_nvidias_weights():
    torch.manual_seed(0)
    model = _tiny_hmsa_ocr().train()
    x = torch.randn(2, 3, 64, 64)
    target = torch.randint(0, 4, (2, 64, 64))
    raw = model(x)
    assert set(raw.aux) == {"scale_0.5", "scale_1", "coarse"}
    losses = model.losses(raw, target)
    assert set(losses) == {"loss_seg", "loss_coarse", "loss_scale_0.5", "loss_scale_1"}
    torch.testing.assert_close(losses["loss_coarse"], 0.4 * F.cross_entropy(raw.aux["coarse"], target))
    torch.testing.assert_close(losses["loss_scale_0.5"], 0.05 * F.cross_entropy(raw.aux["scale_0.5"], target))
    torch.testing.assert_close(losses["loss_seg"], F.cross_entropy(raw.logits, target))
    sum(losses.values()).backward()
    assert model.model.decode_head.aux_classifier.weight.grad.abs().sum() > 0  # the OCR auxiliary head trains
    assert model.eval()(x).aux == {}  # predictions skip the auxiliary outputs


def test_auxiliary_logits_are_fused_exactly_like_the_logits():
    torch.manual_seed(0)
    fuser = create_fuser("hmsa", in_channels=6).eval()
    streams = []
    for scale, size in ((0.5, 8), (1.0, 16), (2.0, 32)):
        logits, aux = torch.randn(1, 3, size, size), torch.randn(1, 3, size, size)
        streams.append(ScaleStream(scale, logits, [torch.randn(1, 6, size, size)], {"coarse": aux}))
    with torch.no_grad():
        fused = fuser(streams, (16, 16))
        as_logits = fuser([ScaleStream(s.scale, s.aux["coarse"], s.features) for s in streams], (16, 16))
    torch.testing.assert_close(fused.aux["coarse"], as_logits.logits)
    assert not torch.allclose(fused.aux["coarse"], fused.logits)


def test_attention_on_the_head_and_fused_aux_need_parts_that_support_them():
    base = segzoo.build("fcn_r50", backbone="tiny", num_classes=3)
    with pytest.raises(ValueError, match="provides_features"):
        MultiScaleModel(model=base, fuser=create_fuser("hmsa", in_channels=8), attention_on="head")
    with pytest.raises(ValueError, match="fuse_aux=True needs a fuser"):
        MultiScaleModel(model=base, fuser=create_fuser("avg"), fuse_aux=True)
