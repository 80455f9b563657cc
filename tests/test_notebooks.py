"""Issue 13: the teaching notebooks -- each .ipynb is paired with a jupytext percent-format .py (the text that
is reviewed), stored with its outputs, and executed here top to bottom in quick mode with the exercises'
solutions shown (so every check and every solution runs in CI)."""
import json
import os
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def _cells(nb) -> list[tuple]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def test_every_notebook_is_a_pair():
    assert len(SOURCES) >= 4, SOURCES
    ipynbs = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert [p.stem for p in ipynbs] == [p.stem for p in SOURCES]  # no notebook without its text, and back


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_in_sync_and_stored_with_outputs(source):
    ipynb = source.with_suffix(".ipynb")
    text, stored = jupytext.read(source), jupytext.read(ipynb)
    assert _cells(text) == _cells(stored), f"{ipynb.name} is out of sync with {source.name}: run " \
                                           f"`jupytext --sync {source.relative_to(ROOT)}` and re-execute it"
    nb = json.loads(ipynb.read_text())
    assert ipynb.stat().st_size < 1_000_000
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    # stored executed, in order, without errors, with at least one picture
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"])
    # one idea each, taught: prose before code, and a check beside the claims
    assert text.cells[0].cell_type == "markdown" and text.cells[0].source.startswith("# ")
    assert sum("assert " in c.source for c in text.cells if c.cell_type == "code") >= 5
    assert "from bounds" not in source.read_text() and "from experiments" not in source.read_text()


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for source in SOURCES:
        assert f"notebooks/{source.stem}.ipynb" in readme, source.stem
    assert 'pip install ".[notebooks]"' in readme


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_in_quick_mode(source, monkeypatch, tmp_path):
    monkeypatch.setenv("TMT_QUICK", "1")
    monkeypatch.setenv("TMT_SOLUTIONS", "1")
    monkeypatch.setenv("MPLBACKEND", "agg")
    nb = nbformat.from_dict(json.loads(json.dumps(jupytext.read(source))))
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # a failing assert raises CellExecutionError naming the cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert os.listdir(tmp_path) == []  # the notebooks write only into temporary folders of their own
