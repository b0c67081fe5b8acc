"""``segzoo train``'s training flags come from TrainConfig's field declarations (one place per option)."""

from __future__ import annotations

import dataclasses

import pytest

from segzoo.cli import build_parser
from segzoo.cli.train import train_config
from segzoo.engine.config import TrainConfig, train_options


def _train_args(*argv: str):
    return build_parser().parse_args(["train", *argv])


def test_every_declared_option_is_a_flag_that_reaches_the_config():
    options = train_options()
    assert {o.field for o in options} <= {f.name for f in dataclasses.fields(TrainConfig)}
    argv, expected = [], {}
    samples = {int: "7", float: "0.25", str: None}
    for option in options:
        if option.annotation == "bool":
            argv.append(f"--{option.flag}")
            expected[option.field] = True
        elif option.choices:
            argv += [f"--{option.flag}", option.choices[-1]]
            expected[option.field] = option.choices[-1]
        elif option.annotation.startswith("tuple[float"):
            argv += [f"--{option.flag}", "0.5,1.5"]
            expected[option.field] = (0.5, 1.5)
        elif option.annotation.startswith("int"):
            argv += [f"--{option.flag}", samples[int]]
            expected[option.field] = 7
        elif option.annotation.startswith("float"):
            argv += [f"--{option.flag}", samples[float]]
            expected[option.field] = 0.25
        else:
            argv += [f"--{option.flag}", "mIoU"]
            expected[option.field] = "mIoU"
    config = train_config(_train_args(*argv, "--schedule", "step"))
    expected["schedule"] = "step"
    for field, value in expected.items():
        assert getattr(config, field) == value, field


def test_unset_flags_keep_the_config_defaults():
    assert train_config(_train_args()) == TrainConfig(progress=True)
    assert train_config(_train_args("--no-progress")).progress is False


def test_flag_names_users_know_are_kept():
    flags = {o.flag: o.field for o in train_options()}
    assert flags["iters"] == "max_iters" and flags["clip-grad"] == "clip_grad_norm" and flags["ema"] == "ema_decay"
    assert flags["batch-scales"] == "batch_scale_range" and flags["workers"] == "num_workers"


def test_bad_choice_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        _train_args("--optimizer", "adam")
    assert stop.value.code == 2 and "invalid choice: 'adam'" in capsys.readouterr().err
