"""The ``segzoo`` command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import segzoo
from segzoo.cli import main


def test_list_prints_every_model(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == segzoo.list_models()
    assert all(line.split()[1] in ("semantic", "panoptic") for line in lines)


def test_list_pattern_and_no_match(capsys):
    assert main(["list", "deeplabv3p_*"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        "deeplabv3p_mobilenetv2",
        "deeplabv3p_r50",
    ]
    assert main(["list", "zzz*"]) == 1


def test_info_and_unknown_name(capsys):
    assert main(["info", "pspnet_r50", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "pspnet_r50" and info["defaults"]["output_stride"] == 8
    assert main(["info", "pspnet_r05"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'pspnet_r50'" in err.lower()
    assert "segzoo list" in err and "list_models" not in err and len(err.strip().splitlines()) == 1


def test_info_prints_a_short_summary(capsys):
    """Task, paper, weights and one line per option; long id lists as ranges (not 160 lines of JSON)."""
    assert main(["info", "panoptic_fpn_r50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "panoptic_fpn_r50  (panoptic)"
    assert any(line.strip().startswith("paper:") and "1901.02446" in line for line in lines)
    weights = next(line.strip() for line in lines if line.strip().startswith("weights:"))
    assert {"panoptic_fpn_r50.tv_maskrcnn_coco", "panoptic_fpn_r50.tv_maskrcnn_v2_coco", "panoptic_fpn_r50.d2_coco"} <= set(weights.split(None, 1)[1].split(", "))
    assert any(line.startswith("  - panoptic_fpn_r50.tv_maskrcnn_coco: ") for line in lines)  # the tag's metadata
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("options (defaults"))
    end = next(i for i, line in enumerate(lines) if line.strip().startswith("training recipes"))
    options = {line.split()[0]: line.split(None, 1)[1] for line in lines[start + 1 : end]}
    assert lines[end + 1].strip().startswith("coco-panoptic: sgd lr 0.02, step")  # one line per training recipe
    assert options["num_classes"] == "133" and options["thing_ids"] == "COCO_THINGS" and options["rpn_top_n"] == "(2000, 1000)"
    assert set(options) == set(segzoo.model_info("panoptic_fpn_r50")["defaults"])
    assert len(lines) < 50  # 3 lines per published tag, one per option


def test_info_params_counts_the_default_model(capsys):
    assert main(["info", "fcn_r50", "--params", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    model = segzoo.build("fcn_r50")
    assert info["parameters"] == sum(p.numel() for p in model.parameters())


def test_list_shows_whole_first_sentences(capsys):
    """No description is cut mid-sentence: each is the docstring's whole first sentence."""
    assert main(["list"]) == 0
    for line in capsys.readouterr().out.splitlines():
        name = line.split()[0]
        description = segzoo.model_info(name)["description"]
        shown = re.sub(r" \[weights: [^\]]*\]$", "", line.rstrip())  # published tags follow the description
        assert shown.endswith(description) and description.endswith((".", ")"))


def test_console_script_runs_as_module():
    out = subprocess.run(
        [sys.executable, "-m", "segzoo.cli", "list", "fcn_*"], capture_output=True, text=True, check=True
    ).stdout
    assert [line.split()[0] for line in out.splitlines()] == ["fcn_r101", "fcn_r50"]
