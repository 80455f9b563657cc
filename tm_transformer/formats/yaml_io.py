"""turingmachine.io YAML: ``blank``, ``start state`` and ``table``.

``table`` maps each state to a mapping from read symbol to an instruction: ``L``/``R`` (move, keep
symbol and state), or a mapping with optional ``write`` and one of ``L``/``R`` whose value is the next
state (absent: same state). A state with an empty table halts. Symbols are integers in written files;
when read, the blank is 0, digit symbols are themselves, other symbols are numbered in order of
appearance.
"""
from __future__ import annotations

import re

import yaml

from ..errors import MachineFormatError
from ..machine import HALT, LEFT, RIGHT, Transition, TuringMachine, state_name


class _Loader(yaml.SafeLoader):
    """turingmachine.io writes several symbols as one key (``[0, 1]: R``): read such keys as tuples."""

    def construct_mapping(self, node, deep=False):
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.SequenceNode):
                key_node.tag = "tag:yaml.org,2002:python/tuple"
        return super().construct_mapping(node, deep=deep)


_Loader.add_constructor("tag:yaml.org,2002:python/tuple",
                        lambda loader, node: tuple(loader.construct_sequence(node)))

_HEADER = re.compile(r"tm_transformer:\s*working=(\S*)\s+symbols=(\d+)")


def parse_yaml(text: str) -> TuringMachine:
    shape = _HEADER.search(text)  # written by us: which empty states are working states, how many symbols
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise MachineFormatError(f"invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict) or "table" not in doc or not isinstance(doc["table"], dict):
        raise MachineFormatError("YAML machine needs a 'table' mapping of states")
    table_in = doc["table"]
    start = doc.get("start state", next(iter(table_in)))
    if start not in table_in:
        raise MachineFormatError(f"start state {start!r} is not in 'table'")
    blank = str(doc.get("blank", "0"))

    declared = set(shape[1].split(",")) if shape else set()
    halting = {st for st, rules in table_in.items() if not rules and str(st) not in declared}
    working = [start] + [st for st in table_in if st != start and st not in halting]
    index = {st: i for i, st in enumerate(working)}

    symbols = {blank: 0}
    raw_syms: list[str] = []

    def sym_keys(key) -> list[str]:
        return [str(s) for s in key] if isinstance(key, (list, tuple)) else [str(key)]

    for st in working:
        rules = table_in[st] or {}
        if not isinstance(rules, dict):
            raise MachineFormatError(f"state {st!r}: expected a mapping from symbols to instructions")
        for key, ins in rules.items():
            raw_syms += sym_keys(key)
            if isinstance(ins, dict) and "write" in ins:
                raw_syms.append(str(ins["write"]))
    digits = sorted({int(s) for s in raw_syms if s.isdigit() and s != blank})
    for d in digits:
        if d not in symbols.values():  # digit 0 is not the blank here: it gets a free index below
            symbols[str(d)] = d
    free = max(symbols.values()) + 1
    for s in raw_syms:
        if s not in symbols:
            symbols[s] = free
            free += 1
    k = max(2, free, int(shape[2]) if shape else 0)

    def target(name):
        if name in halting:
            return HALT
        if name not in index:
            raise MachineFormatError(f"next state {name!r} is not in 'table'")
        return index[name]

    table = [[None] * k for _ in working]
    for st in working:
        for key, ins in (table_in[st] or {}).items():
            for s in sym_keys(key):
                r = symbols[s]
                where = f"state {st!r}, symbol {s!r}"
                if ins in ("L", "R"):
                    table[index[st]][r] = Transition(r, LEFT if ins == "L" else RIGHT, index[st])
                    continue
                if not isinstance(ins, dict):
                    raise MachineFormatError(f"{where}: instruction {ins!r}, expected L, R or a mapping")
                moves = [m for m in ("L", "R") if m in ins]
                if len(moves) != 1:
                    raise MachineFormatError(f"{where}: expected exactly one of L or R (stay moves are not supported)")
                mv = moves[0]
                nxt = index[st] if ins[mv] is None else target(ins[mv])
                write = symbols[str(ins["write"])] if "write" in ins else r
                table[index[st]][r] = Transition(write, LEFT if mv == "L" else RIGHT, nxt)
    return TuringMachine(tuple(tuple(row) for row in table))


def to_yaml(machine: TuringMachine) -> str:
    working = ",".join(state_name(i) for i in range(machine.n_states))
    lines = [f"# tm_transformer: working={working} symbols={machine.n_symbols}", "input: ''", "blank: 0",
             f"start state: {state_name(0)}", "table:"]
    for i, row in enumerate(machine.table):
        lines.append(f"  {state_name(i)}:" + ("" if any(tr is not None for tr in row) else " {}"))
        for s, tr in enumerate(row):
            if tr is None:
                continue
            mv = "L" if tr.move == LEFT else "R"
            lines.append(f"    {s}: {{write: {tr.write}, {mv}: {state_name(tr.next_state)}}}")
    lines.append(f"  {state_name(HALT)}:")
    return "\n".join(lines) + "\n"
