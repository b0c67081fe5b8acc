"""Property-based tests of weights I/O (segzoo.weights): bad files fail cleanly, good ones load exactly.

Hypothesis writes weights files a user might hand to ``load_weights_file`` / ``segzoo.load``:
state dicts with keys dropped, added, renamed, re-shaped or re-typed, another class count or
input channel count; truncated safetensors, random bytes, random safetensors headers, pickles,
flipped bytes; ``segzoo.save`` folders with broken ``config.json`` fields. An oracle written
from the documented contract (a class-count change drops the classifier with a warning, a
stem with another input channel count is adapted with a warning, everything else is strict)
says whether each must load, and to which values. Every failure must be a ``WeightsError``
(``FileNotFoundError`` for a folder without ``config.json``) naming the file, and must leave
both the file and the model untouched.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import tempfile
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

import segzoo
from segzoo.weights import load_weights_file

from conftest import build_tiny

# ~100 examples take ~5 s per test here; derandomize keeps CI deterministic.
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

STEM = "backbone.stem.0.weight"  # the tiny backbone's first conv (reads the image)


def _build(**overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_tiny("fcn_r50", **overrides)


MODEL = _build()
SNAPSHOT = {k: v.clone() for k, v in MODEL.state_dict().items()}
torch.manual_seed(1)
SOURCE = {k: (torch.randn_like(v) if v.is_floating_point() else v + 3) for k, v in SNAPSHOT.items()}
KEYS = list(SNAPSHOT)


def is_head_key(key: str) -> bool:
    """The documented head rule: a parameter of a module named ``*classifier``."""
    return any(part.endswith("classifier") for part in key.split(".")[:-1])


def fresh_model() -> torch.nn.Module:
    MODEL.load_state_dict(SNAPSHOT)
    return MODEL


def assert_unchanged(model: torch.nn.Module) -> None:
    state = model.state_dict()
    assert state.keys() == SNAPSHOT.keys()
    for key, value in SNAPSHOT.items():
        assert state[key].dtype == value.dtype and torch.equal(state[key], value), f"{key} changed by a failed load"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- the oracle


def adapt_stem(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """timm's adapt_input_conv rule: sum for one channel, else repeat the channels and rescale."""
    have = weight.shape[1]
    if in_chans == 1:
        return weight.float().sum(dim=1, keepdim=True)
    repeats = math.ceil(in_chans / have)
    return weight.float().repeat(1, repeats, 1, 1)[:, :in_chans] * (have / in_chans)


def expected_load(state: dict[str, torch.Tensor]) -> tuple[list[str], dict[str, torch.Tensor] | None, set[str]]:
    """``(problem keys, resulting state dict or None, expected warning kinds)`` of loading ``state`` into MODEL."""
    problems, result, warned = [], {}, set()
    for key, own in SNAPSHOT.items():
        if key not in state:
            problems.append(key)
            continue
        value = state[key]
        if value.shape == own.shape:
            result[key] = value.to(own.dtype)
        elif is_head_key(key) and value.ndim == own.ndim and value.shape[1:] == own.shape[1:]:
            result[key] = own  # dropped: stays as it was
            warned.add("class count differs")
        elif key == STEM and value.ndim == 4 and value.shape[0] == own.shape[0] and value.shape[2:] == own.shape[2:]:
            result[key] = adapt_stem(value, own.shape[1]).to(own.dtype)
            warned.add("input-channel weights adapted")
        else:
            problems.append(key)
    problems += [key for key in state if key not in SNAPSHOT]
    return problems, (None if problems else result), warned


# ----------------------------------------------------------------------------- state-dict files


@st.composite
def mutated_state(draw) -> dict[str, torch.Tensor]:
    """SOURCE with up to three edits; each edit is one way a wrong or foreign file differs."""
    state = dict(SOURCE)
    for op in draw(st.lists(st.sampled_from(
        ["drop", "add", "rename", "reshape", "dtype", "classes", "stem", "inner_in_channels", "head_width"]
    ), max_size=3)):
        key = draw(st.sampled_from(KEYS))
        if op == "drop":
            state.pop(key, None)
        elif op == "add":
            state[f"extra.{draw(st.integers(0, 9))}.weight"] = torch.zeros(draw(st.integers(1, 3)))
        elif op == "rename" and key in state:
            state[key.replace(".", "_", 1)] = state.pop(key)
        elif op == "reshape" and key in state:
            shape = list(state[key].shape) or [1]
            dim = draw(st.integers(0, len(shape) - 1))
            shape[dim] = draw(st.integers(1, 9).filter(lambda n, old=shape[dim]: n != old))
            state[key] = torch.randn(shape)
        elif op == "dtype" and key in state:
            dtype = draw(st.sampled_from([torch.float16, torch.bfloat16, torch.float64, torch.int32]))
            state[key] = state[key].to(dtype)
        elif op == "classes":  # weights trained for another class count: every classifier row count
            classes = draw(st.integers(1, 8))
            for k in KEYS:
                if is_head_key(k) and k in state:
                    state[k] = torch.randn(classes, *state[k].shape[1:])
        elif op == "stem" and STEM in state:  # weights of a model with another in_chans
            w = state[STEM]
            state[STEM] = torch.randn(w.shape[0], draw(st.integers(1, 5)), *w.shape[2:])
        elif op == "inner_in_channels":  # a conv other than the stem with another input width
            k = draw(st.sampled_from([k for k in KEYS if SOURCE[k].ndim == 4 and k != STEM and not is_head_key(k)]))
            if k in state:
                w = state[k]
                state[k] = torch.randn(w.shape[0], w.shape[1] + draw(st.integers(1, 3)), *w.shape[2:])
        elif op == "head_width":  # a classifier on features of another width: not a class-count change
            k = draw(st.sampled_from([k for k in KEYS if is_head_key(k) and SOURCE[k].ndim == 4]))
            if k in state:
                w = state[k]
                state[k] = torch.randn(w.shape[0], w.shape[1] * 2, *w.shape[2:])
    return state


def _inner_conv_example() -> dict[str, torch.Tensor]:
    state = dict(SOURCE)
    key = next(k for k in KEYS if SOURCE[k].ndim == 4 and k != STEM and not is_head_key(k))
    w = state[key]
    state[key] = torch.randn(w.shape[0], w.shape[1] + 1, *w.shape[2:])
    return state


def _head_width_example() -> dict[str, torch.Tensor]:
    state = dict(SOURCE)
    key = next(k for k in KEYS if is_head_key(k) and SOURCE[k].ndim == 4)
    w = state[key]
    state[key] = torch.randn(w.shape[0], w.shape[1] * 2, *w.shape[2:])
    return state


@SETTINGS
@given(state=mutated_state())
@example(state=_inner_conv_example())  # was adapted like a stem (with a warning) instead of refused
@example(state=_head_width_example())  # was dropped as a "class count" change instead of refused
def test_state_dict_files_load_exactly_or_fail_cleanly(state):
    model = fresh_model()
    problems, expected, warned = expected_load(state)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
        before = digest(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if problems:
                with pytest.raises(segzoo.WeightsError) as info:
                    load_weights_file(model, path)
            else:
                load_weights_file(model, path)
        assert digest(path) == before
    messages = " ".join(str(w.message) for w in caught)
    if problems:
        message = str(info.value)
        assert str(path) in message
        assert all(key in message for key in problems[:10]), (problems, message)
        assert_unchanged(model)
        return
    for kind in ("class count differs", "input-channel weights adapted"):
        assert (kind in messages) == (kind in warned), (kind, messages)
    got = model.state_dict()
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-6, atol=1e-6, msg=key)


# ----------------------------------------------------------------------------- unreadable files


def _valid_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.safetensors"
        save_file({k: v.contiguous() for k, v in SOURCE.items()}, str(path))
        return path.read_bytes()


VALID = _valid_bytes()


@st.composite
def safetensors_header(draw) -> bytes:
    """An 8-byte header length and a JSON header of plausible-looking but random tensor entries."""
    entries = {}
    for i in range(draw(st.integers(0, 3))):
        entries[draw(st.sampled_from([KEYS[0], STEM, f"t{i}", "__metadata__"]))] = {
            "dtype": draw(st.sampled_from(["F32", "F16", "I64", "BOOL", "U8", "X9"])),
            "shape": draw(st.lists(st.integers(-1, 4), max_size=3)),
            "data_offsets": draw(st.lists(st.integers(-2, 64), min_size=0, max_size=3)),
        }
    header = json.dumps(entries).encode()
    declared = len(header) + draw(st.sampled_from([0, 0, 1, -1, 1 << 40]))
    return struct.pack("<Q", max(declared, 0)) + header + draw(st.binary(max_size=64))


unreadable = st.one_of(
    st.integers(0, len(VALID) - 1).map(lambda n: ("truncated", VALID[:n])),
    st.binary(max_size=256).map(lambda b: ("random bytes", b)),
    safetensors_header().map(lambda b: ("random header", b)),
    st.just(("pickle", None)),
)


@SETTINGS
@given(case=unreadable)
@example(case=("truncated", VALID[: len(VALID) // 2]))
@example(case=("random bytes", b""))
def test_unreadable_files_raise_weights_error_naming_the_file(case):
    kind, data = case
    model = fresh_model()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        if kind == "pickle":
            torch.save(SOURCE, path)
        else:
            path.write_bytes(data)
        before = digest(path)
        with pytest.raises(segzoo.WeightsError) as info:
            load_weights_file(model, path)
        assert digest(path) == before
    assert str(path) in str(info.value)
    if kind == "pickle":
        assert "safetensors.torch.save_file(torch.load(" in str(info.value)  # says how to convert
    assert_unchanged(model)


@SETTINGS
@given(position=st.integers(0, len(VALID) - 1), value=st.integers(0, 255))
def test_flipped_byte_loads_or_fails_cleanly(position, value):
    """One changed byte: in the data, other values load; in the header, a WeightsError (or a load)."""
    data = bytearray(VALID)
    data[position] = value
    model = fresh_model()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        path.write_bytes(bytes(data))
        before = digest(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                load_weights_file(model, path)
        except segzoo.WeightsError as err:
            assert str(path) in str(err)
            assert_unchanged(model)
        else:
            header_end = 8 + struct.unpack("<Q", VALID[:8])[0]
            if position >= header_end:  # a data byte: everything else loaded as saved
                got = model.state_dict()
                changed = [k for k in KEYS if not torch.equal(got[k], SOURCE[k].to(got[k].dtype))]
                assert len(changed) <= 1, changed
        assert digest(path) == before


# ----------------------------------------------------------------------------- segzoo.load folders

_SAVED_DIR = tempfile.TemporaryDirectory()
SAVED = segzoo.save(_build(), Path(_SAVED_DIR.name) / "run")
SAVED_CONFIG = json.loads((SAVED / "config.json").read_text())
SAVED_WEIGHTS = (SAVED / "model.safetensors").read_bytes()

config_edits = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["fcn_r5O", 5, None, ["fcn_r50"]]),
        # a dict is merged into the saved overrides; anything else replaces them
        "overrides": st.sampled_from([[], "tiny", None, {"bogus": 1}, {"num_classes": "five"}, {"num_classes": 0}]),
        "sha256": st.sampled_from([5, "0" * 64, None, ["x"]]),
        "drop": st.sampled_from(["name", "overrides", "sha256"]),
    },
)


def config_problem(config) -> str | None:
    """Which file ``segzoo.load`` must blame for ``config``: "config.json", "model.safetensors" or None."""
    if not isinstance(config, dict) or "name" not in config or "overrides" not in config:
        return "config.json"
    name, overrides, sha = config["name"], config["overrides"], config.get("sha256")
    if name != "fcn_r50" or not isinstance(overrides, dict) or overrides.keys() - SAVED_CONFIG["overrides"].keys():
        return "config.json"
    if overrides != SAVED_CONFIG["overrides"] and overrides.get("num_classes") in ("five", 0):
        return "config.json"
    if sha is not None and not isinstance(sha, str):
        return "config.json"
    if sha is not None and sha != SAVED_CONFIG["sha256"]:
        return "model.safetensors"
    return None


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # num_classes=0 builds a layer first
@SETTINGS
@given(
    edits=config_edits,
    config_text=st.one_of(st.none(), st.sampled_from(["", "{", "[]", "42", '"fcn_r50"', "\xff"])),
    truncate=st.booleans(),
)
@example(edits={"overrides": []}, config_text=None, truncate=False)  # was a raw TypeError from build(**[])
@example(edits={"name": "fcn_r5O"}, config_text=None, truncate=False)  # was a raw UnknownNameError (KeyError)
@example(edits={"sha256": 5}, config_text=None, truncate=False)  # was AttributeError: 'int' has no .lower()
def test_load_folder_rebuilds_or_names_the_bad_file(edits, config_text, truncate):
    config = dict(SAVED_CONFIG)
    for key, value in edits.items():
        if key == "drop":
            config.pop(value, None)
        elif key == "overrides" and isinstance(value, dict):
            config[key] = {**SAVED_CONFIG["overrides"], **value}
        else:
            config[key] = value
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        weights = SAVED_WEIGHTS[: len(SAVED_WEIGHTS) // 2] if truncate else SAVED_WEIGHTS
        (folder / "model.safetensors").write_bytes(weights)
        if config_text is None:
            (folder / "config.json").write_text(json.dumps(config))
            blame = config_problem(config)
        else:
            (folder / "config.json").write_bytes(config_text.encode("latin-1"))
            blame = "config.json"
        if blame is None and truncate:
            blame = "model.safetensors"
        before = {p.name: digest(p) for p in folder.iterdir()}
        if blame is None:
            loaded = segzoo.load(folder)
            state = loaded.state_dict()
            saved = segzoo.load(SAVED).state_dict()
            assert all(torch.equal(state[k], saved[k]) for k in saved)
        else:
            with pytest.raises(segzoo.WeightsError) as info:
                segzoo.load(folder)
            assert str(folder / blame) in str(info.value), (blame, str(info.value))
        assert {p.name: digest(p) for p in folder.iterdir()} == before


def test_folder_without_config_is_file_not_found_naming_config_json():
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model.safetensors").write_bytes(SAVED_WEIGHTS)
        with pytest.raises(FileNotFoundError, match="No config.json in"):
            segzoo.load(tmp)
        assert (Path(tmp) / "model.safetensors").read_bytes() == SAVED_WEIGHTS
