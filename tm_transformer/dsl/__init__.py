"""A small language for multi-symbol Turing machines: named states and symbols, rules written as rules,
sub-machines composed by naming the states they enter and leave by (:mod:`.library`), compiled to the
toolkit's :class:`~tm_transformer.machine.TuringMachine`, written in the standard format when it fits
and in Morphett's otherwise, and drawn. See the README section "Writing a machine"."""
from . import library
from .builder import HALT_NAME, Builder, Rule, Spec

__all__ = ["Builder", "Spec", "Rule", "HALT_NAME", "library"]
