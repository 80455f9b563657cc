"""What a run returns, whichever simulator ran it: the final configuration (:class:`RunResult`), the
per-step :class:`Trace`, a detected :class:`Cycler`, and the checks of a run's arguments. Shared by the
reference loop (:mod:`tm_transformer.simulator`) and the compiled fast path (:mod:`tm_transformer.fast`),
which import it and not each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import ToolkitError
from .machine import TuringMachine, state_name


@dataclass(frozen=True)
class Trace:
    """Per-step arrays, each of shape (steps,): ``state``, ``head`` (before the step), ``read``, ``write``."""

    state: np.ndarray
    head: np.ndarray
    read: np.ndarray
    write: np.ndarray

    def __len__(self) -> int:
        return len(self.state)

    def __eq__(self, other) -> bool:
        return isinstance(other, Trace) and all(
            np.array_equal(getattr(self, f), getattr(other, f)) for f in ("state", "head", "read", "write"))

    def first_difference(self, other: "Trace") -> int | None:
        """The first step at which two traces differ (or the shorter length), ``None`` if equal."""
        n = min(len(self), len(other))
        differ = np.zeros(n, bool)
        for f in ("state", "head", "read", "write"):
            differ |= getattr(self, f)[:n] != getattr(other, f)[:n]
        if differ.any():
            return int(np.argmax(differ))
        return None if len(self) == len(other) else n


@dataclass(frozen=True)
class Cycler:
    """From step ``start`` on, the run repeats every ``period`` steps shifted by ``offset`` cells."""

    start: int
    period: int
    offset: int


@dataclass(frozen=True)
class RunResult:
    """The final configuration. ``tape[i]`` is cell ``origin + i``; cells outside are blank.

    ``reason`` is 'halted' (a halt transition), 'undefined' (stopped before ``---``), 'step_limit' or
    'cycler' (a translated cycler was detected; it never halts).
    """

    steps: int
    state: int
    head: int
    tape: np.ndarray
    origin: int
    reason: str
    min_head: int
    max_head: int
    cycler: Cycler | None = None
    trace: Trace | None = field(default=None, compare=False, repr=False)  # from simulate(): read on demand

    @property
    def halted(self) -> bool:
        return self.reason in ("halted", "undefined")

    @property
    def sigma(self) -> int:
        return int(np.count_nonzero(self.tape))

    @property
    def cells_visited(self) -> int:
        """Distinct cells the head stood on, the final cell included (the head moves one cell a step)."""
        return self.max_head - self.min_head + 1

    def window(self, lo: int, hi: int) -> np.ndarray:
        """Symbols of cells lo..hi inclusive."""
        out = np.zeros(hi - lo + 1, np.int32)
        a, b = max(lo, self.origin), min(hi, self.origin + len(self.tape) - 1)
        if a <= b:
            out[a - lo: b - lo + 1] = self.tape[a - self.origin: b - self.origin + 1]
        return out

    def summary(self) -> dict:
        """The JSON contract of ``tmt run --json``."""
        out = {"steps": self.steps, "sigma": self.sigma, "halted": self.halted, "reason": self.reason,
               "state": state_name(self.state), "head": self.head, "cells_visited": self.cells_visited}
        if self.cycler is not None:
            out["cycler"] = {"start": self.cycler.start, "period": self.cycler.period, "offset": self.cycler.offset}
        return out


def check_run_args(machine: TuringMachine, steps: int, tape: Sequence[int]) -> np.ndarray:
    """Validate a step limit and an initial tape; return the tape as int32."""
    if not isinstance(machine, TuringMachine):
        raise ToolkitError(f"machine must be a TuringMachine, got {type(machine).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ToolkitError(f"steps must be a non-negative integer, got {steps!r}")
    arr = np.asarray(tape if len(tape) else [], dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= machine.n_symbols):
        bad = int(arr[(arr < 0) | (arr >= machine.n_symbols)][0])
        raise ToolkitError(f"initial tape holds symbol {bad}: expected 0..{machine.n_symbols - 1}")
    return arr.astype(np.int32)
