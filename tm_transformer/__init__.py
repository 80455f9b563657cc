"""tm_transformer: Turing machines, a reference simulator, and a hand-built transformer that runs them.

Quick start::

    from tm_transformer import parse_machine, simulate
    m = parse_machine("1RB1LB_1LA1RZ")
    simulate(m, 100).summary()   # {'steps': 6, 'sigma': 4, 'halted': True, ...}

Subpackages: :mod:`tm_transformer.transformer` (the hand-built transformer), :mod:`tm_transformer.bounds`
(the sample bounds), :mod:`tm_transformer.experiments` (the checks); :mod:`tm_transformer.plots` (the
report's figures as functions of result tables) and :mod:`tm_transformer.figstyle` (the figure style).
"""
from ._layout import install_source_layout as _install_source_layout

_install_source_layout()  # a source checkout keeps bounds/ and experiments/ beside this package
from .errors import MachineFormatError, PrecisionError, ToolkitError  # noqa: E402
from .formats import Program, load_machine, load_program, load_programs, parse_machine, write_machine  # noqa: E402
from .machine import HALT, LEFT, RIGHT, Transition, TuringMachine, random_machine, state_name  # noqa: E402
from .simulator import RunResult, Trace, simulate  # noqa: E402

__all__ = ["HALT", "LEFT", "RIGHT", "Transition", "TuringMachine", "random_machine", "state_name",
           "MachineFormatError", "PrecisionError", "ToolkitError", "Program", "load_machine", "load_program",
           "load_programs", "parse_machine", "write_machine", "RunResult", "Trace", "simulate", "__version__"]
__version__ = "0.1.0"  # the one version source: pyproject.toml reads it, tmt --version prints it
