"""segzoo.export: every recipe exports to every format it declares, with dynamic height and
width, and the artefact gives the eager model's answer (values within 1e-4, the same argmax
labels; panoptic: the same detections and the same fused panoptic map).

Each (recipe, declared format) pair is exported at 64x64 and run at 64x64 and 80x112. The
pairs outside ``FAST`` are marked slow (ONNX and torch.export take 10-150 s per model on a
CPU); run them with ``pytest -m slow tests/test_export.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from conftest import build_tiny
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
from segzoo.export.check import ATOL, RTOL, comparable
from segzoo.models import SemanticModel

RECIPES = segzoo.list_models()
SIZES = ((64, 64), (80, 112))
# Panoptic recipes: build_tiny's defaults with wider heads and more proposals; semantic ones take build_tiny's as is
PANOPTIC_OVERRIDES = dict(fpn_channels=32, box_channels=64, mask_channels=32, rpn_top_n=(60, 30), detections_per_img=10)
OVERRIDES = dict.fromkeys(segzoo.list_models(task="panoptic"), PANOPTIC_OVERRIDES)  # by recipe name
# Run by default: PSPNet to ONNX (the pyramid pooling that broke ONNX), one torch.export, and
# TorchScript (fast to trace) for the block families and the panoptic variants.
FAST = {
    ("pspnet_r50", "onnx"), ("fcn_r50", "torch-export"), ("pspnet_r50", "torchscript"),
    ("deeplabv3p_mobilenetv2", "torchscript"), ("danet_r50", "torchscript"), ("ocrnet_hrnet_w18", "torchscript"),
    ("hmsa_deeplabv3p_mobilenetv2", "torchscript"), ("msrefine_r34d8_psp", "torchscript"),
    ("panoptic_se_r50", "torchscript"), ("panoptic_cascade_x101_dcn", "torchscript"), ("upsnet_r50", "torchscript"),
}  # fmt: skip
HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


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
    formats = declared_formats(build_tiny(name, **OVERRIDES.get(name, {})).eval())
    assert formats, f"{name} declares no export format"
    assert set(formats) <= set(EXPORT_FORMATS), formats


@pytest.mark.parametrize(("name", "fmt"), list(_cases()))
def test_declared_format_matches_eager_at_any_size(name, fmt, tmp_path):
    model = build_tiny(name, **OVERRIDES.get(name, {})).eval()
    if fmt not in declared_formats(model):
        pytest.skip(f"{name} does not declare {fmt}")
    path = export(model, tmp_path / f"model.{fmt}", format=fmt, example_size=SIZES[0])
    exported = load_exported(path)
    assert exported.format == fmt and exported.metadata["recipe"] == name
    for size in SIZES:  # the example size and another one: the sizes are dynamic
        x = _image(size)
        if model.task != "panoptic":
            x = torch.cat([x, _image(size, seed=2)]) if size != SIZES[0] else x  # and so is a semantic batch
            with torch.no_grad():
                expected = model(x).logits
            got = exported(x)
            torch.testing.assert_close(got, expected, atol=ATOL, rtol=RTOL)
            _assert_same_labels_where_decided(got, expected)
            continue
        expected = eager_panoptic_outputs(model, x)
        got = exported(x)
        assert expected[0].shape == (1, 5, *size)
        assert expected[1].shape[0] > 0, "no detections: the comparison would be empty"
        for out_name, e, g in zip(PANOPTIC_OUTPUTS, expected, got):  # mask logits compared as probabilities
            torch.testing.assert_close(comparable(out_name, g), comparable(out_name, e), atol=ATOL, rtol=RTOL,
                                       msg=lambda m, n=out_name: f"{n}: {m}")  # fmt: skip
        # The fusion after the graph gives predict's panoptic map, with the model's fuser and with
        # a permissive one that keeps the (low-scoring, untrained) detections.
        # (Without the optional CRF after the fusion: test_exported_fusion_runs_the_models_crf covers it.)
        for fuser in (model.fuser, permissive_fuser(model.fuser)):
            with torch.no_grad():
                reference = model.postprocess(model(x), x, fuser=fuser, crf=False)[0]
            seg, info = fuse_panoptic(got, exported.metadata, fuser=fuser, crf=False)
            assert torch.equal(seg, reference.panoptic_seg)
            assert _segments(info) == _segments(reference.segments_info)
        assert any(s["isthing"] for s in info), "the permissive fusion should paste instances"


def _assert_same_labels_where_decided(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Identical argmax wherever eager's top-2 margin exceeds twice the tolerance: random weights give
    near-tied pixels, where a difference inside the tolerance may legitimately flip the label."""
    top2 = expected.topk(2, dim=1).values
    decided = (top2[:, 0] - top2[:, 1]) > 2 * (ATOL + RTOL * top2[:, 0].abs())
    assert decided.float().mean() > 0.9, "too many near ties to compare labels"
    assert torch.equal(got.argmax(1)[decided], expected.argmax(1)[decided])


@pytest.mark.parametrize(
    "fmt", ["torchscript", "torch-export", pytest.param("onnx", marks=[pytest.mark.slow, pytest.mark.skipif(not HAS_ONNX, reason="no onnx")])]
)
def test_panoptic_export_with_zero_and_one_detection(fmt, tmp_path):
    """NMS may keep 0 or 1 boxes (torchvision's fake nms claims >= 2, which torch.export would assert)."""
    model = build_tiny("panoptic_fpn_r50", **PANOPTIC_OVERRIDES).eval()
    x = _image((64, 64))
    scores = eager_panoptic_outputs(model, x)[2]
    assert scores.shape[0] >= 2
    for threshold, count in ((0.999, 0), (float(scores[:2].mean()), 1)):  # between the two best: one survives
        model.roi_heads.score_thresh = threshold
        exported = load_exported(export(model, tmp_path / f"{count}.{fmt}", format=fmt, example_size=(64, 64)))
        expected, got = eager_panoptic_outputs(model, x), exported(x)
        assert expected[1].shape[0] == got[1].shape[0] == count
        for out_name, e, g in zip(PANOPTIC_OUTPUTS, expected, got):
            torch.testing.assert_close(comparable(out_name, g), comparable(out_name, e), atol=ATOL, rtol=RTOL)
        seg, info = fuse_panoptic(got, exported.metadata, fuser=permissive_fuser(model.fuser))
        assert seg.shape == (64, 64) and sum(s["isthing"] for s in info) <= count


def test_semantic_export_has_dynamic_batch(tmp_path):
    model = build_tiny("pspnet_r50").eval()
    exported = load_exported(export(model, tmp_path / "m.pt", format="torchscript", example_size=(64, 64)))
    x = torch.randn(3, 3, 72, 40)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), model(x).logits, atol=1e-4, rtol=0)


def test_metadata_and_format_detection(tmp_path):
    model = build_tiny("panoptic_fpn_r50", **PANOPTIC_OVERRIDES).eval()
    path = export(model, tmp_path / "pan.bin", format="torchscript", example_size=(64, 64))
    assert detect_format(path) == "torchscript"
    meta = load_exported(path).metadata
    assert meta["task"] == "panoptic" and meta["outputs"] == list(PANOPTIC_OUTPUTS)
    assert meta["thing_ids"] == [0, 1, 2] and meta["stuff_ids"] == [3, 4] and meta["num_classes"] == 5
    assert meta["fuser"] == {"name": "heuristic", "options": {
        "score_threshold": 0.5, "mask_threshold": 0.5, "overlap_threshold": 0.5, "stuff_area_limit": 4096}}  # fmt: skip
    assert meta["mean"] == pytest.approx([0.485, 0.456, 0.406]) and meta["dynamic"] is True


def test_docs_fusion_function_gives_predicts_map(tmp_path):
    """The post-export fusion shown in docs/export.md runs as written and gives predict's result."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "export.md").read_text()
    block = next(b for b in docs.split("```python")[1:] if "def fuse_panoptic" in b).split("```")[0]
    namespace: dict = {}
    exec(block.split("\nexported = ")[0], namespace)  # the imports and the function
    model = build_tiny("panoptic_se_r50", **PANOPTIC_OVERRIDES).eval()
    exported = load_exported(export(model, tmp_path / "pan.pt", format="torchscript", example_size=(64, 64)))
    x = _image((72, 88))
    seg, info = namespace["fuse_panoptic"](exported(x), exported.metadata)
    with torch.no_grad():
        reference = model.postprocess(model(x), x)[0]
    assert torch.equal(seg, reference.panoptic_seg) and _segments(info) == _segments(reference.segments_info)


def test_unknown_format_lists_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown export format 'tflite'.*'onnx', 'torchscript', 'torch-export'"):
        export(build_tiny("fcn_r50").eval(), tmp_path / "m", format="tflite")


def test_undeclared_format_says_what_is_supported(tmp_path, monkeypatch):
    monkeypatch.setattr(SemanticModel, "export_formats", ("torchscript",))
    with pytest.raises(ValueError, match=r"fcn_r50 does not declare export format 'onnx'; it supports 'torchscript'"):
        export(build_tiny("fcn_r50").eval(), tmp_path / "m.onnx", format="onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_missing_onnx_says_how_to_install(tmp_path, monkeypatch):
    import segzoo.export.core as core

    real = importlib.util.find_spec
    monkeypatch.setattr(core.importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install segzoo\[export\]"):
        export(build_tiny("fcn_r50").eval(), tmp_path / "m.onnx", format="onnx")


def test_non_segzoo_module_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="segzoo model"):
        export(torch.nn.Conv2d(3, 3, 1), tmp_path / "m.pt", format="torchscript")


def test_opset_only_for_onnx(tmp_path):
    with pytest.raises(ValueError, match="opset only applies"):
        export(build_tiny("fcn_r50").eval(), tmp_path / "m.pt", format="torchscript", opset=18)


def test_failed_export_leaves_existing_file_and_no_temporaries(tmp_path, monkeypatch):
    import segzoo.export.core as core

    target = tmp_path / "m.pt"
    target.write_bytes(b"previous")

    def broken(graph, example, path, **kwargs):
        path.write_bytes(b"partial")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(core, "_write_torchscript", broken)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export(build_tiny("fcn_r50").eval(), target, format="torchscript", example_size=(32, 32))
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_export_restores_training_mode(tmp_path):
    model = build_tiny("fcn_r50").train()
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


def test_exported_fusion_runs_the_models_crf(tmp_path):
    """fuse_panoptic(..., image=) applies the CRF the artefact's model ran in predict (seed 002's recipe)."""
    model = build_tiny("panoptic_cascade_x101_dcn", **PANOPTIC_OVERRIDES).eval()
    exported = load_exported(export(model, tmp_path / "c.pt", format="torchscript", example_size=(64, 64)))
    assert exported.metadata["crf"] == {}
    image = (torch.rand(3, 64, 80, generator=torch.Generator().manual_seed(5)) * 255).to(torch.uint8)
    outputs = exported(model.normalize(image[None].float() / 255))
    seg, info = fuse_panoptic(outputs, exported.metadata, image=image)
    reference = model.predict(image)
    assert torch.equal(seg, reference.panoptic_seg) and _segments(info) == _segments(reference.segments_info)
    plain, _ = fuse_panoptic(outputs, exported.metadata, image=image, crf=False)
    assert torch.equal(plain, model.predict(image, crf=False).panoptic_seg)


def test_network_outputs_stop_where_forward_does(tmp_path):
    """``panoptic_outputs="network"``: the stride-4 semantic logits and the detections of ``forward``
    (what ``optimize(backend="onnxruntime")`` runs before the model's own ``postprocess``)."""
    from segzoo.export import NETWORK_OUTPUTS, PanopticExportModule

    model = build_tiny("panoptic_se_r50", **PANOPTIC_OVERRIDES).eval()
    x = _image((60, 76))
    with torch.no_grad():
        raw = model(x)
        got = PanopticExportModule(model, outputs="network")(x)
    det = raw.detections[0]
    expected = (raw.sem_logits, det["boxes"], det["scores"], det["labels"], det["mask_logits"])
    assert got[0].shape == (1, 5, 64 // 4, 96 // 4) and len(got) == len(NETWORK_OUTPUTS) == 5  # padded to 64 x 96
    assert expected[1].shape[0] > 0, "no detections: the comparison would be empty"
    for out_name, e, g in zip(NETWORK_OUTPUTS, expected, got):
        torch.testing.assert_close(comparable(out_name, g), comparable(out_name, e), atol=ATOL, rtol=RTOL)
    path = export(model, tmp_path / "net.pt", format="torchscript", example_size=(64, 64), panoptic_outputs="network")
    exported = load_exported(path)
    assert exported.metadata["outputs"] == list(NETWORK_OUTPUTS)
    torch.testing.assert_close(exported(x)[0], raw.sem_logits, atol=ATOL, rtol=RTOL)
    with pytest.raises(ValueError, match="outputs must be one of"):
        PanopticExportModule(model, outputs="semantic")
