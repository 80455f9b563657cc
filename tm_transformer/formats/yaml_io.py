"""turingmachine.io YAML: ``input``, ``blank``, ``start state`` and ``table``, read as the site reads it.

``table`` maps each state to a mapping from read symbol (or a list of symbols) to an instruction: ``L``
or ``R`` (move, keep symbol and state), or a mapping with an optional ``write`` and exactly one of
``L``/``R`` whose value is the next state (empty: the same state). A state with an empty table halts
once entered; a (state, symbol) pair without an instruction halts without a step (``---``). The tape
starts as ``input``, one symbol per character from cell 0, under the head.

Symbols keep their names: the blank is symbol 0; a digit that is not the blank is itself when free; the
other symbols are numbered in order of appearance. :func:`parse_yaml_program` returns the names with
the machine and the input; :func:`parse_yaml` the machine alone. YAML 1.1's ``yes``/``no``/``on``/
``off`` are read as the strings they are on the site, not as booleans; a key repeated in one mapping is
an error (PyYAML would keep the last one silently).
"""
from __future__ import annotations

import re

import yaml

from ..errors import MachineFormatError
from ..machine import HALT, LEFT, RIGHT, Transition, TuringMachine
from .program import Program


class _Loader(yaml.SafeLoader):
    """turingmachine.io writes several symbols as one key (``[0, 1]: R``): read such keys as tuples."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.SequenceNode):
                key_node.tag = "tag:yaml.org,2002:python/tuple"
            if isinstance(key_node, yaml.ScalarNode):  # a repeated key would silently keep the last value
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key_node.value!r} appears twice in one mapping", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct_tuple(loader: _Loader, node: yaml.SequenceNode) -> tuple:
    return tuple(loader.construct_sequence(node))


_Loader.add_constructor("tag:yaml.org,2002:python/tuple", _construct_tuple)
# YAML 1.2 booleans only (true/false), as js-yaml on turingmachine.io: a symbol 'y' or 'on' stays a string
_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))

_HEADER = re.compile(r"tm_transformer:\s*working=(\S*)\s+symbols=(\d+)")
_KEYS = {"input", "blank", "start state", "table", "name", "source code", "positions"}


def _scalar(value, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise MachineFormatError(f"{what} {value!r}: expected a symbol or a state name, not a {type(value).__name__}")


def _raw_input(text: str) -> str | None:
    """The ``input`` scalar as written in the file (before YAML turns 0011 into the number 9)."""
    node = yaml.compose(text, Loader=_Loader)
    for key, value in getattr(node, "value", []):
        if isinstance(key, yaml.ScalarNode) and key.value == "input" and isinstance(value, yaml.ScalarNode):
            return value.value
    return None


def _load(text: str) -> dict:
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MachineFormatError(f"invalid YAML: {first}") from None
    except RecursionError:
        raise MachineFormatError("invalid YAML: nested too deeply") from None
    if isinstance(doc, dict) and "source code" in doc and isinstance(doc["source code"], str):
        return _load(doc["source code"])  # the site's saved-example wrapper
    if not isinstance(doc, dict) or not isinstance(doc.get("table"), dict):
        raise MachineFormatError("YAML machine needs a 'table' mapping of states (turingmachine.io format)")
    unknown = [k for k in doc if k not in _KEYS]
    if unknown:
        raise MachineFormatError(f"YAML key {unknown[0]!r}: expected input, blank, start state and table")
    return doc


def parse_yaml_program(text: str) -> Program:
    """The machine, its input tape and its symbol names."""
    shape = _HEADER.search(text)  # written by us: which empty states are working states, how many symbols
    doc = _load(text)
    table_in = {_scalar(st, "state"): rules for st, rules in doc["table"].items()}
    if len(table_in) != len(doc["table"]):
        raise MachineFormatError("two states in 'table' have the same name")
    if not table_in:
        raise MachineFormatError("'table' has no states: expected at least the start state")
    if "blank" not in doc:
        raise MachineFormatError("YAML machine needs 'blank: <symbol>' (e.g. blank: ' ')")
    blank = _scalar(doc["blank"], "blank")
    start = _scalar(doc.get("start state", next(iter(doc["table"]))), "start state")
    if start not in table_in:
        raise MachineFormatError(f"start state {start!r} is not in 'table'")
    raw_input = doc.get("input", "")
    tape_text = "" if raw_input is None else _scalar(raw_input, "input")
    if isinstance(raw_input, (int, float)) and not isinstance(raw_input, bool) and tape_text != _raw_input(text):
        raise MachineFormatError(f"input {_raw_input(text)!r} is read by YAML as the number {tape_text}: quote it "
                                 f"(input: '{_raw_input(text)}')")

    declared = set(shape[1].split(",")) if shape else set()
    halting = {st for st, rules in table_in.items() if not rules and st not in declared}
    working = [start] + [st for st in table_in if st != start and st not in halting]
    index = {st: i for i, st in enumerate(working)}

    def sym_keys(key, st) -> list[str]:
        keys = list(key) if isinstance(key, (list, tuple)) else [key]
        if not keys:
            raise MachineFormatError(f"state {st!r}: an empty list of symbols")
        return [_scalar(s, f"state {st!r}: symbol") for s in keys]

    rules_of: dict[str, list] = {}
    raw_syms: list[str] = []
    for st in working:
        rules = table_in[st] or {}
        if not isinstance(rules, dict):
            raise MachineFormatError(f"state {st!r}: expected a mapping from symbols to instructions")
        rules_of[st] = []
        for key, ins in rules.items():
            syms = sym_keys(key, st)
            raw_syms += syms
            if isinstance(ins, dict) and "write" in ins:
                raw_syms.append(_scalar(ins["write"], f"state {st!r}: written symbol"))
            rules_of[st].append((syms, ins))
    raw_syms += [c for c in tape_text if c != blank]

    symbols = {blank: 0}
    for s in raw_syms:  # digits keep their value where it is free (the blank is 0)
        if s.isascii() and s.isdigit() and s not in symbols and int(s) not in symbols.values() and int(s) < 1000:
            symbols[s] = int(s)
    free = max(symbols.values()) + 1
    for s in raw_syms:
        if s not in symbols:
            symbols[s] = free
            free += 1
    k = max(free, int(shape[2]) if shape else 0)
    if k > 1000:
        raise MachineFormatError(f"{k} symbols: expected at most 1000")
    names = [str(i) for i in range(k)]
    for name, i in symbols.items():
        names[i] = name

    def target(name, where):
        name = _scalar(name, f"{where}: next state")
        if name in halting:
            return HALT
        if name not in index:
            raise MachineFormatError(f"{where}: next state {name!r} is not in 'table'")
        return index[name]

    table: list[list[Transition | None]] = [[None] * k for _ in working]
    halts = []
    for st in working:
        for syms, ins in rules_of[st]:
            for s in syms:
                r = symbols[s]
                where = f"state {st!r}, symbol {s!r}"
                if table[index[st]][r] is not None:
                    raise MachineFormatError(f"{where}: a second instruction for the same symbol")
                if ins in ("L", "R"):
                    table[index[st]][r] = Transition(r, LEFT if ins == "L" else RIGHT, index[st])
                    continue
                if not isinstance(ins, dict):
                    raise MachineFormatError(f"{where}: instruction {ins!r}, expected L, R or a mapping")
                extra = [key for key in ins if key not in ("write", "L", "R")]
                if extra:
                    raise MachineFormatError(f"{where}: key {extra[0]!r}, expected write and one of L or R")
                moves = [m for m in ("L", "R") if m in ins]
                if len(moves) != 1:
                    raise MachineFormatError(f"{where}: expected exactly one of L or R (stay moves are not supported)")
                mv = moves[0]
                nxt = index[st] if ins[mv] is None else target(ins[mv], where)
                if nxt == HALT:
                    halts.append((index[st], r, _scalar(ins[mv], where)))
                write = symbols[_scalar(ins["write"], f"{where}: written symbol")] if "write" in ins else r
                table[index[st]][r] = Transition(write, LEFT if mv == "L" else RIGHT, nxt)
    tape = tuple(symbols[c] if c != blank else 0 for c in tape_text)
    return Program(TuringMachine(tuple(tuple(row) for row in table)), tape, tuple(names), tuple(working),
                   tuple(halts))


def parse_yaml(text: str) -> TuringMachine:
    """The machine alone (its input: :func:`parse_yaml_program`)."""
    return parse_yaml_program(text).machine


def to_yaml(machine: TuringMachine) -> str:
    """``machine`` in the turingmachine.io YAML format (reads back with :func:`parse_yaml`)."""
    from ..notation import yaml_text

    return yaml_text(machine.table)
