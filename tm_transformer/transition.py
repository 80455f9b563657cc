"""A machine's transitions, below every module that reads, writes or runs machines: ``HALT``, the moves
``LEFT``/``RIGHT``, state names (A, B, ..., Z for halt) and :class:`Transition`."""
from __future__ import annotations

from dataclasses import dataclass

HALT = -1
LEFT = -1
RIGHT = +1
MAX_LETTER_STATES = 25  # A..Y; Z spells halt


def state_name(state: int) -> str:
    """'A', 'B', ... for working states, 'Z' for halt, 'S<i>' beyond Y."""
    if state == HALT:
        return "Z"
    return chr(ord("A") + state) if state < MAX_LETTER_STATES else f"S{state}"


@dataclass(frozen=True)
class Transition:
    """write a symbol, move (-1 left, +1 right), go to ``next_state`` (``HALT`` = -1 halts)."""

    write: int
    move: int
    next_state: int

    @property
    def halts(self) -> bool:
        return self.next_state == HALT
