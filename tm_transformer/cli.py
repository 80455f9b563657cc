"""The ``tmt`` command line: ``run``, ``draw`` and the subcommands the other packages register.

Every failure the user can cause ends with one line on stderr (``tmt: error: ...``) and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import cast

from . import __version__
from .cli_machines import (DEFAULT_STEPS, _add_machine_args, _index, _load, _named, _programs,  # noqa: F401
                           _run_each, _several, _steps, _tape, _tape_for, _tape_window, print_run)
from .errors import ToolkitError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise ToolkitError(f"{self.prog}: {message}")


def cmd_run(args) -> int:
    if args.steps is None and args.engine != "transformer":  # the transformer runs to the halt without --steps
        args.steps = DEFAULT_STEPS
    if _several(args):
        return _run_each(args)
    machine = _load(args)
    if args.engine == "transformer":
        from .transformer.cli import run_transformer

        return run_transformer(machine, args)
    steps = cast(int, args.steps)  # set above for every engine but the transformer
    if args.detect_cycler:
        from .simulator import simulate

        result = simulate(machine, steps, args.tape, detect_cycler=True)
    else:
        from .fast import run_fast
        from .progress import step_bar

        with step_bar(steps, enabled=steps >= 10 ** 7 and not args.json) as bar:
            result = run_fast(machine, steps, args.tape, progress=bar, chunk=1 << 22)
    if args.json:
        print(json.dumps({"machine": str(machine), "engine": "reference", **result.summary(), **_named(args, result)}))
    else:
        print_run(result, machine, extra=_named(args, result))
    return 0


def cmd_draw(args) -> int:
    from .draw import draw

    machine = _load(args)
    draw(machine, args.steps, args.output, args.tape)
    print(f"wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tmt", description="Turing machines, a hand-built transformer that runs them, and "
                                             "the sample bounds of in-context learning.")
    parser.add_argument("--version", action="version", version=f"tmt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="run a machine and report steps, sigma, halting, the final tape")
    _add_machine_args(p)
    p.add_argument("--steps", type=_steps, default=None,
                   help=f"step limit (default {DEFAULT_STEPS:,}; the transformer: to the halt, up to its certified limit)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--detect-cycler", action="store_true", help="detect translated cyclers (reference engine)")
    p.add_argument("--engine", choices=["reference", "transformer"], default="reference")
    p.add_argument("--dtype", default="float32", help="transformer engine: float16|bfloat16|float32|float64")
    p.add_argument("--softmax", type=float, default=None, metavar="BETA",
                   help="transformer engine: softmax attention with inverse temperature BETA (default hardmax)")
    p.add_argument("--head-range", type=int, default=None, metavar="R",
                   help="transformer engine: head cells -R..R the weights cover (default: the step limit)")
    p.add_argument("--layout", choices=["dense", "packed"], default=None,
                   help="transformer engine: cache of key/value vectors (dense) or of token ids (packed); "
                        "default packed, dense with --cache evict")
    p.add_argument("--cache", choices=["evict", "full"], default=None,
                   help="transformer engine: keep one key per cell, evicting the keys attention can never pick "
                        "again (evict, the default for hardmax), or every key (full, the default for --softmax)")
    p.add_argument("--weights", metavar="FILE.safetensors", default=None,
                   help="transformer engine: decode with the weights in this file (see tmt export)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("draw", help="draw the space-time diagram of a run")
    _add_machine_args(p)
    p.add_argument("--steps", type=_steps, required=True)
    p.add_argument("-o", "--output", required=True, help="FILE.png or FILE.pdf")
    p.set_defaults(func=cmd_draw)

    for register in _registrars():
        register(sub)
    return parser


def _registrars():
    out = []
    for module in ("tm_transformer.transformer.cli", "tm_transformer.bounds.cli", "tm_transformer.experiments.cli",
                   "tm_transformer.icl.cli"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ImportError as exc:
            if exc.name and module.startswith(exc.name) and exc.name != "tm_transformer":
                continue  # a part not built yet
            raise
        out.append(mod.register)
    return out


def _protect_machines(argv: list[str]) -> list[str]:
    """A machine string starting with ``---`` (an undefined first transition) is not an option: argparse
    reads a token holding a space as positional, and the parsers strip the space again."""
    return [(" " + a) if a.startswith("---") else a for a in argv]


def main(argv=None) -> int:
    try:
        argv = _protect_machines(list(sys.argv[1:] if argv is None else argv))
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        # var=value assignments may follow options (``compare A B --along V d=5``)
        if extra and hasattr(args, "values") and all("=" in e and not e.startswith("-") for e in extra):
            args.values = list(args.values) + extra
        elif extra:
            raise ToolkitError(f"tmt: unrecognized arguments: {' '.join(extra)}")
        return args.func(args)
    except ToolkitError as exc:
        msg = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())  # one line, always
        print(msg if msg.startswith("tmt") else f"tmt: error: {msg}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"tmt: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tmt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tmt ... | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except SystemExit as exc:  # --help and --version: argparse has printed them
        return exc.code if isinstance(exc.code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
