"""Issue 13: the teaching notebooks -- each .ipynb is paired with a jupytext percent-format .py (the text that
is reviewed), stored with its outputs, and executed here top to bottom in quick mode with the exercises'
solutions shown (so every check and every solution runs in CI).

The stored form of a notebook is its .py executed in quick mode with the solutions off (hidden, and not
run); after editing a .py, regenerate its .ipynb with

    python tests/test_notebooks.py notebooks/NAME.py [...]

which executes it exactly as the test below does (same kernel, same environment), with TMT_SOLUTIONS=0.
"""
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
KERNEL = "tmt-notebooks-python"  # a kernelspec of our own: this interpreter, whatever the user's Jupyter has


def _cells(nb) -> list[tuple]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ())),
             bool(c.metadata.get("jupyter", {}).get("source_hidden", False))) for c in nb.cells]


def _is_solution(cell) -> bool:
    return "solution" in cell.get("metadata", {}).get("tags", ())


def _text_outputs(cells) -> list[list[str]]:
    """Per non-solution code cell, its stdout and text/plain outputs, with what changes from run to run
    (object addresses, temporary paths) masked."""
    def norm(text):
        text = "".join(text) if isinstance(text, list) else text
        text = re.sub(r"0x[0-9a-fA-F]+", "0x...", text)
        return re.sub(r"(/private)?/(tmp|var/folders)/[^\s'\"),\]]*", "<tmp>", text)

    out = []
    for c in cells:
        if c["cell_type"] != "code" or _is_solution(c):
            continue
        stdout = "".join(norm(o["text"]) for o in c["outputs"] if o["output_type"] == "stream" and o["name"] == "stdout")
        out.append([stdout] + [norm(o["data"]["text/plain"]) for o in c["outputs"]  # stream chunks may split
                               if o["output_type"] in ("execute_result", "display_data") and "text/plain" in o["data"]])
    return out


def _kernelspec(folder: Path) -> Path:
    """A Jupyter data folder holding one kernelspec, KERNEL, that runs *this* interpreter (so the notebooks
    import the tm_transformer under test, not one a user-level `python3` kernel may point at)."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tm-transformer (tests)", "language": "python"}))
    return folder


def execute(source: Path, cwd: Path, timeout: int = 300):
    """Run ``source`` (a .py of the pair) top to bottom in a fresh kernel of this interpreter, in ``cwd``;
    the environment (TMT_QUICK, TMT_SOLUTIONS, JUPYTER_PATH, TMPDIR) is the caller's."""
    nb = nbformat.from_dict(json.loads(json.dumps(jupytext.read(source))))
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, resources={"metadata": {"path": str(cwd)}})
    client.execute()  # a failing assert raises CellExecutionError naming the cell
    return nb


def test_every_notebook_is_a_pair():
    assert len(SOURCES) >= 4, SOURCES
    ipynbs = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert [p.stem for p in ipynbs] == [p.stem for p in SOURCES]  # no notebook without its text, and back


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_in_sync_and_stored_with_outputs(source):
    ipynb = source.with_suffix(".ipynb")
    text, stored = jupytext.read(source), jupytext.read(ipynb)
    assert _cells(text) == _cells(stored), f"{ipynb.name} is out of sync with {source.name}: run " \
                                           f"`python tests/test_notebooks.py {source.relative_to(ROOT)}`"
    nb = json.loads(ipynb.read_text())
    assert ipynb.stat().st_size < 1_000_000
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    # stored executed in quick mode with the solutions off: in order, without errors, with a picture
    run = [c for c in code if not _is_solution(c)]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"])
    assert all(c["outputs"] or "print(" not in "".join(c["source"]) for c in run)
    # the exercises' solutions: collapsed, run only on request, stored without output
    solutions = [c for c in text.cells if _is_solution(c)]
    assert solutions, "an exercise with a solution"
    for c in solutions:
        assert c.metadata.get("jupyter", {}).get("source_hidden") is True and c.source.startswith("if SOLUTIONS:")
    assert not [o for c in code if _is_solution(c) for o in c["outputs"]]
    # one idea each, taught: prose before code, and a check beside the claims
    assert text.cells[0].cell_type == "markdown" and text.cells[0].source.startswith("# ")
    assert sum("assert " in c.source for c in text.cells if c.cell_type == "code") >= 5
    assert "from bounds" not in source.read_text() and "from experiments" not in source.read_text()


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for source in SOURCES:
        assert f"notebooks/{source.stem}.ipynb" in readme, source.stem
    assert 'pip install ".[notebooks]"' in readme


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_in_quick_mode(source, monkeypatch, tmp_path):
    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir(), tmp.mkdir()
    monkeypatch.setenv("TMT_QUICK", "1")
    monkeypatch.setenv("TMT_SOLUTIONS", "1")
    monkeypatch.setenv("MPLBACKEND", "agg")
    monkeypatch.setenv("TMT_FIGCHECK", "1")  # every figure a notebook saves must pass the figure check (issue 25)
    monkeypatch.setenv("JUPYTER_PATH", str(_kernelspec(tmp_path / "jupyter")))
    monkeypatch.setenv("TMPDIR", str(tmp))  # the kernel's temporary folders, to see that none is left
    nb = execute(source, cwd)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert os.listdir(cwd) == []   # the notebooks write only into temporary folders of their own ...
    assert os.listdir(tmp) == []   # ... and remove them
    # the stored outputs are this run's: the notebooks are deterministic (seeded), so a stale .ipynb
    # (synced with jupytext but not re-executed) shows here
    stored = json.loads(source.with_suffix(".ipynb").read_text())["cells"]
    assert _text_outputs(nb.cells) == _text_outputs(stored), \
        f"the stored outputs of {source.stem}.ipynb are stale: run `python tests/test_notebooks.py " \
        f"{source.relative_to(ROOT)}`"


def store(source: Path) -> Path:
    """Execute ``source`` as the stored form (quick, solutions off) and write its .ipynb beside it."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update(TMT_QUICK="1", TMT_SOLUTIONS="0", MPLBACKEND="agg", TMT_FIGCHECK="1",
                          JUPYTER_PATH=str(_kernelspec(Path(folder) / "jupyter")))
        cwd = Path(folder) / "cwd"
        cwd.mkdir()
        nb = execute(source, cwd)
    ipynb = source.with_suffix(".ipynb")
    jupytext.write(nb, ipynb, fmt="ipynb")
    return ipynb


if __name__ == "__main__":
    for arg in sys.argv[1:] or map(str, SOURCES):
        print("stored", store(Path(arg).resolve()).relative_to(ROOT))
