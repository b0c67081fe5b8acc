"""Every failure a user can cause gives one stderr line in CLI terms, exit 2 (130 for Ctrl-C), and no
partial output file. Table-driven: each case builds its inputs, runs ``segzoo.cli.main`` and checks
the line, the exit code and the output folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segzoo
from segzoo.cli import main

TINY = ["--set", "backbone=tiny", "--set", "num_classes=3", "--device", "cpu", "--no-progress"]


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """Inputs for the cases: a photo, a broken image, weights of several kinds, an out folder."""
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(photo)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    saved = tmp_path / "saved"
    segzoo.save(segzoo.build("fcn_r50", backbone="tiny", num_classes=3), saved)
    pth = tmp_path / "model.pth"
    torch.save(segzoo.build("fcn_r50", backbone="tiny", num_classes=3).state_dict(), pth)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes((saved / "model.safetensors").read_bytes()[:100])
    bad_json = tmp_path / "cats.json"
    bad_json.write_text("{not json")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    return {"photo": photo, "broken": broken, "saved": saved, "pth": pth, "truncated": truncated,
            "bad_json": bad_json, "a_file": a_file, "out": tmp_path / "out", "tmp": tmp_path}  # fmt: skip


def _predict(f, *extra):
    return ["predict", str(f["photo"]), "--out", str(f["out"]), *extra]


CASES = {
    # name: (argv builder, expected fragments of the one error line)
    "unknown model": (lambda f: _predict(f, "--model", "fcnn_r50"), ["Unknown model 'fcnn_r50'", "segzoo list"]),
    "mismatched weights": (
        lambda f: _predict(f, "--model", "deeplabv3_r50", "--weights", str(f["saved"] / "model.safetensors"), *TINY),
        ["does not match", "--model and --set options"],
    ),
    "pth weights": (lambda f: _predict(f, "--model", "fcn_r50", "--weights", str(f["pth"]), *TINY),
                    ["not a readable safetensors file", "model.safetensors"]),  # fmt: skip
    "truncated weights": (lambda f: _predict(f, "--model", "fcn_r50", "--weights", str(f["truncated"]), *TINY),
                          ["not a readable safetensors file", "truncated"]),  # fmt: skip
    "missing weights": (lambda f: _predict(f, "--model", "fcn_r50", "--weights", str(f["tmp"] / "nope"), *TINY),
                        ["not found"]),  # fmt: skip
    "folder without config": (lambda f: _predict(f, "--weights", str(f["tmp"])), ["has no config.json"]),
    "unavailable cuda device": (lambda f: ["predict", str(f["photo"]), "--out", str(f["out"]), "--model", "fcn_r50",
                                           "--set", "backbone=tiny", "--device", "cuda:99"],
                                ["--device cuda:99"]),  # fmt: skip
    "unknown device": (lambda f: _predict(f, "--model", "fcn_r50", "--set", "backbone=tiny", "--device", "tpu"),
                       ["--device", "cpu, cuda"]),  # fmt: skip
    "no published weights (--set pretrained)": (
        lambda f: _predict(f, "--model", "ainnoseg_hrnet_w48", "--set", "pretrained=true", *TINY),
        ["no published weights yet", "--weights PATH"],
    ),
    "no published weights (tag)": (lambda f: _predict(f, "--model", "ainnoseg_hrnet_w48.coco", *TINY),
                                   ["no published weights yet", "--weights PATH"]),  # fmt: skip
    "offline backbone download": (
        lambda f: _predict(f, "--model", "fcn_r50", "--set", "pretrained_backbone=true", "--set", "backbone=resnet18"),
        ["not reachable", "--set backbone_weights=PATH"],
    ),
    "unknown option": (lambda f: _predict(f, "--model", "fcn_r50", "--set", "bogus=1", *TINY), ["'bogus'"]),
    "bad option value": (lambda f: _predict(f, "--model", "fcn_r50", "--set", "output_stride=7", *TINY),
                         ["output_stride"]),  # fmt: skip
    "option without value": (lambda f: _predict(f, "--model", "fcn_r50", "--set", "novalue", *TINY), ["key=value"]),
    "unreadable image": (lambda f: ["predict", str(f["broken"]), "--out", str(f["out"]), "--model", "fcn_r50", *TINY],
                         ["Cannot read image file", "broken.jpg"]),  # fmt: skip
    "missing image": (lambda f: ["predict", str(f["tmp"] / "gone.png"), "--out", str(f["out"]), "--model", "fcn_r50",
                                 *TINY], ["not found"]),  # fmt: skip
    "unwritable output": (lambda f: ["predict", str(f["photo"]), "--out", str(f["a_file"] / "sub"), "--model",
                                     "fcn_r50", *TINY], ["cannot write to the output directory", "--out"]),  # fmt: skip
    "bad batch size": (lambda f: _predict(f, "--model", "fcn_r50", "--batch-size", "0", *TINY), ["--batch-size"]),
    "missing dataset folder": (lambda f: ["eval", "--model", "fcn_r50", "--data", f"ade20k:{f['tmp'] / 'nowhere'}",
                                          *TINY], ["nowhere"]),  # fmt: skip
    "malformed dataset json": (lambda f: ["eval", "--model", "panoptic_fpn_r50", "--data",
                                          f"coco-panoptic:{_broken_coco(f['tmp'])}", "--set", "backbone=tiny",
                                          "--no-progress"], ["panoptic"]),  # fmt: skip
    "bad categories file": (lambda f: ["predict", str(f["photo"]), "--out", str(f["out"]), "--model",
                                       "panoptic_fpn_r50", "--set", "backbone=tiny", "--categories", str(f["bad_json"]),
                                       "--no-progress"], ["--categories", "COCO panoptic JSON"]),  # fmt: skip
    "train config not JSON": (lambda f: ["train", "--config", str(f["bad_json"])], ["not valid JSON"]),
}


def _broken_coco(root: Path) -> Path:
    """A COCO panoptic folder whose annotation JSON lacks ``annotations``."""
    folder = root / "coco"
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    for split in ("val2017", "train2017"):
        (folder / "annotations" / f"panoptic_{split}.json").write_text(json.dumps({"images": [], "categories": []}))
        (folder / split).mkdir(exist_ok=True)
        (folder / "annotations" / f"panoptic_{split}").mkdir(exist_ok=True)
    return folder


@pytest.mark.parametrize("case", sorted(CASES))
def test_user_error_is_one_line_exit_2(case, files, capsys, monkeypatch):
    monkeypatch.setenv("SEGZOO_OFFLINE", "1")  # the offline case fails at once, on any machine
    argv_of, fragments = CASES[case]
    argv = argv_of(files)
    if case == "unavailable cuda device" and torch.cuda.is_available() and torch.cuda.device_count() > 99:
        pytest.skip("this machine has 100 GPUs")
    assert main(argv) == 2, case
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    line = err[0]
    assert line.startswith(f"segzoo {argv[0]}: error: "), line
    for fragment in fragments:
        assert fragment in line, (case, fragment, line)
    assert "segzoo.build(" not in line and "create_backbone(" not in line, line  # CLI advice, not Python's
    out = files["out"]
    leftovers = [p.name for p in out.iterdir()] if out.is_dir() else []
    assert not leftovers, f"{case} left files behind: {leftovers}"


def test_offline_download_fails_fast_without_the_env_switch(files, capsys, monkeypatch):
    """No SEGZOO_OFFLINE: the probe itself finds the hub unreachable (sockets refused here)."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.delenv("SEGZOO_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(files["tmp"] / "hf"))
    monkeypatch.setattr(socket, "create_connection", refuse)
    argv = _predict(files, "--model", "fcn_r50", "--set", "pretrained_backbone=true", "--set", "backbone=resnet18")
    assert main(argv) == 2
    line = capsys.readouterr().err.strip()
    assert "not reachable (OSError: Network is unreachable)" in line and "--set backbone_weights=PATH" in line


def test_probe_gives_up_after_its_timeout(monkeypatch):
    """A host that never answers (DNS or connect hanging) costs the timeout, not the client's retries."""
    import socket
    import threading
    import time

    from segzoo.hub import probe

    release = threading.Event()
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: release.wait(5))
    start = time.perf_counter()
    reason = probe("https://example.invalid/file", timeout=0.3)
    elapsed = time.perf_counter() - start
    release.set()
    assert isinstance(reason, TimeoutError) and "0.3 s" in str(reason)
    assert elapsed < 3


def test_no_random_weights_warning_when_weights_are_requested(files, caplog):
    with caplog.at_level("WARNING", logger="segzoo"):
        assert main(_predict(files, "--model", "fcn_r50", "--set", "pretrained=true", *TINY)) == 2
    assert "randomly initialised" not in caplog.text


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_ctrl_c_exits_130_and_leaves_no_partial_file(command, files, capsys, monkeypatch):
    """Ctrl-C in the middle: exit 130; each file written so far is complete, no temporary file stays."""
    from segzoo.models.semantic import SemanticModel

    calls = {"n": 0}
    original = SemanticModel.forward

    def interrupt_second_call(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SemanticModel, "forward", interrupt_second_call)
    out = files["out"]
    if command == "predict":
        argv = ["predict", str(files["photo"]), str(files["photo"]), "--out", str(out), "--model", "fcn_r50", *TINY]
    else:
        argv = ["eval", "--model", "fcn_r50", "--data", "synthetic:3", "--synthetic-size", "32", "--out",
                str(out / "metrics.json"), "--set", "backbone=tiny", "--no-progress"]  # fmt: skip
    assert main(argv) == 130
    assert "interrupted" in capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    assert not [n for n in names if n.endswith(".tmp") or n.startswith(".")], names
    if command == "predict":
        assert names == ["photo.png", "photo_overlay.png"]  # the first image's outputs, complete
        assert Image.open(out / "photo.png").size == (48, 40)
    else:
        assert names == []  # metrics are written only when the evaluation finished
