"""Morphett's simulator format: one rule per line, ``state read write move next``.

``_`` is the blank, ``;`` starts a comment, a state whose name starts with ``halt`` halts, ``*`` as the
read symbol matches every symbol without a rule of its own, ``*`` as the written symbol keeps the
symbol, ``*`` as the next state keeps the state; a trailing ``!`` (a breakpoint) is ignored. The start
state is ``0`` when present, else the first state named. Moves must be ``l``/``r`` (the stay move ``*``
has no counterpart in our machine type and is rejected).

Symbols: ``_`` is 0, digits 1-9 are themselves, any other character gets the next free index in order
of appearance; :func:`parse_morphett_program` keeps these names. Written machines name states 0, 1, ...
and the halt state ``halt``.
"""
from __future__ import annotations

import re

from ..errors import MachineFormatError
from ..machine import HALT, LEFT, RIGHT, Transition, TuringMachine
from .program import Program


_HEADER = re.compile(r"tm_transformer:\s*states=(\d+)\s+symbols=(\d+)")


def parse_morphett(text: str) -> TuringMachine:
    """The machine a Morphett program describes."""
    return parse_morphett_program(text).machine


def parse_morphett_program(text: str) -> Program:
    """The machine and the names of its symbols (``_`` for the blank)."""
    shape = _HEADER.search(text)  # written by us: states 0..n-1 and k symbols, even unused ones
    rules = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) == 6 and parts[5] == "!":
            parts = parts[:5]
        if len(parts) != 5:
            raise MachineFormatError(
                f"line {lineno}: {len(parts)} fields, expected 5: 'state read write move next'")
        rules.append((lineno, *parts))
    if not rules and not shape:
        raise MachineFormatError("no rules found: expected lines 'state read write move next'")

    if shape and (int(shape[1]) > 100_000 or int(shape[2]) > 1000):
        raise MachineFormatError("header: expected at most 100,000 states and 1,000 symbols")
    states: list[str] = []
    for lineno, cur, _, _, _, nxt in rules:
        if cur == "*":
            raise MachineFormatError(f"line {lineno}: the wildcard state '*' is not supported: "
                                     "write the rule once for each state")
        for st in ((cur,) if nxt == "*" else (cur, nxt)):
            if not st.lower().startswith("halt") and st not in states:
                states.append(st)
    if shape:
        extra = [st for st in states if st not in {str(i) for i in range(int(shape[1]))}]
        if extra:
            raise MachineFormatError(f"state {extra[0]!r} is beyond the {shape[1]} states of the header")
        states = [str(i) for i in range(int(shape[1]))]
    if "0" in states:
        states.remove("0")
        states.insert(0, "0")
    index = {st: i for i, st in enumerate(states)}

    symbols: dict[str, int] = {"_": 0}
    digits = sorted({int(c) for _, _, r, w, _, _ in rules for c in (r, w) if c in "123456789"})
    for d in digits:
        symbols[str(d)] = d
    nxt_free = (max(digits) + 1) if digits else 1
    for _, _, r, w, _, _ in rules:
        for c in (r, w):
            if len(c) != 1:
                raise MachineFormatError(f"symbol {c!r}: expected a single character")
            if c != "*" and c not in symbols:
                symbols[c] = nxt_free
                nxt_free += 1
    k = max(nxt_free, int(shape[2]) if shape else 0)
    if k > 1000 or len(states) > 100_000:
        raise MachineFormatError(f"{len(states)} states x {k} symbols: expected at most 100,000 x 1,000")

    table: list[list[Transition | None]] = [[None] * k for _ in states]
    explicit: set[tuple[int, int]] = set()
    halts = []
    # explicit rules first, then wildcards fill what is left
    for wildcard_pass in (False, True):
        for lineno, cur, r, w, mv, nxt in rules:
            if cur.lower().startswith("halt"):
                raise MachineFormatError(f"line {lineno}: a rule for halt state {cur!r}")
            if (r == "*") != wildcard_pass:
                continue
            if mv.lower() not in ("l", "r"):
                raise MachineFormatError(f"line {lineno}: move {mv!r}, expected 'l' or 'r' (stay moves are not supported)")
            i = index[cur]
            reads = range(k) if r == "*" else [symbols[r]]
            for s in reads:
                if (i, s) in explicit:
                    if r != "*":
                        raise MachineFormatError(f"line {lineno}: a second rule for state {cur!r} reading {r!r}")
                    continue
                explicit.add((i, s))
                write = s if w == "*" else symbols[w]
                target = i if nxt == "*" else HALT if nxt.lower().startswith("halt") else index[nxt]
                table[i][s] = Transition(write, LEFT if mv.lower() == "l" else RIGHT, target)
                if target == HALT:
                    halts.append((i, s, nxt))
    names = [str(j) for j in range(k)]
    for name, j in symbols.items():
        names[j] = name
    state_names = [name for name, _ in sorted(index.items(), key=lambda kv: kv[1])]
    return Program(TuringMachine(tuple(tuple(row) for row in table)), (), tuple(names), tuple(state_names),
                   tuple(halts))


def to_morphett(machine: TuringMachine) -> str:
    lines = [f"; tm_transformer: states={machine.n_states} symbols={machine.n_symbols} (start state 0, blank _)"]
    for i, row in enumerate(machine.table):
        for s, tr in enumerate(row):
            if tr is None:
                continue
            sym = lambda v: "_" if v == 0 else str(v)  # noqa: E731
            if machine.n_symbols > 10:
                raise MachineFormatError("Morphett output supports at most 10 symbols")
            nxt = "halt" if tr.next_state == HALT else str(tr.next_state)
            lines.append(f"{i} {sym(s)} {sym(tr.write)} {'l' if tr.move == LEFT else 'r'} {nxt}")
    return "\n".join(lines) + "\n"
