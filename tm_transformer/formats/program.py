"""A machine as a file describes it: the machine, its input tape and the names of its symbols.

The standard format names symbols by their digits and has no input; turingmachine.io YAML names them
freely (``' '``, ``'0'``, ``'1'``, ``'x'``) and gives an ``input``; Morphett files name them by
characters (``_`` is the blank). A :class:`Program` keeps what the file said, so a run can start from
the file's input and print its tape in the file's own symbols.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..machine import TuringMachine


@dataclass(frozen=True)
class Program:
    """``machine`` with its initial ``tape`` (symbol indices from cell 0) and ``symbols[i]``, the name
    of symbol ``i`` in the file (``None``: the digits themselves)."""

    machine: TuringMachine
    tape: tuple[int, ...] = ()
    symbols: tuple[str, ...] | None = None
    states: tuple[str, ...] | None = None    # the file's name of each working state
    halts: tuple[tuple[int, int, str], ...] = ()  # (state, symbol read, halting state it enters)

    def halt_name(self, state: int, read: int) -> str | None:
        """The file's name of the halting state the transition (state, read) enters (accept, reject, ...)."""
        for st, sy, name in self.halts:
            if (st, sy) == (state, read):
                return name
        return None

    def name_of(self, symbol: int) -> str:
        """The file's name for symbol index ``symbol``."""
        if self.symbols is None or symbol >= len(self.symbols):
            return str(symbol)
        return self.symbols[symbol]

    def tape_text(self, result) -> str:
        """The final tape of a run from its first to its last non-blank cell, in the file's symbols
        (turingmachine.io shows the tape this way); '' for a blank tape."""
        cells = [int(s) for s in result.tape]
        nonblank = [i for i, s in enumerate(cells) if s]
        if not nonblank:
            return ""
        return "".join(self.name_of(s) if s else self.name_of(0) for s in cells[nonblank[0]: nonblank[-1] + 1])
