"""The torch-free recipe catalogue (read from source for ``segzoo list/info``) equals the live registry."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import segzoo
from segzoo.catalog import SourceText, catalog, find_recipe, first_sentence, list_recipes


def test_catalogue_lists_exactly_the_registered_recipes():
    assert list_recipes() == segzoo.list_models()
    for task in ("semantic", "panoptic"):
        assert list_recipes(task=task) == segzoo.list_models(task=task)
    assert list_recipes("deeplab*") == segzoo.list_models("deeplab*")


@pytest.mark.parametrize("name", sorted(catalog()))
def test_record_matches_model_info(name):
    record, info = find_recipe(name), segzoo.model_info(name)
    assert (record.task, record.paper, record.description) == (info["task"], info["paper"], info["description"])
    assert list(record.defaults) == list(info["defaults"])
    for key, value in record.defaults.items():
        if isinstance(value, SourceText):  # not a literal: its source evaluates to the registry's default
            namespace = vars(importlib.import_module(value.module))
            assert eval(value, namespace) == info["defaults"][key], key  # noqa: S307 - our own source
        else:
            assert value == info["defaults"][key], key
    assert list(record.weights) == list(info["weights"])


def test_unknown_names_suggest_close_matches_and_the_cli():
    with pytest.raises(KeyError, match=r"Did you mean 'pspnet_r50'.*list them with segzoo list"):
        find_recipe("pspnet_r05")
    assert find_recipe("fcn_r50.some_tag").name == "fcn_r50"


@pytest.mark.parametrize(
    ("doc", "sentence"),
    [
        ("FCN head on a dilated ResNet-50 (output stride 8), as torchvision's fcn_resnet50.\n\nMore.", None),
        ("One line\ncontinued here. Second sentence.", "One line continued here."),
        ("Chen et al. use e.g. rates 6/12/18. Then.", "Chen et al. use e.g. rates 6/12/18."),
        ("No full stop at all", "No full stop at all"),
        ("Scales 0.5 and 1.0 (arXiv:1511.03339). Next.", "Scales 0.5 and 1.0 (arXiv:1511.03339)."),
    ],
)
def test_first_sentence_is_whole(doc, sentence):
    expected = sentence or doc.split("\n")[0]
    assert first_sentence(doc) == expected


def test_cli_listing_does_not_import_torch():
    """``segzoo --help``, ``list`` and ``info`` read the catalogue: torch (seconds to import) stays out."""
    code = (
        "import sys\n"
        "from segzoo.cli import main\n"
        "for argv in (['list'], ['info', 'fcn_r50'], ['list', '--task', 'panoptic']):\n"
        "    assert main(argv) == 0\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('torch', 'timm', 'torchvision', 'numpy') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY []"


def test_import_segzoo_is_lazy_but_complete():
    """``import segzoo`` pulls in no torch; the public names still resolve (and build works)."""
    code = (
        "import sys, segzoo\n"
        "assert 'torch' not in sys.modules\n"
        "m = segzoo.build('fcn_r50', backbone='tiny', num_classes=3)\n"
        "assert type(m).__name__ == 'SemanticModel' and callable(segzoo.export) and callable(segzoo.optimize)\n"
        "assert segzoo.WeightsError.__module__ == 'segzoo.errors' and 'fcn_r50' in segzoo.list_models()\n"
        "print('OK')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "OK"
