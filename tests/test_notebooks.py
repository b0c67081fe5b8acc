"""Every example notebook runs top to bottom (smoke mode) without an error and shows its figures inline;
the committed notebooks carry their outputs (figures included) and stay small."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient", reason="nbclient is in the dev extra")
nbformat = pytest.importorskip("nbformat", reason="nbformat is in the dev extra")
pytest.importorskip("matplotlib", reason="the notebooks plot with matplotlib (dev extra)")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
MAX_BYTES = 300_000  # committed with outputs: modest figures


def _builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _outputs(nb, output_type: str | None = None) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
            if output_type is None or o.output_type == output_type]  # fmt: skip


def _images(nb) -> list:
    return [o for o in _outputs(nb) if "image/png" in o.get("data", {})]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


def test_committed_notebooks_are_the_builders():
    builder = _builder()
    assert sorted(builder.NOTEBOOKS) == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:  # a cell edited in the script but not re-executed leaves stale outputs
        committed = [(c.id, c.cell_type, c.source) for c in nbformat.read(path, as_version=4).cells]
        assert committed == [(c.id, c.cell_type, c.source) for c in builder.notebook(path.name).cells], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_its_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), "commit it executed: build_notebooks.py --execute"
    assert not _outputs(nb, "error")
    assert _images(nb), "no figure output: is the kernel's matplotlib backend inline?"
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size // 1000} KB: use smaller figures"
    assert not any("matplotlib.use(" in cell.source for cell in code)  # a forced backend hides inline figures


# Executing a notebook is slow-marked (pytest -m slow), except two canaries that train through the
# model contract (a semantic and a panoptic model), so an API change that breaks the examples fails by default.
DEFAULT_RUN = ("01_quickstart.ipynb", "03_panoptic_fusers.ipynb")


@pytest.mark.parametrize(
    "path", [pytest.param(p, marks=() if p.name in DEFAULT_RUN else pytest.mark.slow) for p in NOTEBOOKS],
    ids=lambda p: p.name,
)
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("SEGZOO_SMOKE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # Jupyter's, whatever the shell says
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # run from a clean slate: no output left over from the committed run
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(EXAMPLES)}})  # fmt: skip
    client.execute()
    assert not _outputs(nb, "error")
    assert _images(nb), "the notebook's figures were not displayed"


def test_docs_images_are_the_notebooks_figures():
    import base64

    pages = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    exported = []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            name = cell.metadata.get("docs_image")
            if name is None:
                continue
            exported.append(name)
            figure = base64.b64decode([o for o in cell.outputs if "image/png" in o.get("data", {})][-1].data["image/png"])
            image = ROOT / "docs" / "images" / name
            # in step with the committed outputs: build_notebooks.py --export-images docs/images
            assert image.is_file() and image.read_bytes() == figure, name
            assert f"images/{name})" in pages, f"{name} is shown on no docs page"
    assert len(exported) >= 5
