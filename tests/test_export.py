"""segzoo.export: every recipe exports to every format it declares, with dynamic height and
width, and the artefact gives the eager model's answer (values within 1e-4, the same argmax
labels; panoptic: the same detections and the same fused panoptic map).

Each (recipe, declared format) pair is exported at 64x64 and run at 64x64 and 80x112. The
pairs outside ``FAST`` are marked slow (ONNX and torch.export take 10-150 s per model on a
CPU); run them with ``pytest -m slow tests/test_export.py``.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image

import segzoo
from segzoo.export import (
    EXPORT_FORMATS,
    PANOPTIC_OUTPUTS,
    declared_formats,
    detect_format,
    eager_panoptic_outputs,
    export,
    fuse_panoptic,
    load_exported,
    paste_mask_logits,
    permissive_fuser,
)
from segzoo.models import SemanticModel

RECIPES = segzoo.list_models()
SIZES = ((64, 64), (80, 112))
TINY_PANOPTIC = dict(
    backbone="tiny", num_classes=5, thing_ids=(0, 1, 2), stuff_ids=(3, 4), fpn_channels=32, box_channels=64,
    mask_channels=32, rpn_top_n=(60, 30), detections_per_img=10,
)  # fmt: skip
# Run by default: one recipe in every format (PSPNet: the pyramid pooling that broke ONNX), and
# TorchScript (fast to trace) for every block family and every panoptic variant.
FAST = {
    ("pspnet_r50", "onnx"), ("pspnet_r50", "torch-export"), ("pspnet_r50", "torchscript"),
    ("deeplabv3p_mobilenetv2", "torchscript"), ("danet_r50", "torchscript"), ("ocrnet_hrnet_w18", "torchscript"),
    ("hmsa_deeplabv3p_mobilenetv2", "torchscript"), ("msrefine_r34d8_psp", "torchscript"),
    ("panoptic_se_r50", "torchscript"), ("panoptic_cascade_x101_dcn", "torchscript"), ("upsnet_r50", "torchscript"),
}  # fmt: skip
HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


def tiny(name: str) -> torch.nn.Module:
    info = segzoo.model_info(name)
    if info["task"] == "panoptic":
        return segzoo.build(name, **TINY_PANOPTIC).eval()
    overrides = {"backbone": "tiny"} if "backbone" in info["defaults"] else {}
    return segzoo.build(name, num_classes=5, **overrides).eval()


def _image(size, seed=1):
    return torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(seed))


def _segments(info):
    return [(s["id"], s["category_id"], s["isthing"], s["area"]) for s in info]


def _cases():
    for name in RECIPES:
        for fmt in EXPORT_FORMATS:
            marks = [] if (name, fmt) in FAST else [pytest.mark.slow]
            if fmt == "onnx":
                marks.append(pytest.mark.skipif(not HAS_ONNX, reason="pip install segzoo[export]"))
            yield pytest.param(name, fmt, marks=marks, id=f"{name}-{fmt}")


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_declares_valid_formats(name):
    formats = declared_formats(tiny(name))
    assert formats, f"{name} declares no export format"
    assert set(formats) <= set(EXPORT_FORMATS), formats


@pytest.mark.parametrize(("name", "fmt"), list(_cases()))
def test_declared_format_matches_eager_at_any_size(name, fmt, tmp_path):
    model = tiny(name)
    if fmt not in declared_formats(model):
        pytest.skip(f"{name} does not declare {fmt}")
    path = export(model, tmp_path / f"model.{fmt}", format=fmt, example_size=SIZES[0])
    exported = load_exported(path)
    assert exported.format == fmt and exported.metadata["recipe"] == name
    for size in SIZES:  # the example size and another one: the sizes are dynamic
        x = _image(size)
        if model.task != "panoptic":
            with torch.no_grad():
                expected = model(x)
            got = exported(x)
            torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
            assert torch.equal(got.argmax(1), expected.argmax(1))
            continue
        expected = eager_panoptic_outputs(model, x)
        got = exported(x)
        assert expected[0].shape == (1, 5, *size)
        assert expected[1].shape[0] > 0, "no detections: the comparison would be empty"
        for out_name, e, g in zip(PANOPTIC_OUTPUTS, expected, got):
            torch.testing.assert_close(g, e, atol=1e-4, rtol=0, msg=lambda m, n=out_name: f"{n}: {m}")
        # The fusion after the graph gives predict's panoptic map, with the model's fuser and with
        # a permissive one that keeps the (low-scoring, untrained) detections.
        for fuser in (model.fuser, permissive_fuser(model.fuser)):
            saved, model.fuser = model.fuser, fuser
            try:
                with torch.no_grad():
                    reference = model._predict_batch(x)[0]
            finally:
                model.fuser = saved
            seg, info = fuse_panoptic(got, exported.metadata, fuser=fuser)
            assert torch.equal(seg, reference.panoptic_seg)
            assert _segments(info) == _segments(reference.segments_info)
        assert any(s["isthing"] for s in info), "the permissive fusion should paste instances"


def test_semantic_export_has_dynamic_batch(tmp_path):
    model = tiny("pspnet_r50")
    exported = load_exported(export(model, tmp_path / "m.pt", format="torchscript", example_size=(64, 64)))
    x = torch.randn(3, 3, 72, 40)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model(x), atol=1e-4, rtol=0)


def test_metadata_and_format_detection(tmp_path):
    model = tiny("panoptic_fpn_r50")
    path = export(model, tmp_path / "pan.bin", format="torchscript", example_size=(64, 64))
    assert detect_format(path) == "torchscript"
    meta = load_exported(path).metadata
    assert meta["task"] == "panoptic" and meta["outputs"] == list(PANOPTIC_OUTPUTS)
    assert meta["thing_ids"] == [0, 1, 2] and meta["stuff_ids"] == [3, 4] and meta["num_classes"] == 5
    assert meta["fuser"] == {"name": "heuristic", "options": {
        "score_threshold": 0.5, "mask_threshold": 0.5, "overlap_threshold": 0.5, "stuff_area_limit": 4096}}  # fmt: skip
    assert meta["mean"] == pytest.approx([0.485, 0.456, 0.406]) and meta["dynamic"] is True


def test_unknown_format_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown export format 'tflite'.*'onnx', 'torchscript', 'torch-export'"):
        export(tiny("fcn_r50"), tmp_path / "m", format="tflite")


def test_undeclared_format_says_what_is_supported(tmp_path, monkeypatch):
    monkeypatch.setattr(SemanticModel, "export_formats", ("torchscript",))
    with pytest.raises(ValueError, match=r"fcn_r50 does not declare export format 'onnx'; it supports 'torchscript'"):
        export(tiny("fcn_r50"), tmp_path / "m.onnx", format="onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_missing_onnx_says_how_to_install(tmp_path, monkeypatch):
    import segzoo.export.core as core

    real = importlib.util.find_spec
    monkeypatch.setattr(core.importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install segzoo\[export\]"):
        export(tiny("fcn_r50"), tmp_path / "m.onnx", format="onnx")


def test_opset_only_for_onnx(tmp_path):
    with pytest.raises(ValueError, match="opset only applies"):
        export(tiny("fcn_r50"), tmp_path / "m.pt", format="torchscript", opset=18)


def test_failed_export_leaves_existing_file_and_no_temporaries(tmp_path, monkeypatch):
    import segzoo.export.core as core

    target = tmp_path / "m.pt"
    target.write_bytes(b"previous")

    def broken(graph, example, path, **kwargs):
        path.write_bytes(b"partial")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(core, "_write_torchscript", broken)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export(tiny("fcn_r50"), target, format="torchscript", example_size=(32, 32))
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_export_restores_training_mode(tmp_path):
    model = tiny("fcn_r50").train()
    export(model, tmp_path / "m.pt", format="torchscript", example_size=(32, 32))
    assert model.training


def test_paste_mask_logits_matches_torchvision():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 28, 28, generator=g) * 4
    xy = torch.rand(6, 2, generator=g) * torch.tensor([50.0, 30.0]) - 5
    wh = torch.rand(6, 2, generator=g) * 40 + 0.3
    boxes = torch.cat([xy, xy + wh], 1)
    expected = paste_masks_in_image(logits[:, None], boxes, (37, 53))[:, 0]
    torch.testing.assert_close(paste_mask_logits(logits, boxes, 37, 53), expected, atol=1e-4, rtol=0)
    assert paste_mask_logits(logits[:0], boxes[:0], 37, 53).shape == (0, 37, 53)


def test_scaled_length_rounds_like_python():
    from segzoo.models.multiscale import scaled_length

    for scale in (0.25, 0.5, 0.75, 1.25, 1.5, 1.75, 2.0, 0.3):
        assert [int(scaled_length(n, scale)) for n in range(1, 300)] == [max(1, int(n * scale + 0.5)) for n in range(1, 300)]
