"""The recipe example of docs/contributing.md works as written (registered, built, listed by info)."""

from __future__ import annotations

import re
from pathlib import Path

import torch

import segzoo
from segzoo.factory import MODELS

DOC = Path(__file__).resolve().parents[1] / "docs" / "contributing.md"


def test_contributing_recipe_example_registers_and_builds():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    code = re.sub(r"^ {3}", "", code, flags=re.M).replace("from ..", "from segzoo.").replace("from .", "from segzoo.models.")
    namespace: dict = {}
    try:
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
        info = segzoo.model_info("myhead_r50")
        assert info["defaults"]["backbone"] == "resnet50" and info["defaults"]["context"] == "danet"
        assert info["description"] == "One sentence for `segzoo list` and the zoo table."
        model = segzoo.build("myhead_r50", backbone="tiny", num_classes=4).eval()
        assert model.decode_head.context.__class__.__name__ == "DualAttention"
        with torch.no_grad():
            assert model(torch.randn(1, 3, 40, 36)).logits.shape == (1, 4, 40, 36)
    finally:
        if "myhead_r50" in MODELS:
            MODELS.remove("myhead_r50")
