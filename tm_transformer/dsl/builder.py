"""Writing multi-symbol Turing machines by name: states and symbols are strings, rules are rules.

    from tm_transformer.dsl import Builder
    b = Builder(symbols="_01#", start="scan")          # '_' (the first symbol) is the blank
    b.rules('''
        scan  0 1  -> R scan          ; keep the symbol, move right
        scan  #    -> # L back
        back  *    -> L back          ; '*': every symbol without a rule of its own in this state
        back  _    -> _ R halt
    ''')
    spec = b.build()                                  # a Spec: the machine with its names
    spec.machine                                      # a TuringMachine (start state A = 'scan')
    spec.text()                                       # standard format when it fits, Morphett otherwise

A rule reads ``state reads -> [write] move next``: ``reads`` one or more symbols, or ``*``; ``write``
omitted keeps the symbol read; ``move`` is ``L`` or ``R`` (the machine type has no stay move);
``next`` a state name, or ``halt``. :meth:`Builder.rule` is the same from Python. Sub-machines (scan to
a separator, copy, compare, counters: :mod:`.library`) are functions that add rules under their own
state names, so a machine is composed by calling them with the states to enter and to leave by.

Compilation: the start state becomes state A (0), the other states follow in the order they were first
named; the blank is symbol 0, the others follow in the declared order. A (state, symbol) pair without
a rule is undefined (``---``): a run stops before it (``reason = 'undefined'``), which is how a learner
refuses a malformed prompt.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..errors import MachineFormatError, ToolkitError
from ..machine import HALT, LEFT, RIGHT, Transition, TuringMachine

HALT_NAME = "halt"
_MOVES = {"L": LEFT, "R": RIGHT}


@dataclass(frozen=True)
class Rule:
    state: str
    read: str          # a symbol name, or '*' (every symbol without an explicit rule in this state)
    write: str | None  # None: keep the symbol read
    move: str          # 'L' or 'R'
    next: str          # a state name or 'halt'


class Builder:
    """Collects symbols and rules; :meth:`build` compiles them to a :class:`Spec`.

    ``symbols``: the alphabet in index order, blank first (an iterable of names, or a string of
    one-character names). ``start``: the start state's name.
    """

    def __init__(self, symbols: Iterable[str] | str, start: str, name: str = "machine"):
        names = list(symbols)
        if not names:
            raise MachineFormatError("the alphabet is empty: expected the blank and other symbols")
        if len(set(names)) != len(names):
            dup = next(s for s in names if names.count(s) > 1)
            raise MachineFormatError(f"symbol {dup!r} is declared twice")
        for s in names:
            if not isinstance(s, str) or not s or any(c.isspace() for c in s) or s in ("*", "->"):
                raise MachineFormatError(f"symbol {s!r}: expected a non-empty name without spaces, not '*' or '->'")
        self.symbols = names
        self.start = start
        self.name = name
        self._rules: list[Rule] = []
        self._states: list[str] = [start]

    @property
    def blank(self) -> str:
        return self.symbols[0]

    @staticmethod
    def _check_state(name: str) -> None:
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise MachineFormatError(f"state {name!r}: expected a non-empty name without spaces")

    def _state(self, name: str) -> None:
        self._check_state(name)
        if name != HALT_NAME and name not in self._states:
            self._states.append(name)

    def _symbol(self, name: str, where: str) -> None:
        if name not in self.symbols:
            raise MachineFormatError(f"{where}: symbol {name!r} is not in the alphabet ({' '.join(self.symbols)})")

    def rule(self, state: str, read: str | Sequence[str], move: str, next: str, write: str | None = None) -> "Builder":
        """Add ``state`` reading ``read`` (a symbol, several, or '*') -> write ``write`` (None: keep),
        move ``move`` ('L'/'R'), go to ``next`` (a state or 'halt'). All or nothing: every part is
        checked before anything is added, so a refused rule leaves the builder as it was."""
        reads = [read] if isinstance(read, str) else list(read)
        where = f"rule {state} {' '.join(map(str, reads))}"
        if not reads:
            raise MachineFormatError(f"rule {state}: no symbol to read (expected a symbol, several, or '*')")
        if state == HALT_NAME:
            raise MachineFormatError(f"{where}: the halt state has no rules")
        if move not in _MOVES:
            raise MachineFormatError(f"{where}: move {move!r}, expected 'L' or 'R'")
        self._check_state(state)
        self._check_state(next)
        if write is not None:
            self._symbol(write, where)
        for k, r in enumerate(reads):
            if r != "*":
                self._symbol(r, where)
            if r in reads[:k] or any(x.state == state and x.read == r for x in self._rules):
                raise MachineFormatError(f"{where}: a second rule for state {state!r} reading {r!r}")
        self._state(state)
        self._state(next)
        self._rules += [Rule(state, r, write, move, next) for r in reads]
        return self

    def rules(self, text: str) -> "Builder":
        """Rules one a line, ``state reads... -> [write] move next``; ``;`` starts a comment."""
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.split(";", 1)[0].strip()
            if not line:
                continue
            if "->" not in line:
                raise MachineFormatError(f"rule line {lineno} ({line!r}): expected 'state reads -> [write] move next'")
            left, right = (part.split() for part in line.split("->", 1))
            if len(left) < 2 or len(right) not in (2, 3):
                raise MachineFormatError(f"rule line {lineno} ({line!r}): expected 'state reads -> [write] move next'")
            write = right[0] if len(right) == 3 else None
            self.rule(left[0], left[1:], move=right[-2], next=right[-1], write=write)
        return self

    def build(self) -> "Spec":
        """Compile: every state a rule names must have rules of its own (else it is a typo)."""
        defined = {r.state for r in self._rules}
        missing = [s for s in self._states if s not in defined]
        if missing:
            raise MachineFormatError(f"state {missing[0]!r} is entered but has no rules (a typo? 'halt' halts)")
        index = {s: i for i, s in enumerate(self._states)}
        sym = {s: i for i, s in enumerate(self.symbols)}
        table: list[list[Transition | None]] = [[None] * len(self.symbols) for _ in self._states]
        for wildcard in (False, True):
            for r in self._rules:
                if (r.read == "*") != wildcard:
                    continue
                i = index[r.state]
                for s in (range(len(self.symbols)) if wildcard else [sym[r.read]]):
                    if wildcard and table[i][s] is not None:
                        continue
                    write = s if r.write is None else sym[r.write]
                    nxt = HALT if r.next == HALT_NAME else index[r.next]
                    table[i][s] = Transition(write, _MOVES[r.move], nxt)
        return Spec(TuringMachine(tuple(tuple(row) for row in table)), tuple(self.symbols), tuple(self._states),
                    self.name)


@dataclass(frozen=True)
class Spec:
    """A compiled machine with the names it was written with: ``symbols[i]`` names symbol i,
    ``states[i]`` state i (``states[0]`` is the start)."""

    machine: TuringMachine
    symbols: tuple[str, ...]
    states: tuple[str, ...]
    name: str = "machine"

    def encode(self, names: Sequence[str]) -> list[int]:
        """A tape written in symbol names -> symbol indices (one cell per name)."""
        index = {s: i for i, s in enumerate(self.symbols)}
        bad = [s for s in names if s not in index]
        if bad:
            raise ToolkitError(f"tape symbol {bad[0]!r} is not in the alphabet of {self.name} ({' '.join(self.symbols)})")
        return [index[s] for s in names]

    def decode(self, cells: Sequence[int]) -> list[str]:
        return [self.symbols[int(c)] for c in cells]

    @property
    def fits_standard(self) -> bool:
        return self.machine.n_states <= 25 and self.machine.n_symbols <= 10

    def standard(self) -> str:
        """The bbchallenge standard format (symbols by index); raises beyond 25 states or 10 symbols."""
        from ..formats.standard import to_standard

        return to_standard(self.machine)

    def morphett(self) -> str:
        """Morphett's format in the machine's own state and symbol names (the blank written ``_``);
        needs one-character symbol names. ``formats.parse_morphett_program`` reads it back."""
        bad = [s for s in self.symbols[1:] if len(s) != 1 or s in "_*;!"]
        if bad:
            raise MachineFormatError(f"symbol {bad[0]!r}: Morphett's format needs one-character names other than _ * ; !")
        if any(s.lower().startswith("halt") for s in self.states):
            raise MachineFormatError("a state named halt...: Morphett reads it as a halting state")
        odd = [s for s in self.states if ";" in s or s == "*" or any(c.isspace() for c in s)]
        if odd:
            raise MachineFormatError(f"state {odd[0]!r}: Morphett's format needs state names without ';' "
                                     "(a comment there), whitespace, or '*' alone")
        name = ["_"] + list(self.symbols[1:])
        lines = [f"; {self.name}: {self.machine.n_states} states, {self.machine.n_symbols} symbols, start {self.states[0]}"]
        for i, row in enumerate(self.machine.table):
            for s, tr in enumerate(row):
                if tr is None:
                    continue
                nxt = HALT_NAME if tr.next_state == HALT else self.states[tr.next_state]
                lines.append(f"{self.states[i]} {name[s]} {name[tr.write]} {'l' if tr.move == LEFT else 'r'} {nxt}")
        return "\n".join(lines) + "\n"

    def text(self) -> str:
        """The standard format when the machine fits it (<= 25 states, <= 10 symbols), Morphett's otherwise."""
        return self.standard() if self.fits_standard else self.morphett()

    def program(self, tape: Sequence[str] = ()):
        """A :class:`~tm_transformer.formats.program.Program` (machine, input, names) for the CLI tools."""
        from ..formats.program import Program

        return Program(self.machine, tuple(self.encode(tape)), self.symbols, self.states)

    def draw(self, tape: Sequence[str], steps: int, path=None, title: str | None = None):
        """The space-time diagram of a run from ``tape`` (symbol names), see :func:`tm_transformer.draw.draw`."""
        from ..draw import draw

        return draw(self.machine, steps, path, self.encode(tape), title=title or f"{self.name}")
