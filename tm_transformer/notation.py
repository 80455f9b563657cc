"""The standard text notation of a transition table, e.g. ``1RB1LB_1LA1RZ``, read and written without the
machine type (so :mod:`tm_transformer.machine` prints and parses machines without importing the formats,
which build machines). :mod:`tm_transformer.formats.standard` is its public face.

One row per state (A, B, ...), rows separated by ``_``; each row holds one three-character transition
per read symbol (any number of symbols from 1 to 10): written digit, move ``L``/``R``, next-state
letter. ``Z`` (or ``H``, where the machine has no state H) halts; any other letter beyond the machine's
states is refused, since ``0RX`` for ``0RA`` must not run as a halt -- unless asked for explicitly
(``any_halt_letter=True``, or ``TMT_ANY_HALT_LETTER=1`` for every entry point): then every letter at or
beyond A+n halts, the format's own rule (docs/MACHINES.md); ``---`` is undefined. Reading accepts
lower case and whitespace at the ends of the string or around a ``_``; whitespace inside a row is
refused, since ``1RB 1LB 1LA 1RZ`` could be one row or four. Writing is canonical (halt written ``Z``),
so ``parse(write(m)) == m`` for every machine.
"""
from __future__ import annotations

from .errors import MachineFormatError
from .transition import HALT, LEFT, MAX_LETTER_STATES, RIGHT, Transition, state_name

_MOVES = {"L": LEFT, "R": RIGHT}
HALT_LETTERS = ("Z", "H")  # the halt's spellings: Z (bbchallenge), H (the literature); H is a state from 8 states on


def parse_table(text: str, any_halt_letter: bool | None = None) -> tuple:
    """The transition table of a standard-format string; raises :class:`MachineFormatError` naming the row
    and column. ``any_halt_letter``: read every next-state letter beyond the states as a halt (default: the
    environment's ``TMT_ANY_HALT_LETTER=1``, else only Z and H)."""
    import os

    lenient = any_halt_letter if any_halt_letter is not None else os.environ.get("TMT_ANY_HALT_LETTER") == "1"
    if not isinstance(text, str):
        raise MachineFormatError(f"machine must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise MachineFormatError("empty machine string: expected rows like 1RB1LB_1LA1RZ")
    if not stripped.isascii():
        bad = next(c for c in stripped if not c.isascii())
        raise MachineFormatError(f"character {bad!r}: the standard format uses only digits, L, R, A-Z, '-' and '_'")
    rows = [r.strip().upper() for r in stripped.split("_")]
    for i, row in enumerate(rows):
        if any(c.isspace() for c in row):
            raise MachineFormatError(
                f"row {state_name(i)} ({row!r}) holds whitespace: write a row's transitions together and "
                f"separate rows with '_', e.g. 1RB1LB_1LA1RZ")
    n = len(rows)
    if n > MAX_LETTER_STATES:
        raise MachineFormatError(f"{n} rows: the standard format holds at most {MAX_LETTER_STATES} states")
    width = len(rows[0])
    if width == 0 or width % 3:
        raise MachineFormatError(
            f"row A has {width} characters: expected 3 per symbol (e.g. '1RB1LB'), a multiple of 3")
    k = width // 3
    if k > 10:
        raise MachineFormatError(f"row A has {k} transitions: the standard format holds at most 10 symbols")
    table = []
    for i, row in enumerate(rows):
        name = state_name(i)
        if len(row) != width:
            raise MachineFormatError(f"row {name} has {len(row)} characters: expected {width}, like row A")
        cells = []
        for s in range(k):
            tok = row[3 * s: 3 * s + 3]
            where = f"row {name}, transition {s} ({tok!r})"
            if tok == "---":
                cells.append(None)
                continue
            w, mv, nx = tok
            if w not in "0123456789":
                raise MachineFormatError(f"{where}: written symbol {w!r} is not a digit")
            if int(w) >= k:
                raise MachineFormatError(f"{where}: writes symbol {w}, but the machine has symbols 0..{k - 1}")
            if mv not in _MOVES:
                raise MachineFormatError(f"{where}: move {mv!r}, expected 'L' or 'R'")
            if not ("A" <= nx <= "Z"):
                raise MachineFormatError(f"{where}: next state {nx!r}, expected a letter A-Z")
            nxt = ord(nx) - ord("A")
            if nxt >= n and nx not in HALT_LETTERS and not lenient:  # a typo (0RX for 0RA) must not run as a halt
                raise MachineFormatError(
                    f"{where}: next state {nx!r}, but the machine has states A-{state_name(n - 1)}; "
                    f"write Z (or H) for halt, or set TMT_ANY_HALT_LETTER=1 to read every letter beyond the "
                    f"states as a halt (the format's own rule)")
            cells.append(Transition(int(w), _MOVES[mv], HALT if nxt >= n else nxt))
        table.append(tuple(cells))
    return tuple(table)


def table_text(table) -> str:
    """The canonical standard-format string of a transition table (halt spelled ``Z``)."""
    n_states, n_symbols = len(table), len(table[0])
    if n_states > MAX_LETTER_STATES or n_symbols > 10:
        raise MachineFormatError(
            f"{n_states} states x {n_symbols} symbols: the standard format holds at most "
            f"{MAX_LETTER_STATES} states and 10 symbols; use the YAML or Morphett format")
    rows = []
    for row in table:
        rows.append("".join(
            "---" if tr is None else f"{tr.write}{'L' if tr.move == LEFT else 'R'}{state_name(tr.next_state)}"
            for tr in row))
    return "_".join(rows)


def yaml_text(table) -> str:
    """A transition table in the turingmachine.io YAML format (what ``str`` prints past the standard
    format's 25 states or 10 symbols); :func:`tm_transformer.formats.yaml_io.to_yaml` writes a machine."""
    working = ",".join(state_name(i) for i in range(len(table)))
    lines = [f"# tm_transformer: working={working} symbols={len(table[0])}", "input: ''", "blank: 0",
             f"start state: {state_name(0)}", "table:"]
    for i, row in enumerate(table):
        lines.append(f"  {state_name(i)}:" + ("" if any(tr is not None for tr in row) else " {}"))
        for s, tr in enumerate(row):
            if tr is None:
                continue
            mv = "L" if tr.move == LEFT else "R"
            lines.append(f"    {s}: {{write: {tr.write}, {mv}: {state_name(tr.next_state)}}}")
    lines.append(f"  {state_name(HALT)}:")
    return "\n".join(lines) + "\n"
