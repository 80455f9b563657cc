"""Reading and writing machines: the standard format, Morphett's format, turingmachine.io YAML."""
from __future__ import annotations

from pathlib import Path

from ..errors import MachineFormatError
from ..machine import TuringMachine
from .morphett import parse_morphett, to_morphett
from .standard import parse_standard, to_standard
from .yaml_io import parse_yaml, to_yaml

FORMATS = ("standard", "morphett", "yaml")
_PARSERS = {"standard": parse_standard, "morphett": parse_morphett, "yaml": parse_yaml}
_WRITERS = {"standard": to_standard, "morphett": to_morphett, "yaml": to_yaml}


def detect_format(text: str) -> str:
    """'standard' for one token of rows, 'yaml' when a ``table:`` key is present, else 'morphett'."""
    stripped = text.strip()
    if "table:" in stripped:
        return "yaml"
    lines = [ln for ln in stripped.splitlines() if ln.strip() and not ln.strip().startswith(("#", ";"))]
    if len(lines) == 1 and len(lines[0].split()) == 1:
        return "standard"
    return "morphett"


def parse_machine(text: str, fmt: str | None = None) -> TuringMachine:
    fmt = fmt or detect_format(text)
    if fmt not in _PARSERS:
        raise MachineFormatError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "standard":
        text = "".join(ln for ln in text.splitlines() if not ln.strip().startswith("#"))
    return _PARSERS[fmt](text)


def write_machine(machine: TuringMachine, fmt: str = "standard") -> str:
    if fmt not in _WRITERS:
        raise MachineFormatError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return _WRITERS[fmt](machine)


def load_machine(spec: str, fmt: str | None = None) -> TuringMachine:
    """``spec`` is a standard-format string or the path of a file in any supported format."""
    path = Path(spec)
    if path.is_file():
        if fmt is None and path.suffix.lower() in (".yaml", ".yml"):
            fmt = "yaml"
        return parse_machine(path.read_text(), fmt)
    if any(c in spec for c in "/\\.~"):  # never part of a standard-format string
        raise MachineFormatError(f"no such machine file: {spec}")
    return parse_machine(spec, fmt or "standard")


__all__ = ["FORMATS", "detect_format", "parse_machine", "write_machine", "load_machine",
           "parse_standard", "to_standard", "parse_morphett", "to_morphett", "parse_yaml", "to_yaml"]
