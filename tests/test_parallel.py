"""Worker processes (experiments.parallel): the same results as one process, and what they share."""
from __future__ import annotations

import json
from collections import Counter
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tm_transformer.experiments import parallel, store, tree_counts
from tm_transformer.experiments.outdir import STORE

ROOT = Path(__file__).resolve().parents[1]


def _tmt(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "tm_transformer.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, cwd=cwd or ROOT, timeout=600)


@pytest.mark.slow
def test_workers_give_the_same_results_as_one_process(tmp_path):
    """`tmt experiment contexts` (quick) with two worker processes and with one: identical tables and
    verdicts; the manifest says how the points were measured."""
    one, two = tmp_path / "one", tmp_path / "two"
    a = _tmt("experiment", "contexts", "--out", str(one), "--jobs", "1", "--no-progress")
    b = _tmt("experiment", "contexts", "--out", str(two), "--jobs", "2", "--no-progress")
    assert a.returncode == 0 and b.returncode == 0, a.stderr[-2000:] + b.stderr[-2000:]
    for name in ("contexts.csv", "contexts_tests.csv", "verdicts.json"):
        assert (one / name).read_text() == (two / name).read_text(), name
    m1, m2 = (json.loads((d / "manifest.json").read_text()) for d in (one, two))
    assert "parallel" not in m1 and m2["parallel"]["jobs"] == 2
    assert m1["points"]["measured"] == m2["points"]["measured"] > 0
    parts = sorted(tuple(p) for t in m2["parallel"]["tasks"] if t["phase"] == 1 for p in t["parts"])
    assert [t["parts"] for t in m2["parallel"]["tasks"] if t["phase"] == 2] == [None]  # then the check whole
    assert parts == sorted((V, m) for V in (2, 3, 8) for m in (1, 4))  # the quick grid, each (V, m) once
    # the same store: a re-run with workers reuses every point and measures none
    c = _tmt("experiment", "contexts", "--out", str(two), "--jobs", "2", "--no-progress")
    assert c.returncode == 0
    m3 = json.loads((two / "manifest.json").read_text())
    assert m3["points"]["measured"] == 0 and m3["points"]["reused"] > 0
    assert (two / "contexts.csv").read_text() == (one / "contexts.csv").read_text()


class _AnyPart(frozenset):
    """An ``only`` that selects every part: the check's whole grid, and nothing after it."""

    def __contains__(self, part):
        return True


@pytest.mark.parametrize("quick", [True, False])
def test_the_parts_cover_each_grid_point_once(quick, monkeypatch):
    """Every n* search of contexts, sequences and halfspaces is made by exactly one task (a part left out
    would be measured by the parent alone: the same result, but not in parallel)."""
    from tm_transformer.experiments import checks
    from tm_transformer.experiments.nstar import NStar

    made = []

    def fake_nstar(setting, params, **kw):
        made.append((setting, tuple(sorted(params.items())), kw.get("learner"), kw.get("target")))
        return NStar(10, 10, 10, True, "", kw.get("target") or "uniform", "", 0, 20, 5, 0.0, "")

    monkeypatch.setattr(checks, "nstar", fake_nstar)

    def searches(name, only):
        made.clear()
        checks.CHECKS[name](Path("."), quick=quick, progress=False, only=only)
        return list(made)

    tasks = parallel.tasks(["contexts", "sequences", "halfspaces", "coin", "transformer"], quick, {})
    assert {n for n, p, _ in tasks if p is None} == {"coin", "transformer"}
    for name in ("contexts", "sequences", "halfspaces"):
        everything = searches(name, _AnyPart())
        flat = [s for n, parts, _ in tasks if n == name for s in searches(name, frozenset(parts))]
        assert everything and Counter(flat) == Counter(everything) and len(set(flat)) == len(flat), name


def test_a_table_read_as_a_prefix_or_extended_equals_one_built_for_its_size():
    """table(q, R) after calls with other R (a prefix of a larger table, or an extension of a smaller one)
    is exactly the table built row by row for R alone."""
    def built(q, R):
        rows = [tree_counts._row(q, r) for r in range(1, R + 1)]
        a = np.array([0] + [x[0] for x in rows], np.int64)
        width = np.array([0] + [x[1] for x in rows], np.int64)
        thr = np.concatenate([x[2] for x in rows]).astype(np.uint32) if rows else np.zeros(0, np.uint32)
        return a, width, thr

    tree_counts._tables.clear()
    for q in (0.5, 0.1, 1e-3, 0.0):
        for R in (40, 7, 300, 1, 120, 300):
            got = tree_counts.table(q, R)
            want = built(q, R)
            assert all(np.array_equal(g, w) and g.dtype == w.dtype for g, w in zip(got, want)), (q, R)
            assert got[0].size == R + 1 and got[2].size == int(got[1].sum())


def test_the_table_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(tree_counts, "TABLE_CACHE_ENTRIES", 5_000)
    tree_counts._tables.clear()
    for q in (0.2, 0.3, 0.4, 0.5):
        tree_counts.table(q, 200)
    assert list(tree_counts._tables) == [0.5]  # the others evicted, least recently used first
    tree_counts._tables.clear()


def _append(path: str, who: int, count: int) -> None:
    with store.opened(Path(path), shared=True) as s:
        for i in range(count):
            s.put("count", {"setting": "coin", "tag": f"w{who}", "n": i, "pad": "x" * (i % 7) * 500}, {"i": i, "who": who})


def test_workers_append_whole_records_to_one_store(tmp_path):
    """Two processes appending to one store at once: every record arrives whole, none lost."""
    path = tmp_path / STORE
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append, args=(str(path), w, 150)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 300 and {(json.loads(x)["value"]["who"], json.loads(x)["value"]["i"]) for x in lines} == \
        {(w, i) for w in range(2) for i in range(150)}
    assert len(store.PointStore(path).points) == 300


def test_bad_job_counts_are_refused_in_one_line(tmp_path):
    r = _tmt("experiment", "coin", "--out", str(tmp_path / "o"), "--jobs", "0")
    assert r.returncode != 0 and "--jobs" in r.stderr and "Traceback" not in r.stderr
    r = _tmt("experiment", "coin", "--out", str(tmp_path / "o"), env={"TMT_JOBS": "two"})
    assert r.returncode != 0 and "TMT_JOBS" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
