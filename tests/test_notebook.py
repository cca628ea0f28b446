"""Run notebooks/explore_scored.ipynb top to bottom on a synthetic scored file, so it never rots."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_report import make_scored, write_scored  # noqa: E402  (shared synthetic data)

import complaintml  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "explore_scored.ipynb"


def test_notebook_defines_no_functions():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            tree = ast.parse(cell.source)
            own = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
            defined = [n for n in ast.walk(tree) if isinstance(n, own)]
            assert not defined, f"the notebook should use complaintml's functions, not define its own:\n{cell.source}"
        assert not cell.get("outputs"), "commit the notebook without outputs"


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_notebook_runs_on_a_scored_file(tmp_path, monkeypatch, suffix):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    scored = write_scored(make_scored(n=300, seed=3), tmp_path / f"scored{suffix}")
    monkeypatch.setenv("COMPLAINTML_SCORED", str(scored))
    # The kernel is a child process: let it import the same complaintml these tests import.
    src = str(Path(complaintml.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # keep the kernel's inline backend: charts become outputs
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError, with the failing cell, on any error
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs)
    assert "300 comments from 1 file(s)" in text
    assert "Trained on English comments only." in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 6  # the charts were drawn
