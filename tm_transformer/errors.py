"""Errors the toolkit raises on bad input or on results it cannot vouch for.

Every error message names what was wrong (which row, which field, what was expected), so the CLI can
print it as one line.
"""


class ToolkitError(ValueError):
    """Base class: a user-facing error whose message is one clear line."""


class MachineFormatError(ToolkitError):
    """A machine description is malformed (wrong row length, bad symbol, unknown move, ...)."""


class PrecisionError(ToolkitError):
    """A transformer run would leave (or has left) its exactness envelope."""
