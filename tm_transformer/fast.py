"""A fast path for long runs that keeps no trace (numba when installed, else a plain loop).

Runs BB(5) to its halt (47,176,870 steps) in about a second. Same conventions and result type as
:func:`tm_transformer.simulator.simulate`, without the trace. The tape is a growing uint8 array; the
compiled kernel runs until the head reaches an edge or a chunk of steps is done, so Python only sees
a few calls per run (and can show progress).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .machine import HALT, TuringMachine
from .run_result import RunResult, check_run_args

try:  # numba is a dependency, but the kernel stays usable where it is missing (e.g. a bare GPU box)
    from numba import njit
except ImportError:  # pragma: no cover
    def njit(*args, **kwargs):
        return args[0] if args and callable(args[0]) else (lambda f: f)

_RUNNING, _HALTED, _UNDEFINED, _EDGE = 0, 1, 2, 3


@njit(cache=True)
def _kernel(write, move, nxt, defined, tape, pos, state, budget):
    """Run at most ``budget`` steps from (pos, state) on ``tape``; returns (done, pos, state, status, lo, hi)."""
    lo = pos
    hi = pos
    n = tape.shape[0]
    done = 0
    while done < budget:
        if pos <= 0 or pos >= n - 1:
            return done, pos, state, _EDGE, lo, hi
        sym = tape[pos]
        if not defined[state, sym]:
            return done, pos, state, _UNDEFINED, lo, hi
        tape[pos] = write[state, sym]
        new_state = nxt[state, sym]
        pos += move[state, sym]
        if pos < lo:
            lo = pos
        if pos > hi:
            hi = pos
        done += 1
        state = new_state
        if state < 0:
            return done, pos, state, _HALTED, lo, hi
    return done, pos, state, _RUNNING, lo, hi


def run_fast(machine: TuringMachine, steps: int, tape: Sequence[int] = (),
             progress: Callable[[int], None] | None = None, chunk: int = 1 << 24) -> RunResult:
    """Run without a trace; ``progress(steps_done)`` is called between chunks."""
    init = check_run_args(machine, steps, tape)
    if machine.n_symbols > 256:  # never a silently wrong answer: the tape holds one byte a cell
        from .errors import ToolkitError

        raise ToolkitError(f"{machine.n_symbols} symbols: the fast simulator holds at most 256; use "
                           "tm_transformer.simulator.reference")
    a = machine.arrays
    write, move, nxt, defined = (a["write"].astype(np.uint8), a["move"].astype(np.int64),
                                 a["next"].astype(np.int64), a["defined"])
    size = max(1 << 12, 4 * len(init))
    buf = np.zeros(size, np.uint8)
    origin = -(size // 2)  # cell of buf[0]
    buf[-origin: -origin + len(init)] = init
    pos, state, done = -origin, 0, 0
    lo = hi = 0
    reason = "step_limit"
    while done < steps:
        d, pos, state, status, klo, khi = _kernel(write, move, nxt, defined, buf, pos, state, min(chunk, steps - done))
        done += int(d)
        lo, hi = min(lo, int(klo) + origin), max(hi, int(khi) + origin)
        if status == _HALTED:
            reason = "halted"
            break
        if status == _UNDEFINED:
            reason = "undefined"
            break
        if status == _EDGE:  # grow both ways, keep the head centred
            grown = np.zeros(2 * len(buf), np.uint8)
            shift = len(buf) // 2
            grown[shift: shift + len(buf)] = buf
            buf, pos, origin = grown, pos + shift, origin - shift
        if progress is not None:
            progress(done)
    state = HALT if state < 0 else int(state)
    a_lo, a_hi = min(lo, 0) - origin, max(hi, len(init) - 1) - origin
    final = buf[a_lo: a_hi + 1].astype(np.int32)
    return RunResult(done, state, int(pos) + origin, final, a_lo + origin, reason, lo, hi)
