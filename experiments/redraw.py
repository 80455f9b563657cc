"""``tmt figures RESULTS_DIR``: redraw every figure of an earlier run from its tables, measuring nothing.

What feeds each figure (:data:`FIGURES`, a registry: name -> drawing function of the folder's tables):

==============================  =====================================================================
figure                          tables
==============================  =====================================================================
``symbolic_ratios``             none (formulas; drawn when ``symbolic.csv`` is there)
``contexts_nstar``              ``contexts.csv``; C1's verdict (``verdicts.json``)
``sequences_nstar_tv``/``linf`` ``sequences.csv`` (column ``reading``); C2's verdicts (main, other readings)
``halfspaces_nstar``            ``halfspaces.csv`` (not its ``comparison`` rows); C3's verdict
``halfspaces_failure_vs_delta`` ``halfspaces_tests.csv``; C3's ``protocol_verdict``
``coin_nstar``                  ``coin.csv``; C4's verdict
``transformer_frontier``        ``transformer.csv`` (rows ``kind`` frontier and beta)
``icl``                         ``icl.csv``
==============================  =====================================================================

A figure whose table is absent (a run of some checks only) is skipped; a CSV cell is read back as the
number, boolean, dict or None it was written from.
"""
from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import numpy as np

from tm_transformer import figstyle, plots
from tm_transformer.errors import ToolkitError

from . import figures


def _cell(text: str):
    """A CSV cell as the value it was written from: '' -> None, 'True' -> True, '3' -> 3, '0.1' -> 0.1,
    "{'d': 2}" -> {'d': 2}; anything else stays text."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    if text[:1] in "{[(":
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
    return text


def read_table(path: Path) -> list[dict]:
    """A results CSV as a list of dicts of typed values ([] for an empty file)."""
    with Path(path).open(newline="") as f:
        return [{k: _cell(v) for k, v in row.items()} for row in csv.DictReader(f)]


class Run:
    """An earlier run's folder: its tables (read once) and verdicts."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._tables: dict = {}
        path = self.folder / "verdicts.json"
        self.verdicts = {v["claim"]: v for v in json.loads(path.read_text())} if path.exists() else {}

    def table(self, name: str) -> list[dict] | None:
        if name not in self._tables:
            path = self.folder / f"{name}.csv"
            self._tables[name] = read_table(path) if path.exists() else None
        return self._tables[name]

    def verdict(self, claim: str, reading_index: int = 0) -> dict:
        """The claim's verdict (its ``reading_index``-th reading: 0 the main one, then ``other_readings``)."""
        v = self.verdicts.get(claim, {})
        readings = [v, *v.get("other_readings", [])]
        return readings[reading_index] if reading_index < len(readings) else {}


def _nstar(name: str):
    spec = figures.NSTAR[name]

    def draw(run: Run):
        rows = run.table(spec["check"])
        if not rows:
            return None
        rows = figures.nstar_rows(name, rows)
        readings = [n for n, s in figures.NSTAR.items() if s["check"] == spec["check"]]
        v = run.verdict(spec["claim"], readings.index(name))
        calibrated = v.get("calibrated_constant")
        if calibrated is None:  # other readings do not carry it: the protocol's rule, from the rows
            cal = [r["C_req"] for r in rows if r.get("calibration") and r.get("C_req") is not None]
            calibrated = max(cal) if cal else None
        return figures.nstar(name, rows, constant=v.get("constant"), calibrated=calibrated, verdict=v.get("verdict", ""))
    return draw


def _failures(run: Run):
    tests = run.table("halfspaces_tests")
    if not tests:
        return None
    return figures.halfspace_failures(tests, run.verdict("C3").get("protocol_verdict", ""))


def _symbolic(run: Run):
    return plots.bound_ratios() if run.table("symbolic") is not None else None


def _frontier(run: Run):
    rows = run.table("transformer") or []
    fr = [r for r in rows if r.get("kind") == "frontier"]
    if not fr:
        return None
    return plots.precision_frontier(fr, [r for r in rows if r.get("kind") == "beta"])


def _icl(run: Run):
    from .icl_check import EPS, PROBS, reference

    rows = run.table("icl")
    if not rows:
        return None
    return plots.icl(rows, EPS, PROBS, **reference(len(PROBS), [r["n"] for r in rows if r.get("kind") == "error"]))


FIGURES = {"symbolic_ratios": _symbolic, **{name: _nstar(name) for name in figures.NSTAR},
           "halfspaces_failure_vs_delta": _failures, "transformer_frontier": _frontier, "icl": _icl}


def redraw(folder: Path, width: str | None = None, formats=("pdf", "png"), out: Path | None = None) -> list[Path]:
    """Redraw every figure of the run in ``folder`` (into ``out``, default the same folder) at ``width``;
    the written paths. A folder that is not a results folder is refused in one line."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ToolkitError(f"results folder {str(folder)!r}: no such folder")
    if not (folder / "manifest.json").exists() and not any(folder.glob("*.csv")):
        raise ToolkitError(f"results folder {str(folder)!r}: no manifest.json and no tables (*.csv): "
                           "expected the --out folder of tmt reproduce or tmt experiment")
    try:
        run = Run(folder)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # json.JSONDecodeError is a ValueError
        raise ToolkitError(f"results folder {str(folder)!r}: verdicts.json does not read as a run's ({exc})") from None
    written: list[Path] = []
    with figstyle.paper(figstyle.width_name(width)):
        for name, draw in FIGURES.items():
            try:
                with np.errstate(divide="raise", invalid="raise"):  # a zero or NaN where a table needs a number
                    fig = draw(run)
            except (KeyError, ValueError, TypeError, AttributeError, ArithmeticError) as exc:
                raise ToolkitError(f"{name}: its table in {str(folder)!r} does not read as a run's ({exc})") from None
            if fig is not None:
                written += plots.save(fig, Path(out or folder) / name, formats=formats)
    if not written:
        raise ToolkitError(f"results folder {str(folder)!r}: no table that feeds a figure")
    return written
