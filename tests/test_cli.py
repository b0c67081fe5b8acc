"""The ``segzoo`` command line."""

from __future__ import annotations

import json
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
    assert main(["info", "pspnet_r50"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "pspnet_r50" and info["defaults"]["output_stride"] == 8
    assert main(["info", "pspnet_r05"]) == 2
    assert "did you mean 'pspnet_r50'" in capsys.readouterr().err.lower()


def test_console_script_runs_as_module():
    out = subprocess.run(
        [sys.executable, "-m", "segzoo.cli", "list", "fcn_*"], capture_output=True, text=True, check=True
    ).stdout
    assert out.split()[0] == "fcn_r50"
