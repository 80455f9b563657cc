"""The data of a space-time diagram: one row per time step (time runs down), one column per cell, the
symbol in each. Long runs keep every ``every``-th row, so the image has at most ``max_rows`` rows; the
simulation itself is a compiled kernel that never stores the skipped rows. Drawn by
:func:`tm_transformer.plots.spacetime` (and :func:`tm_transformer.draw.draw`, which saves it).
"""
from __future__ import annotations

from typing import Sequence, cast

import numpy as np

from .errors import ToolkitError
from .fast import njit, run_fast
from .machine import TuringMachine
from .run_result import check_run_args


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
    bounds = run_fast(machine, steps, cast(Sequence[int], init))  # an int32 array: run_fast takes it as is
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


def check_steps(steps: int) -> None:
    if steps < 1:
        raise ToolkitError(f"steps must be at least 1 to draw, got {steps}")
