"""Adapter to and from automata-lib's ``DTM`` (optional extra ``automata``).

automata-lib writes a transition as ``(next_state, write, direction)``. We name states ``A``, ``B``,
..., the halt state ``Z`` (the DTM's only final state) and symbols ``'0'``..``'k-1'`` (``'0'`` blank).
"""
from __future__ import annotations

from ..errors import MachineFormatError
from ..machine import HALT, LEFT, RIGHT, Transition, TuringMachine, state_name


def _dtm_class():
    try:
        from automata.tm.dtm import DTM
    except ImportError:  # pragma: no cover - depends on the optional extra
        raise MachineFormatError("automata-lib is not installed: pip install 'tm-transformer[automata]'") from None
    return DTM


def to_automata(machine: TuringMachine):
    DTM = _dtm_class()
    syms = [str(s) for s in range(machine.n_symbols)]
    transitions = {}
    for i, row in enumerate(machine.table):
        transitions[state_name(i)] = {
            str(s): (state_name(tr.next_state), str(tr.write), "L" if tr.move == LEFT else "R")
            for s, tr in enumerate(row) if tr is not None}
    states = {state_name(i) for i in range(machine.n_states)} | {state_name(HALT)}
    return DTM(states=states, input_symbols=set(syms[1:]), tape_symbols=set(syms), transitions=transitions,
               initial_state=state_name(0), blank_symbol="0", final_states={state_name(HALT)})


def from_automata(dtm) -> TuringMachine:
    final = set(dtm.final_states)
    working = [dtm.initial_state] + sorted((s for s in dtm.states if s != dtm.initial_state and s not in final), key=str)
    index = {s: i for i, s in enumerate(working)}
    syms = [dtm.blank_symbol] + sorted((s for s in dtm.tape_symbols if s != dtm.blank_symbol), key=str)
    sym_index = {s: i for i, s in enumerate(syms)}
    table: list[list[Transition | None]] = [[None] * max(2, len(syms)) for _ in working]
    for st, rules in dtm.transitions.items():
        if st in final:
            continue
        for read, (nxt, write, direction) in rules.items():
            if direction not in ("L", "R"):
                raise MachineFormatError(f"state {st!r}, symbol {read!r}: direction {direction!r} is not supported")
            table[index[st]][sym_index[read]] = Transition(
                sym_index[write], LEFT if direction == "L" else RIGHT, HALT if nxt in final else index[nxt])
    return TuringMachine(tuple(tuple(r) for r in table))
