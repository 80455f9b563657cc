"""Space-time diagrams: one row per time step (time runs down), one column per cell, colour = symbol.

Long runs are drawn by keeping every ``every``-th row, so the image has at most ``max_rows`` rows; the
simulation itself is a compiled kernel that never stores the skipped rows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .errors import ToolkitError
from .machine import TuringMachine
from .spacetime import check_steps, spacetime  # noqa: F401  (the data; tm_transformer.draw.spacetime as before)


def draw(machine: TuringMachine, steps: int, path: str | Path | None = None, tape: Sequence[int] = (),
         title: str | None = None):
    """The space-time diagram as a matplotlib ``Figure`` (:func:`tm_transformer.plots.spacetime`); written to
    ``path`` (.png or .pdf) only when given.

    No pyplot and no backend switch: the figure displays inline in a notebook and saves under any backend.
    """
    if path is not None:
        path = Path(path)
        if path.suffix.lower() not in (".png", ".pdf"):
            raise ToolkitError(f"output file {str(path)!r}: expected a .png or .pdf name")
        if not path.absolute().parent.is_dir():  # a typo in a folder name must not create folders
            raise ToolkitError(f"output file {str(path)!r}: folder {str(path.parent)!r} does not exist; "
                               f"create it first")
    check_steps(steps)
    from .plots import save, spacetime as plot

    fig = plot(machine, steps, tape=tape, title=title)
    if path is not None:
        save(fig, path.with_suffix(""), formats=[path.suffix.lower().lstrip(".")])  # nothing is written half-way
    return fig
