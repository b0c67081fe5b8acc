"""``segzoo train | eval | predict | export | pseudo-label`` through ``segzoo.cli.main`` (and one subprocess)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import TINY_PANOPTIC_SET
from PIL import Image

import segzoo
from segzoo.cli import main, parse_value
from segzoo.data import SyntheticPanoptic

TINY_TRAIN = ["--set", "backbone=tiny", "--data", "synthetic:6", "--val", "synthetic:2", "--synthetic-size", "32",
              "--batch-size", "2", "--no-progress", "--threads", "1"]  # fmt: skip
PANOPTIC_SET = TINY_PANOPTIC_SET


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # --threads 1 changes the process-wide setting


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("command", ["train", "eval", "predict", "export", "pseudo-label"])
def test_every_subcommand_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: segzoo {command}") and "--model" in out and "--set" in out


def test_parse_value_reads_json_ish_values():
    assert parse_value("32") == 32 and parse_value("0.5") == 0.5 and parse_value("true") is True
    assert parse_value("[60, 30]") == [60, 30] and parse_value("60,30") == [60, 30] and parse_value("tiny") == "tiny"
    assert parse_value("null") is None and parse_value("a,b") == ["a", "b"]


def test_train_eval_and_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "fcn_r50", *TINY_TRAIN, "--iters", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "finished at iteration 2 of 2" in printed and "best mIoU" in printed
    model = segzoo.load(out / "best")
    assert model.num_classes == 8  # from the synthetic data
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3  # 2 train records + 1 evaluation
    assert main(["eval", "--weights", str(out / "last"), "--data", "synthetic:2", "--synthetic-size", "32",
                 "--out", str(tmp_path / "m.json")]) == 0  # fmt: skip
    metrics = json.loads(capsys.readouterr().out)
    assert metrics == json.loads((tmp_path / "m.json").read_text())
    assert metrics["mIoU"] == pytest.approx(json.loads((out / "last" / "metrics.json").read_text())["mIoU"])


def test_config_file_and_flags_win(tmp_path, capsys):
    config = {"model": "fcn_r50", "data": "synthetic:4", "no_val": True, "iters": 5, "batch-size": 2,
              "synthetic_size": 32, "set": {"backbone": "tiny", "aux": False}, "threads": 1, "no_progress": True}  # fmt: skip
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config))
    assert main(["train", "--config", str(path), "--iters", "1", "--out", str(tmp_path / "o")]) == 0
    assert "finished at iteration 1 of 1" in capsys.readouterr().out
    assert segzoo.load(tmp_path / "o" / "last").aux_head is None
    path.write_text(json.dumps({**config, "learning_rate": 1}))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "o2")]) == 2
    assert "unknown option 'learning_rate'" in _one_error_line(capsys)


def test_interrupted_then_resumed_run_ends_where_a_straight_run_does(tmp_path, monkeypatch, capsys):
    args = ["train", "--model", "fcn_r50", *TINY_TRAIN, "--no-val", "--iters", "4", "--checkpoint-every", "1"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    from segzoo.engine import Trainer

    fit = Trainer.fit
    monkeypatch.setattr(Trainer, "fit", lambda self, **kw: fit(self, **{**kw, "stop_at": 2}))
    assert main([*args, "--out", str(tmp_path / "b")]) == 130  # interrupted after 2 iterations
    assert "resume with the same command and --resume" in capsys.readouterr().out
    monkeypatch.setattr(Trainer, "fit", fit)
    assert main([*args, "--out", str(tmp_path / "b"), "--resume"]) == 0
    a, b = segzoo.load(tmp_path / "a" / "last"), segzoo.load(tmp_path / "b" / "last")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def _image_files(tmp_path, n=2):
    paths = []
    for i in range(n):
        image = SyntheticPanoptic(n, size=(32, 40), seed=3)[i][0]
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(paths[-1])
    return paths


def test_predict_semantic_writes_labels_and_overlays(tmp_path, capsys):
    torch.manual_seed(0)
    segzoo.save(segzoo.build("msavg_largefov_vgg16", backbone="tiny", num_classes=8), tmp_path / "w")
    images = _image_files(tmp_path)
    assert main(["predict", "--weights", str(tmp_path / "w"), str(tmp_path / "img0.png"), str(images[1]),
                 "--out", str(tmp_path / "pred"), "--attention", "--tta-scales", "1", "--flip"]) == 0  # fmt: skip
    labels = np.asarray(Image.open(tmp_path / "pred" / "img0.png"))
    assert labels.shape == (32, 40) and labels.max() < 8
    assert np.asarray(Image.open(tmp_path / "pred" / "img1_overlay.png")).shape == (32, 40, 3)
    assert list((tmp_path / "pred").glob("img0_attention_*.png"))  # the avg fuser's scale weights
    assert "img1.png" in capsys.readouterr().out


def test_predict_panoptic_writes_coco_png_and_json(tmp_path):
    torch.manual_seed(0)
    model = segzoo.build("panoptic_fpn_r50", backbone="tiny", fpn_channels=32, box_channels=64, mask_channels=32,
                         num_classes=8, thing_ids=[0, 1, 2, 3], stuff_ids=[4, 5, 6, 7], fuser="upsnet")  # fmt: skip
    segzoo.save(model, tmp_path / "w")
    _image_files(tmp_path, n=1)
    assert main(["predict", "--weights", str(tmp_path / "w"), str(tmp_path), "--out", str(tmp_path / "pred")]) == 0
    predictions = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    (ann,) = predictions["annotations"]
    assert ann["file_name"] == "img0_panoptic.png" and len(predictions["categories"]) == 8
    rgb = np.asarray(Image.open(tmp_path / "pred" / "img0_panoptic.png")).astype(np.int64)
    ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
    assert set(np.unique(ids)) - {0} == {s["id"] for s in ann["segments_info"]}
    assert sum(s["area"] for s in ann["segments_info"]) == int((ids > 0).sum())
    assert (tmp_path / "pred" / "img0_overlay.png").is_file() and (tmp_path / "pred" / "img0_semantic.png").is_file()


def test_export_uses_segzoo_export_when_present(tmp_path, capsys):
    torch.manual_seed(0)
    segzoo.save(segzoo.build("fcn_r50", backbone="tiny", num_classes=3), tmp_path / "w")
    code = main(["export", "--weights", str(tmp_path / "w"), "--format", "torchscript", "--size", "32,32",
                 "--out", str(tmp_path / "m.pt")])  # fmt: skip
    if importlib.util.find_spec("segzoo.export") is None:
        assert code == 2 and "segzoo.export is not available" in _one_error_line(capsys)
    elif not callable(getattr(importlib.import_module("segzoo.export"), "export", None)):
        assert code == 2 and "no export() function" in _one_error_line(capsys)
    else:
        assert code == 0 and (tmp_path / "m.pt").is_file()


def test_pseudo_label_command(tmp_path, capsys):
    segzoo.save(segzoo.build("fcn_r50", backbone="tiny", num_classes=8), tmp_path / "w")
    assert main(["pseudo-label", "--weights", str(tmp_path / "w"), "--data", "synthetic:2", "--synthetic-size", "24",
                 "--out", str(tmp_path / "pl"), "--threshold", "0.0"]) == 0  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "pl" / "masks").iterdir()) == ["000000.png", "000001.png"]
    assert "2 pseudo-labelled images" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "fcn_r5", "--data", "synthetic"], "did you mean 'fcn_r50'"),
        (["train", "--model", "fcn_r50", "--data", "ade20k:/no/such/dir"], "does not exist"),
        (["train", "--model", "fcn_r50", "--data", "kitti:/x"], "unknown data kind"),
        (["train", "--model", "fcn_r50", "--data", "synthetic", "--set", "colour=red"], "unknown argument(s) 'colour'"),
        (["train", "--model", "panoptic_fpn_r50", "--data", "synthetic"], "can't train on synthetic"),
        (["train", "--model", "fcn_r50", "--data", "synthetic", "--iters", "many"], "invalid int value"),
        (["train", "--model", "fcn_r50", "--data", "synthetic:2", "--set", "backbone=tiny", "--set", "num_classes=5"],
         "the data has 8 classes"),
        (["train", "--model", "fcn_r50", "--data", "synthetic", "--train-opt", "amp=fp8"], "amp must be one of"),
        (["eval", "--model", "fcn_r50", "--weights", "/no/weights", "--data", "synthetic"], "not found"),
        (["predict", "--model", "fcn_r50", "/no/image.png", "--out", "OUT"], "not found"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(argv, message, tmp_path, capsys):
    argv = [str(tmp_path / "o") if a == "OUT" else a for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert message in _one_error_line(capsys).lower()


def test_unwritable_output_directory(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert main(["train", "--model", "fcn_r50", "--data", "synthetic", "--out", str(tmp_path / "file" / "run")]) == 2
    assert "cannot write to the output directory" in _one_error_line(capsys)


def test_console_entry_point_reports_bad_arguments_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "segzoo.cli", "train", "--model", "nope_r50", "--data", "synthetic"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("segzoo train: error: Unknown model 'nope_r50'")
