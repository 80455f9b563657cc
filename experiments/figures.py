"""Publication-quality figures: one style (:mod:`tm_transformer.figstyle`), saved as PDF and PNG side by side.

The figures themselves are drawn by :mod:`tm_transformer.plots` (functions of result tables that return
a Figure, public); this module keeps the checks' helpers :func:`new` and :func:`save`.

No pyplot and no backend choice: :func:`new` makes a matplotlib ``Figure`` (it displays inline in a
notebook and saves under any backend). The style applies from :func:`new` to :func:`save` and the
caller's rcParams are restored when the last open figure is saved, so drawing a check's figures leaves
a notebook's own plots as they were.
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

from tm_transformer.figstyle import COLOURS, context, style

__all__ = ["COLOURS", "STYLE", "new", "save"]


def __getattr__(name):
    if name == "STYLE":  # the style as rcParams (kept for callers of the old module constant)
        return style()
    raise AttributeError(name)


_styled = {"stack": None, "open": 0}


def new(ncols: int = 1, width: float = 3.4, height: float = 2.6):
    """(Figure, row of ``ncols`` axes), ``width`` inches per panel, made in the style."""
    from matplotlib.figure import Figure

    if _styled["stack"] is None:
        stack = ExitStack()
        stack.enter_context(context())
        _styled["stack"] = stack
    _styled["open"] += 1
    fig = Figure(figsize=(width * ncols, height))
    fig._tmt_styled = True  # save() closes the style when the last figure made here is saved
    axes = fig.subplots(1, ncols, squeeze=False)
    return fig, axes[0]


def save(fig, out_dir: Path, name: str) -> list[str]:
    """Write ``name``.pdf and ``name``.png into ``out_dir`` (each to a temporary name, then renamed), in the
    style; ``fig`` is any Figure (from :func:`new` or from :mod:`tm_transformer.plots`)."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        names = []
        with context():
            for ext in ("pdf", "png"):
                path = out_dir / f"{name}.{ext}"
                tmp = out_dir / f".{name}.tmp.{ext}"
                fig.savefig(tmp, dpi=200, format=ext)
                os.replace(tmp, path)
                names.append(path.name)
        return names
    finally:
        if getattr(fig, "_tmt_styled", False):
            fig._tmt_styled = False
            _styled["open"] = max(0, _styled["open"] - 1)
        if _styled["open"] == 0 and _styled["stack"] is not None:
            _styled["stack"].close()
            _styled["stack"] = None
