"""Sub-machines: functions that add a small, named piece of machine to a :class:`~.builder.Builder`.

Each takes the state to enter it by (``at``) and the state(s) to leave by (``then``), and adds rules
only for states whose names it is given or derives from ``at`` (``at + '.back'``), so pieces compose
by naming: the ``then`` of one piece is the ``at`` of the next. Symbols are names; ``others`` means every
symbol of the alphabet not listed (the builder's ``*``).

* :func:`scan_to` -- move over everything until a stop symbol; step over it into ``then``;
* :func:`branch` -- read a symbol and go to the state of its case (a field compared with constants);
* :func:`carry_to` -- read a symbol, carry it in the state to the first free cell in a direction and
  write it there (copy one cell; states ``at/v`` per symbol v);
* :func:`compare_cells` -- the symbol under the head against the symbol of a carried value: equal /
  different branches (compare two fields cell by cell);
* :func:`unary_increment` -- add one to a unary counter ``1^k`` and come back;
* :func:`binary_increment` -- add one to a binary counter written least significant bit first.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from .builder import Builder

_BACK = {"L": "R", "R": "L"}


def scan_to(b: Builder, at: str, stop: Sequence[str] | str, then: str, move: str = "R") -> None:
    """In ``at``: move ``move`` over every symbol not in ``stop``; on a stop symbol keep it, move once
    more and enter ``then`` (the head is then on the cell past the stop symbol)."""
    stop = [stop] if isinstance(stop, str) else list(stop)
    b.rule(at, stop, move=move, next=then)
    b.rule(at, "*", move=move, next=at)


def branch(b: Builder, at: str, cases: Mapping[str, str], move: str = "R", write: Mapping[str, str] | None = None) -> None:
    """In ``at``: reading symbol s go to ``cases[s]``, moving ``move``, writing ``write[s]`` if given
    (else keeping s). Symbols without a case are undefined: the run stops there."""
    for s, nxt in cases.items():
        b.rule(at, s, move=move, next=nxt, write=(write or {}).get(s))


def carry_to(b: Builder, at: str, values: Mapping[str, str], stop: str, then: str, move: str = "L",
             erase: str | None = None) -> None:
    """Copy one cell: in ``at`` read v (one of ``values``), write ``erase`` there (None: keep v), and
    carry v in state ``at/v`` in direction ``move`` over every symbol except ``stop``; on ``stop`` write
    ``values[v]`` (the copy's symbol), step back (the opposite direction) and enter ``then``."""
    for v, copy in values.items():
        carried = f"{at}/{v}"
        b.rule(at, v, move=move, next=carried, write=erase)
        b.rule(carried, stop, move=_BACK[move], next=then, write=copy)
        b.rule(carried, "*", move=move, next=carried)


def compare_cells(b: Builder, at: str, expected: str, candidates: Sequence[str], equal: str, different: str,
                  move: str = "R", write: str | None = None) -> None:
    """In ``at``: the symbol under the head against ``expected`` (a value carried in the state's name):
    ``expected`` -> ``equal``, any other of ``candidates`` -> ``different``; writes ``write`` (None: keep)."""
    for s in candidates:
        b.rule(at, s, move=move, next=equal if s == expected else different, write=write)


def unary_increment(b: Builder, at: str, then: str, one: str = "1", move: str = "R") -> None:
    """Entered on the first cell of a unary counter ``one^k`` (k >= 0) laid out in direction ``move``,
    ended by a blank and preceded by a symbol other than ``one``: write ``one`` on the blank, come back
    and enter ``then`` on the counter's first cell. States ``at``, ``at.back``."""
    back = f"{at}.back"
    b.rule(at, one, move=move, next=at)
    b.rule(at, b.blank, move=_BACK[move], next=back, write=one)
    b.rule(back, one, move=_BACK[move], next=back)
    b.rule(back, "*", move=move, next=then)


def binary_increment(b: Builder, at: str, then: str, zero: str = "0", one: str = "1", move: str = "R") -> None:
    """Entered on the least significant bit of a binary counter whose higher bits follow in direction
    ``move``, ended by a blank and preceded by a symbol that is not a bit: add one (a carry may write a
    new top bit on the blank), come back and enter ``then`` on the least significant bit. States ``at``,
    ``at.back``."""
    back = f"{at}.back"
    b.rule(at, one, move=move, next=at, write=zero)    # 1 + carry = 0, carry on
    b.rule(at, [zero, b.blank], move=_BACK[move], next=back, write=one)
    b.rule(back, [zero, one], move=_BACK[move], next=back)
    b.rule(back, "*", move=move, next=then)
