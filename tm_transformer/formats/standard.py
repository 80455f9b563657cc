"""The bbchallenge standard text format, e.g. ``1RB1LB_1LA1RZ``.

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

from ..machine import TuringMachine
from ..notation import HALT_LETTERS, parse_table, table_text  # noqa: F401  (HALT_LETTERS: its home here too)


def parse_standard(text: str, any_halt_letter: bool | None = None) -> TuringMachine:
    """Parse a standard-format string; raises :class:`MachineFormatError` naming the row and column.
    ``any_halt_letter``: read every next-state letter beyond the states as a halt (default: the
    environment's ``TMT_ANY_HALT_LETTER=1``, else only Z and H)."""
    return TuringMachine(parse_table(text, any_halt_letter))


def to_standard(machine: TuringMachine) -> str:
    """Write the canonical standard-format string (halt spelled ``Z``)."""
    return table_text(machine.table)
