"""tm_transformer: Turing machines, a reference simulator, and a hand-built transformer that runs them.

Quick start::

    from tm_transformer import parse_machine, simulate
    m = parse_machine("1RB1LB_1LA1RZ")
    simulate(m, 100).summary()   # {'steps': 6, 'sigma': 4, 'halted': True, ...}
"""
from .errors import MachineFormatError, PrecisionError, ToolkitError
from .formats import load_machine, parse_machine, write_machine
from .machine import HALT, LEFT, RIGHT, Transition, TuringMachine, random_machine, state_name
from .simulator import RunResult, Trace, simulate

__all__ = ["HALT", "LEFT", "RIGHT", "Transition", "TuringMachine", "random_machine", "state_name",
           "MachineFormatError", "PrecisionError", "ToolkitError", "load_machine", "parse_machine",
           "write_machine", "RunResult", "Trace", "simulate"]
__version__ = "0.1.0"
