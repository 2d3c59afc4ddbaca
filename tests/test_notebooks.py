"""The notebooks run top to bottom on the bundled data, and their figures exist.

Each notebook is executed (a copy, in a temporary directory) by a kernel running
this very interpreter, so the test works in any virtual environment without a
registered Jupyter kernel.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

from .conftest import REPO  # noqa: E402

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> str:
    """A kernel spec for this interpreter, with the repository importable."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "sampling-tests"
    spec.mkdir(parents=True)
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "sampling tests",
        "language": "python",
        "env": {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                "MPLBACKEND": "module://matplotlib_inline.backend_inline"},
    }))
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(root), old or ""])
    yield "sampling-tests"
    if old is None:
        del os.environ["JUPYTER_PATH"]
    else:
        os.environ["JUPYTER_PATH"] = old


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_draws(path: Path, kernel: str, tmp_path: Path):
    committed = nbformat.read(path, as_version=4)
    # committed with outputs, including at least one figure
    assert _figures(committed), f"{path.name} was committed without a figure; run it and save it with outputs"
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, kernel_name=kernel, timeout=60,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails
    assert _figures(notebook), f"{path.name} drew no figure"
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


def _figures(notebook) -> list:
    return [
        o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
