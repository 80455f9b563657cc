"""Reading and writing machines: the standard format, Morphett's format, turingmachine.io YAML.

Every accepted text means exactly one machine (or, for a file of standard-format lines, one machine per
line, as bbchallenge lists them); anything else raises :class:`MachineFormatError` with one line
saying what was expected.

* :func:`parse_machine` / :func:`load_machine` -- one :class:`TuringMachine` from a text or a file;
* :func:`parse_programs` / :func:`load_programs` -- every machine of a text or a file as a
  :class:`Program` (machine, input tape, symbol names);
* :func:`load_program` -- one of them, ``index`` choosing among several (0-based).

``-`` as a file name reads standard input.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from ..errors import MachineFormatError
from ..machine import TuringMachine
from .morphett import parse_morphett, parse_morphett_program, to_morphett
from .program import Program
from .standard import parse_standard, to_standard
from .yaml_io import parse_yaml, parse_yaml_program, to_yaml

FORMATS = ("standard", "morphett", "yaml")
_WRITERS = {"standard": to_standard, "morphett": to_morphett, "yaml": to_yaml}
MAX_TEXT = 10_000_000  # characters; a longer "machine" is refused rather than read


def _content_lines(text: str, comment: str) -> list[tuple[int, str]]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith(comment):
            out.append((lineno, line))
    return out


def detect_format(text: str) -> str:
    """'yaml' when a ``table:`` key is present, 'morphett' when the first rule line has the five fields
    ``state read write move next`` (move ``l``, ``r`` or ``*``), else 'standard' (one machine per line)."""
    if "table:" in text:
        return "yaml"
    if "tm_transformer: states=" in text:  # the header of a Morphett file written by us
        return "morphett"
    lines = [ln for _, ln in _content_lines(text, "#") if not ln.startswith(";")]
    fields = lines[0].split(";")[0].split() if lines else []
    if len(fields) in (5, 6) and fields[3].lower() in ("l", "r", "*"):
        return "morphett"
    return "standard"


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise MachineFormatError(f"machine text must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise MachineFormatError(f"machine text has {len(text):,} characters: expected at most {MAX_TEXT:,}")
    if "\x00" in text:
        raise MachineFormatError("machine text holds a NUL character: expected a text file")
    return text


def parse_programs(text: str, fmt: str | None = None) -> list[Program]:
    """Every machine ``text`` holds: one per line for the standard format, else exactly one."""
    text = _check_text(text)
    fmt = fmt or detect_format(text)
    if fmt == "standard":
        lines = []
        for lineno, line in _content_lines(text, "#"):  # a line ending or starting with '_' continues a machine
            if lines and (lines[-1][1].endswith("_") or line.startswith("_")):
                lines[-1] = (lines[-1][0], lines[-1][1] + line)
            else:
                lines.append((lineno, line))
        if not lines:
            raise MachineFormatError("no machine found: expected a line like 1RB1LB_1LA1RZ")
        out = []
        for lineno, line in lines:
            try:
                out.append(Program(parse_standard(line)))
            except MachineFormatError as exc:
                raise (MachineFormatError(f"line {lineno}: {exc}") if len(lines) > 1 else exc) from None
        return out
    if fmt == "morphett":
        return [parse_morphett_program(text)]
    if fmt == "yaml":
        return [parse_yaml_program(text)]
    raise MachineFormatError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")


def choose(programs: list[Program], index: int | None, where: str) -> Program:
    """Program ``index`` (0-based) of ``programs``; without an index there must be exactly one."""
    if index is None:
        if len(programs) > 1:
            raise MachineFormatError(f"{where} holds {len(programs)} machines, one per line: choose one with "
                                     f"--index N (0..{len(programs) - 1})")
        return programs[0]
    if not 0 <= index < len(programs):
        raise MachineFormatError(f"--index {index}: {where} holds {len(programs)} machine(s), "
                                 f"expected 0..{len(programs) - 1}")
    return programs[index]


def parse_machine(text: str, fmt: str | None = None) -> TuringMachine:
    """The one machine ``text`` describes (several lines of machines raise: use :func:`parse_programs`)."""
    return choose(parse_programs(text, fmt), None, "the text").machine


def write_machine(machine: TuringMachine, fmt: str = "standard") -> str:
    if fmt not in _WRITERS:
        raise MachineFormatError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return _WRITERS[fmt](machine)


# a string of this shape is read as a machine, never as a file name (unless written ./NAME)
_STANDARD_SHAPE = re.compile(r"(?:[0-9-][LR-][A-Z-])+(?:_(?:[0-9-][LR-][A-Z-])+)*")


def _read(spec: str, fmt: str | None) -> tuple[str, str | None, str]:
    """(text, format, where) for a machine string, a file name, or '-' (standard input)."""
    if not isinstance(spec, str):
        raise MachineFormatError(f"machine must be a string or a file name, got {type(spec).__name__}")
    if spec == "-":
        return sys.stdin.read(), fmt, "standard input"
    if "\x00" not in spec and len(spec) < 4096:
        path = Path(spec)
        try:
            is_file = path.is_file()
        except OSError:
            is_file = False
        looks_standard = fmt in (None, "standard") and _STANDARD_SHAPE.fullmatch(spec.strip()) is not None
        if is_file and looks_standard:
            raise MachineFormatError(f"{spec} is both a machine string and a file here: write ./{spec} for the file")
        if looks_standard:
            return spec, "standard", "the machine string"
        if is_file:
            if fmt is None and path.suffix.lower() in (".yaml", ".yml"):
                fmt = "yaml"
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                raise MachineFormatError(f"machine file {spec}: not a UTF-8 text file") from None
            return text, fmt, f"file {spec}"
        if path.is_dir():
            raise MachineFormatError(f"{spec} is a folder: expected a machine file or a machine string")
    if any(c in spec for c in "/\\.~"):  # never part of a standard-format string
        raise MachineFormatError(f"no such machine file: {spec}")
    if fmt not in (None, "standard"):
        raise MachineFormatError(f"no such machine file: {spec} (a machine string is read in the standard format)")
    if "\n" in spec.strip():
        raise MachineFormatError("machine string spans several lines: expected one machine like 1RB1LB_1LA1RZ")
    return spec, "standard", "the machine string"


def load_programs(spec: str, fmt: str | None = None) -> list[Program]:
    """Every machine in a standard-format string, a file in any supported format, or '-' (stdin)."""
    text, fmt, where = _read(spec, fmt)
    return parse_programs(text, fmt)


def load_program(spec: str, fmt: str | None = None, index: int | None = None) -> Program:
    """One machine with its input and symbol names; ``index`` (0-based) picks one line of a list."""
    text, fmt, where = _read(spec, fmt)
    return choose(parse_programs(text, fmt), index, where)


def load_machine(spec: str, fmt: str | None = None, index: int | None = None) -> TuringMachine:
    """``spec`` is a standard-format string, the path of a file in any supported format, or '-'."""
    return load_program(spec, fmt, index).machine


__all__ = ["FORMATS", "Program", "choose", "detect_format", "parse_machine", "parse_programs", "write_machine",
           "load_machine", "load_program", "load_programs", "parse_standard", "to_standard", "parse_morphett",
           "to_morphett", "parse_yaml", "to_yaml", "parse_yaml_program", "parse_morphett_program"]
