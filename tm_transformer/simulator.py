"""The reference simulator: a plain loop over steps, obviously correct, returning the full trace.

Conventions (see docs/MACHINES.md): start state A, blank 0, head at cell 0, a two-way infinite tape.
A step is one executed transition; the transition into the halt state counts as a step and its write
counts. An undefined transition (``---``) stops the run *before* it, without a step (``reason =
'undefined'``); to read ``---`` as ``1RZ`` instead, call ``machine.with_undefined_as_halt()`` first.

The trace has one row per step t = 0..steps-1: the state and head *before* the step, the symbol read
and the symbol written. The final configuration is a :class:`RunResult`.
"""
from __future__ import annotations

from typing import Sequence, cast

import numpy as np

from .machine import HALT, TuringMachine
from .run_result import Cycler, RunResult, Trace, check_run_args  # noqa: F401  (their public home stays here too)


FAST_FROM = 100_000  # step limits from here on run in the compiled kernel (tm_transformer.fast) first


def simulate(machine: TuringMachine, steps: int, tape: Sequence[int] = (), *,
             detect_cycler: bool = False) -> RunResult:
    """Run ``machine`` for at most ``steps`` steps, initial tape ``tape`` at cells 0, 1, ...; the result
    holds the trace.

    The same :class:`RunResult` whatever the step limit, but from :data:`FAST_FROM` steps on (without
    ``detect_cycler``) the final configuration comes from the compiled fast simulator
    (:func:`tm_transformer.fast.run_fast`: BB(5) to its halt in about a second, not minutes) and the
    trace -- 32 bytes a step -- is replayed by the reference loop only when ``result.trace`` is read.
    """
    if detect_cycler or steps < FAST_FROM or machine.n_symbols > 256:  # the fast tape holds bytes
        return reference(machine, steps, tape, detect_cycler=detect_cycler)
    from .fast import run_fast

    fast = run_fast(machine, steps, tape)
    nonzero = np.flatnonzero(fast.tape)
    top = max(fast.max_head, fast.origin + int(nonzero[-1])) if nonzero.size else fast.max_head
    # the reference's extent: from the leftmost cell visited to the last cell visited or not blank
    final = np.zeros(top - fast.min_head + 1, np.int32)
    a, b = max(fast.origin, fast.min_head), min(fast.origin + len(fast.tape) - 1, top)
    final[a - fast.min_head: b - fast.min_head + 1] = fast.tape[a - fast.origin: b - fast.origin + 1]
    # the _Replay is stored as is: RunResult.trace (a _TraceField) turns it into a Trace on first read
    return RunResult(fast.steps, fast.state, fast.head, final, fast.min_head, fast.reason, fast.min_head,
                     fast.max_head, None, cast(Trace, _Replay(machine, steps, tuple(int(x) for x in tape))))


class _Replay:
    """A trace not computed yet: the reference loop's, on first read of ``RunResult.trace``."""

    def __init__(self, machine: TuringMachine, steps: int, tape: tuple):
        self.machine, self.steps, self.tape = machine, steps, tape

    def __call__(self) -> Trace:
        return cast(Trace, reference(self.machine, self.steps, self.tape).trace)  # reference() always records


class _TraceField:
    """``RunResult.trace``: the value given, or a :class:`_Replay` run on first read (then kept)."""

    def __get__(self, obj, owner=None):
        if obj is None:
            return None  # the dataclass default
        value = obj.__dict__.get("_trace")
        if isinstance(value, _Replay):
            value = value()
            obj.__dict__["_trace"] = value
        return value

    def __set__(self, obj, value):
        obj.__dict__["_trace"] = value


setattr(RunResult, "trace", _TraceField())  # a descriptor over the dataclass field (setattr: not a Trace)


def reference(machine: TuringMachine, steps: int, tape: Sequence[int] = (), *,
              detect_cycler: bool = False) -> RunResult:
    """The reference loop, one Python step at a time, building the trace as it goes."""
    init = check_run_args(machine, steps, tape)
    cells = {i: int(s) for i, s in enumerate(init) if s}
    table = machine.table
    state, head = 0, 0
    lo = hi = 0
    rows = []
    reason = "step_limit"
    records = _RecordLog() if detect_cycler else None
    cycler = None
    t = 0
    while t < steps:
        if records is not None:
            cycler = records.observe(t, state, head, cells, lo, hi)
            if cycler is not None:
                reason = "cycler"
                break
        sym = cells.get(head, 0)
        tr = table[state][sym]
        if tr is None:
            reason = "undefined"
            break
        rows.append((state, head, sym, tr.write))
        if tr.write:
            cells[head] = tr.write
        else:
            cells.pop(head, None)
        head += tr.move
        lo, hi = min(lo, head), max(hi, head)
        state = tr.next_state
        t += 1
        if state == HALT:
            reason = "halted"
            break
    arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
    trace = Trace(*(arr[:, j].copy() for j in range(4)))
    origin = min([lo, *cells.keys()]) if cells else lo
    top = max([hi, *cells.keys()]) if cells else hi
    final = np.zeros(top - origin + 1, np.int32)
    for c, s in cells.items():
        final[c - origin] = s
    return RunResult(t, state, head, final, origin, reason, lo, hi, cycler, trace)


class _RecordLog:
    """Translated-cycler detection from record-breaking steps.

    At a step where the head stands beyond every cell visited before (a new right record, or left), all
    cells on that side are blank. If two right records t1 < t2 have the same state, and the cells from the
    leftmost cell visited in [t1, t2] up to the head are the same (relative to the head) at t1 and at t2,
    then the run from t2 reads only a shifted copy of what the run from t1 read, and repeats forever with
    period t2 - t1 and offset h2 - h1. The mirror image holds for left records.
    """

    def __init__(self):
        self.right: list[tuple[int, int, int]] = []  # (t, state, head)
        self.left: list[tuple[int, int, int]] = []
        self.heads: list[int] = []
        self.snap: dict[int, dict[int, int]] = {}

    def observe(self, t, state, head, cells, lo, hi):
        self.heads.append(head)
        found = None
        for side, log in ((+1, self.right), (-1, self.left)):
            is_record = (head == hi) if side > 0 else (head == lo)
            if not is_record:
                continue
            for (t1, s1, h1) in log:
                if s1 != state:
                    continue
                span = self.heads[t1:t + 1]
                reach = (h1 - min(span)) if side > 0 else (max(span) - h1)
                old = self.snap[t1]
                if all(old.get(h1 - side * d, 0) == cells.get(head - side * d, 0) for d in range(reach + 1)):
                    cand = Cycler(t1, t - t1, head - h1)
                    if found is None or cand.start < found.start:
                        found = cand
                    break
            log.append((t, state, head))
            self.snap[t] = dict(cells)
        return found
