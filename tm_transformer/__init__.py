"""tm_transformer: Turing machines, a reference simulator, and a hand-built transformer that runs them.

Quick start::

    from tm_transformer import parse_machine, simulate
    m = parse_machine("1RB1LB_1LA1RZ")
    simulate(m, 100).summary()   # {'steps': 6, 'sigma': 4, 'halted': True, ...}
    simulate(parse_machine("1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA"), 10**8)   # BB(5): compiled, about a second

``simulate`` runs long limits in the compiled fast simulator (``run_fast``, no trace) and replays the
trace only when ``.trace`` is read.

Subpackages: :mod:`tm_transformer.transformer` (the hand-built transformer), :mod:`tm_transformer.bounds`
(the sample bounds), :mod:`tm_transformer.experiments` (the checks); :mod:`tm_transformer.plots` (the
report's figures as functions of result tables) and :mod:`tm_transformer.figstyle` (the figure style).
"""
from typing import TYPE_CHECKING

from ._lazy import lazy as _lazy
from .errors import MachineFormatError, PrecisionError, ToolkitError

if TYPE_CHECKING:  # the names loaded on first use (below), as static tools see them
    from .fast import run_fast
    from .formats import Program, load_machine, load_program, load_programs, parse_machine, write_machine
    from .machine import HALT, LEFT, RIGHT, Transition, TuringMachine, random_machine, state_name
    from .simulator import RunResult, Trace, simulate

# the rest on first use (numpy loads with them): ``tmt --version`` and ``--help`` import nothing heavy
_lazy(__name__, {**dict.fromkeys(["Program", "load_machine", "load_program", "load_programs", "parse_machine",
                                  "write_machine"], ".formats"),
                 **dict.fromkeys(["HALT", "LEFT", "RIGHT", "Transition", "TuringMachine", "random_machine",
                                  "state_name"], ".machine"),
                 **dict.fromkeys(["RunResult", "Trace", "simulate"], ".simulator"), "run_fast": ".fast"})

__all__ = ["HALT", "LEFT", "RIGHT", "Transition", "TuringMachine", "random_machine", "state_name",
           "MachineFormatError", "PrecisionError", "ToolkitError", "Program", "load_machine", "load_program",
           "load_programs", "parse_machine", "write_machine", "RunResult", "Trace", "simulate", "run_fast",
           "__version__"]
__version__ = "0.5.0"  # the one version source: pyproject.toml reads it, tmt --version prints it
