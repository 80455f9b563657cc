"""What every ``tmt`` command that reads a machine shares: its arguments (machine, ``--index``, ``--format``,
``--undefined``, ``--tape``), loading the machine they name, and printing a run. A module of its own so that
the subcommands' CLIs (:mod:`tm_transformer.transformer.cli`, ...) and :mod:`tm_transformer.cli`, which
registers them, import it without importing each other.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, cast

from .errors import ToolkitError

if TYPE_CHECKING:
    from .run_result import Trace

DEFAULT_STEPS = 10 ** 8


def _steps(text: str) -> int:
    try:
        value = int(float(text)) if "e" in text.lower() else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer number of steps, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer number of steps, got {value}")
    return value


def _tape(text: str) -> str:
    """The ``--tape`` text, read against the machine's own symbol names once the machine is known."""
    if not text:
        raise argparse.ArgumentTypeError("initial tape '': expected one symbol per cell (e.g. 0110)")
    return text


def _tape_for(text: str | None, program) -> list[int]:
    """``--tape`` as symbol indices: in the file's symbol names where it names them (turingmachine.io,
    Morphett), else as digits; the file's input when no ``--tape`` was given."""
    if text is None:
        return list(program.tape)
    if program.symbols is not None:
        names = {name: i for i, name in enumerate(program.symbols) if len(name) == 1}
        bad = [c for c in text if c not in names]
        if bad:
            raise ToolkitError(f"--tape {text!r}: {bad[0]!r} is not one of the file's symbols "
                               f"({', '.join(repr(n) for n in names)})")
        return [names[c] for c in text]
    if not (text.isascii() and text.isdigit()):
        raise ToolkitError(f"--tape {text!r}: expected digits, one symbol per cell (e.g. 0110)")
    return [int(c) for c in text]


def _add_machine_args(p):
    p.add_argument("machine", help="standard-format string (e.g. 1RB1LB_1LA1RZ), a machine file (.txt/.tm/.yaml; "
                                   "a .txt may list one machine per line) or - for standard input")
    p.add_argument("--index", type=_index, default=None, metavar="N",
                   help="the machine on line N (0-based, comment lines not counted) of a file listing several")
    p.add_argument("--format", choices=["standard", "morphett", "yaml"], help="input format (default: detect)")
    p.add_argument("--undefined", choices=["stop", "1RZ"], default="stop",
                   help="read '---' as: stop before it without a step (default) or the halt transition 1RZ")
    p.add_argument("--tape", type=_tape, default=None,
                   help="initial tape from cell 0 on, one symbol a cell: digits, or the file's own symbol names "
                        "(YAML, Morphett), e.g. 0120 (default: the file's input, else blank)")


def _index(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a machine number 0, 1, 2, ..., got {text!r}")
    return int(text)


def _programs(args) -> list:
    """Every machine ``args.machine`` names (read once: standard input cannot be read twice)."""
    if getattr(args, "_programs", None) is None:
        from .formats import load_programs

        args._programs = load_programs(args.machine.strip() if args.machine.startswith(" ---") else args.machine,
                                       args.format)
    return args._programs


def _several(args) -> bool:
    return getattr(args, "index", None) is None and len(_programs(args)) > 1


def _load(args):
    """The machine to run (``--index`` picks one of several); its input becomes the tape unless ``--tape``."""
    from .formats import choose

    where = "standard input" if args.machine == "-" else f"{args.machine!r}"
    program = choose(_programs(args), getattr(args, "index", None), where)
    args.program = program
    if not isinstance(getattr(args, "tape", None), list):  # read once, in the file's symbols
        args.tape = _tape_for(getattr(args, "tape", None), program)
    return program.machine.resolve_undefined(args.undefined)


def _named(args, result) -> dict:
    """``output``: the final tape in the file's own symbol names (YAML and Morphett files); ``final_state``:
    the file's name of the state it ended in -- for a halt, the halting state entered (accept, reject)."""
    program = getattr(args, "program", None)
    if program is None or program.symbols is None:
        return {}
    out = {"output": program.tape_text(result)}
    if program.states is not None:
        if result.reason == "halted" and program.halts and result.steps <= 10 ** 7:
            from .simulator import simulate  # the last step's (state, read) names the halting state

            last = cast("Trace", simulate(program.machine.resolve_undefined(args.undefined), result.steps,
                                          args.tape).trace)  # simulate() always holds a trace
            out["final_state"] = program.halt_name(int(last.state[-1]), int(last.read[-1])) or "halt"
        elif 0 <= result.state < len(program.states):
            out["final_state"] = program.states[result.state]
    return out


def _run_each(args) -> int:
    """Every machine of a list, one JSON line each (reference engine)."""
    if args.engine != "reference":
        raise ToolkitError(f"{args.machine!r} holds {len(_programs(args))} machines: choose one with --index N "
                           f"to run it with the {args.engine} engine")
    from .fast import run_fast
    from .simulator import simulate

    for i, program in enumerate(_programs(args)):
        machine = program.machine.resolve_undefined(args.undefined)
        tape = _tape_for(args.tape, program)
        result = (simulate(machine, args.steps, tape, detect_cycler=True) if args.detect_cycler
                  else run_fast(machine, args.steps, tape))
        print(json.dumps({"index": i, "machine": str(machine), "engine": "reference", **result.summary()}), flush=True)
    return 0


def _tape_window(result, radius=20) -> str:
    lo, hi = result.head - radius, result.head + radius
    cells = result.window(lo, hi)
    return " ".join(f"[{s}]" if c == result.head else str(s) for c, s in zip(range(lo, hi + 1), cells))


def print_run(result, machine, out=None, extra: dict | None = None):
    out = out or sys.stdout
    how = {"halted": "halted", "undefined": "stopped before an undefined transition",
           "step_limit": "did not halt within the step limit", "cycler": "never halts (translated cycler)"}
    print(f"machine        {machine}", file=out)
    print(f"result         {how[result.reason]}", file=out)
    print(f"steps          {result.steps:,}", file=out)
    print(f"sigma          {result.sigma:,}", file=out)
    print(f"state          {result.summary()['state']}", file=out)
    print(f"head           {result.head}", file=out)
    print(f"cells visited  {result.cells_visited:,}", file=out)
    if result.cycler is not None:
        c = result.cycler
        print(f"cycler         start {c.start}, period {c.period}, offset {c.offset:+d}", file=out)
    for key, value in (extra or {}).items():
        print(f"{key:<14} {value}", file=out)
    print(f"tape           {_tape_window(result)}   (cells {result.head - 20}..{result.head + 20}, head in [ ])", file=out)
