"""docs/notebooks/from_the_tutorial.ipynb, executed from scratch as a reader runs it
(nbclient and ipykernel, from the ``test`` extra): any cell's error fails the test."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebooks" / "from_the_tutorial.ipynb"
# The tutorial's curves and mistakes, the MLP's curves and mistakes, the CNN's curves and
# filters, the ensemble's mistakes.
PICTURES = 7


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_notebook_is_kept_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    cells = code_cells(nb)
    assert cells and all(c.outputs == [] and c.execution_count is None for c in cells)


@pytest.mark.slow
def test_the_notebook_runs_from_scratch(tmp_path, monkeypatch):
    # A kernel of this very Python (the one funcnet is installed in), and every file the
    # kernel and the notebook write (connection files, IPython's history, the notebook's run
    # folders under tempfile's TMPDIR) in this test's own folder.
    kernel = tmp_path / "jupyter" / "kernels" / "funcnet-tests"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (funcnet's tests)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="funcnet-tests",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in code_cells(nb) for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o.text for o in outputs if o.get("name") == "stderr"]
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == PICTURES
    last = "".join(o.text for o in code_cells(nb)[-1].outputs if o.get("name") == "stdout")
    first, _, accuracy = last.splitlines()
    assert first.startswith("model: ") and "ensemble.json (ensemble of 3: 784-512-512-10 relu ×2; conv2d" in first
    assert accuracy.startswith("accuracy ") and accuracy.endswith(" of 10000 right)")
    assert list(tmp_path.glob("funcnet-notebook-*/ensemble/members/*.safetensors"))
