"""The Turing machine type.

A machine has ``n_states`` working states (0 = A is the start state), ``n_symbols`` tape symbols
(0 is blank) and a transition for every (state, symbol) pair: write a symbol, move the head one cell
left (-1) or right (+1), go to a next state, which is either a working state or ``HALT``. A transition
may be undefined (``None``, written ``---`` in the standard format).

The type is immutable and validated at construction; errors name the row and the column.
Arrays for the simulators come from :meth:`TuringMachine.arrays`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import MachineFormatError

from .transition import HALT, LEFT, MAX_LETTER_STATES, RIGHT, Transition, state_name  # noqa: F401  (their home here too)


@dataclass(frozen=True, repr=False)
class TuringMachine:
    """An immutable Turing machine; ``table[state][symbol]`` is a :class:`Transition` or ``None``.

    ``TuringMachine("1RB1LB_1LA1RZ")`` reads the standard format; ``str`` and ``repr`` print it.
    """

    table: tuple[tuple[Transition | None, ...], ...]

    def __post_init__(self):
        if isinstance(self.table, str):  # TuringMachine("1RB1LB_1LA1RZ"), as the repr prints it
            from .notation import parse_table

            object.__setattr__(self, "table", parse_table(self.table))
        table = tuple(tuple(row) for row in self.table)
        object.__setattr__(self, "table", table)
        if not table:
            raise MachineFormatError("machine has no states: expected at least one row")
        k = len(table[0])
        if k < 1:
            raise MachineFormatError("row A has no transitions: expected at least 1 symbol")
        n = len(table)
        for i, row in enumerate(table):
            if len(row) != k:
                raise MachineFormatError(
                    f"row {state_name(i)} has {len(row)} transitions: expected {k}, like row A")
            for s, tr in enumerate(row):
                if tr is None:
                    continue
                where = f"row {state_name(i)}, symbol {s}"
                if not isinstance(tr, Transition):
                    raise MachineFormatError(f"{where}: expected a Transition or None, got {tr!r}")
                if not 0 <= tr.write < k:
                    raise MachineFormatError(f"{where}: writes symbol {tr.write}, expected 0..{k - 1}")
                if tr.move not in (LEFT, RIGHT):
                    raise MachineFormatError(f"{where}: move {tr.move}, expected -1 (L) or +1 (R)")
                if not (tr.next_state == HALT or 0 <= tr.next_state < n):
                    raise MachineFormatError(
                        f"{where}: next state {tr.next_state}, expected 0..{n - 1} or HALT")

    @property
    def n_states(self) -> int:
        return len(self.table)

    @property
    def n_symbols(self) -> int:
        return len(self.table[0])

    @property
    def has_undefined(self) -> bool:
        return any(tr is None for row in self.table for tr in row)

    def with_undefined_as_halt(self) -> "TuringMachine":
        """Replace every ``---`` by ``1RZ`` (the convention of the published champions)."""
        fill = Transition(1, RIGHT, HALT)
        return TuringMachine(tuple(tuple(fill if tr is None else tr for tr in row) for row in self.table))

    def resolve_undefined(self, policy: str) -> "TuringMachine":
        """``policy`` 'stop' keeps ``---`` (the run stops before it); '1RZ' turns it into a halt."""
        if policy == "stop":
            return self
        if policy == "1RZ":
            return self.with_undefined_as_halt()
        raise MachineFormatError(f"undefined-transition policy {policy!r}: expected 'stop' or '1RZ'")

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """int32 arrays of shape (n_states, n_symbols): write, move, next; bool ``defined``.

        Undefined entries have write = symbol read, move = 0, next = state, defined = False.
        """
        n, k = self.n_states, self.n_symbols
        write = np.tile(np.arange(k, dtype=np.int32), (n, 1))
        move = np.zeros((n, k), np.int32)
        nxt = np.tile(np.arange(n, dtype=np.int32)[:, None], (1, k))
        defined = np.zeros((n, k), bool)
        for i, row in enumerate(self.table):
            for s, tr in enumerate(row):
                if tr is not None:
                    write[i, s], move[i, s], nxt[i, s], defined[i, s] = tr.write, tr.move, tr.next_state, True
        for a in (write, move, nxt, defined):
            a.setflags(write=False)
        return {"write": write, "move": move, "next": nxt, "defined": defined}

    def __str__(self) -> str:
        """The standard format, e.g. ``1RB1LB_1LA1RZ`` (the YAML format beyond 25 states or 10 symbols)."""
        from .notation import table_text, yaml_text

        try:
            return table_text(self.table)
        except MachineFormatError:
            return yaml_text(self.table)

    def __repr__(self) -> str:
        """``TuringMachine('1RB1LB_1LA1RZ')``: evaluates back to an equal machine."""
        from .notation import table_text

        try:
            return f"TuringMachine({table_text(self.table)!r})"
        except MachineFormatError:
            return f"TuringMachine(table={self.table!r})"


def random_machine(rng: np.random.Generator, n_states: int, n_symbols: int,
                   p_halt: float = 0.05, p_undefined: float = 0.0) -> TuringMachine:
    """A random machine: each transition independently uniform, halting with prob. ``p_halt``."""
    rows = []
    for _ in range(n_states):
        row = []
        for _ in range(n_symbols):
            u = rng.random()
            if u < p_undefined:
                row.append(None)
                continue
            nxt = HALT if rng.random() < p_halt else int(rng.integers(n_states))
            row.append(Transition(int(rng.integers(n_symbols)), int(rng.choice([LEFT, RIGHT])), nxt))
        rows.append(tuple(row))
    return TuringMachine(tuple(rows))
