"""Space-time diagrams: one row per time step (time runs down), one column per cell, colour = symbol.

Long runs are drawn by keeping every ``every``-th row, so the image has at most ``max_rows`` rows; the
simulation itself is a compiled kernel that never stores the skipped rows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ToolkitError
from .fast import njit, run_fast
from .machine import TuringMachine
from .simulator import check_run_args


@njit(cache=True)
def _rows(write, move, nxt, defined, tape, pos, steps, every, out, heads):
    """Fill out[r] with the tape after step r*every (r = 0 is the initial tape); returns steps done."""
    state = 0
    r = 0
    out[0, :] = tape
    heads[0] = pos
    for t in range(steps):
        sym = tape[pos]
        if not defined[state, sym]:
            return t
        tape[pos] = write[state, sym]
        new_state = nxt[state, sym]
        pos += move[state, sym]
        state = new_state
        if (t + 1) % every == 0:
            r += 1
            out[r, :] = tape
            heads[r] = pos
        if state < 0:
            return t + 1
    return steps


def spacetime(machine: TuringMachine, steps: int, tape: Sequence[int] = (), max_rows: int = 2000):
    """Return (image (rows, width) of symbols, head column per row, first cell, steps done, every)."""
    init = check_run_args(machine, steps, tape)
    bounds = run_fast(machine, steps, init)
    lo, hi = min(bounds.min_head, 0), max(bounds.max_head, len(init) - 1)
    every = max(1, -(-steps // max_rows))
    width = hi - lo + 1
    buf = np.zeros(width, np.uint8)
    buf[-lo: -lo + len(init)] = init
    rows = steps // every + 1
    out = np.zeros((rows, width), np.uint8)
    heads = np.full(rows, -1, np.int64)
    a = machine.arrays
    done = _rows(a["write"].astype(np.uint8), a["move"].astype(np.int64), a["next"].astype(np.int64),
                 a["defined"], buf, -lo, steps, every, out, heads)
    used = int(done) // every + 1
    return out[:used], heads[:used], lo, int(done), every


def draw(machine: TuringMachine, steps: int, path: str | Path | None = None, tape: Sequence[int] = (),
         title: str | None = None):
    """The space-time diagram as a matplotlib ``Figure``; written to ``path`` (.png or .pdf) only when given.

    No pyplot and no backend switch: the figure displays inline in a notebook and saves under any backend.
    """
    if path is not None:
        path = Path(path)
        if path.suffix.lower() not in (".png", ".pdf"):
            raise ToolkitError(f"output file {str(path)!r}: expected a .png or .pdf name")
        if not path.absolute().parent.is_dir():  # a typo in a folder name must not create folders
            raise ToolkitError(f"output file {str(path)!r}: folder {str(path.parent)!r} does not exist; "
                               f"create it first")
    if steps < 1:
        raise ToolkitError(f"steps must be at least 1 to draw, got {steps}")
    import matplotlib
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    img, heads, lo, done, every = spacetime(machine, steps, tape)
    k = machine.n_symbols
    colours = ["#ffffff", "#1f3b73", "#e07a1f", "#2a9d5b", "#b5179e", "#7a7a7a", "#8c564b", "#17becf", "#bcbd22", "#d62728"]
    cmap = ListedColormap(colours[:k] if k <= len(colours) else matplotlib.colormaps["viridis"].resampled(k).colors)
    aspect = img.shape[1] / max(img.shape[0], 1)
    fig = Figure(figsize=(6, 6 * min(3.0, max(0.5, 1 / max(aspect, 1e-3)))) if aspect < 1 else (8, 5))
    ax = fig.subplots()
    ax.imshow(img, cmap=cmap, vmin=0, vmax=max(k - 1, 1), aspect="auto", interpolation="nearest",
              extent=(lo - 0.5, lo + img.shape[1] - 0.5, done + every / 2, -every / 2))
    if img.shape[0] <= 400:
        ax.plot(heads + lo, np.arange(len(heads)) * every, ".", color="#d62728", ms=2, label="head")
        ax.legend(loc="lower right", fontsize=7)
    ax.set_xlabel("cell")
    ax.set_ylabel("step" + (f" (every {every}th shown)" if every > 1 else ""))
    ax.set_title(title or f"{machine}  ({done} steps)", fontsize=9, family="monospace")
    fig.tight_layout()
    if path is not None:
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        fig.savefig(tmp, dpi=200)
        tmp.replace(path)  # nothing is written half-way
    return fig
