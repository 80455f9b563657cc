"""One figure style for the toolkit's figures and for yours, at a journal's column widths.

* :data:`STYLE_FILE` -- a matplotlib style file: ``matplotlib.style.use(figstyle.STYLE_FILE)``;
* :data:`WIDTHS` -- paper widths in inches: ``single`` (one column, 3.5 in) and ``double`` (the text width,
  7.2 in); :func:`width` resolves a name (or the current default) to inches;
* :func:`paper` -- ``with figstyle.paper("single"): ...``: the default width of the figures drawn inside
  (the ``TMT_FIGURE_WIDTH`` environment variable sets it for a whole process: ``tmt reproduce
  --figure-width``);
* :func:`context` -- the style (at a width's text sizes) for the figures made inside a ``with`` block;
* :func:`figure` -- a :class:`~matplotlib.figure.Figure` a paper width wide, constrained layout, in the style;
* :func:`series` -- colour *and* marker of the i-th series (Okabe-Ito's colour-blind-safe palette);
* :func:`label` -- math text for the toolkit's variable names (``label("eps")`` is ``$\\varepsilon$``).

Text sizes are points at the saved size (figures are saved at their own size, ``savefig.bbox: standard``;
the layout engine fits everything inside), none below 6 pt; PDFs embed TrueType fonts (``pdf.fonttype: 42``).

Nothing here runs on import: no backend is chosen and no global setting changes unless you call
:func:`use`. Figures are made with the object-oriented API (no pyplot), so they work under any backend
and display inline in a notebook.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

STYLE_FILE = str(Path(__file__).with_name("styles") / "tmt.mplstyle")
WIDTHS = {"single": 3.5, "double": 7.2}   # inches: one column of a two-column paper; the full text width
ONE_COLUMN = WIDTHS["single"]
TWO_COLUMN = WIDTHS["double"]
# Okabe & Ito (2008), colour-blind safe; yellow last (faint on white)
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
# text sizes (points) that differ between the widths; the rest is the style file's
_SIZES = {"single": {}, "double": {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
                                   "legend.title_fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8,
                                   "figure.titlesize": 9}}
_ENV = "TMT_FIGURE_WIDTH"
_current: list[str] = []

_LABELS = {"eps": r"$\varepsilon$", "epsilon": r"$\varepsilon$", "delta": r"$\delta$", "n": r"$n$",
           "n_star": r"$n^*$", "V": r"$V$", "m": r"$m$", "l": r"$\ell$", "d": r"$d$", "C": r"$C$", "q": r"$q$",
           "T": r"$T$", "beta": r"$\beta$", "p": r"$p$", "R": r"$R$"}


def width_name(name: str | None = None) -> str:
    """The paper width's name: ``name`` if given, else the innermost :func:`paper`, else ``TMT_FIGURE_WIDTH``,
    else ``single``. An unknown name is refused in one line."""
    if name is None:
        name = _current[-1] if _current else (os.environ.get(_ENV) or "single")
    if name not in WIDTHS:
        raise ValueError(f"figure width {name!r}: expected one of {', '.join(WIDTHS)}")
    return name


def width(name: str | None = None) -> float:
    """Inches of the paper width ``name`` (``single`` 3.5, ``double`` 7.2; ``None``: the current default)."""
    return WIDTHS[width_name(name)]


@contextlib.contextmanager
def paper(name: str):
    """``with paper("double"): ...`` -- the default width of the toolkit's figures drawn inside."""
    _current.append(width_name(name))
    try:
        yield WIDTHS[name]
    finally:
        _current.pop()


def style(width: str | None = None) -> dict:
    """The style as an rcParams dict (read from :data:`STYLE_FILE`), at the text sizes of ``width``."""
    import matplotlib

    rc = dict(matplotlib.rc_params_from_file(STYLE_FILE, use_default_template=False))
    rc.update(_SIZES[width_name(width)])
    return rc


def context(width: str | None = None):
    """``with context(): ...`` -- figures made inside use the style; rcParams are restored after."""
    import matplotlib

    return matplotlib.rc_context(style(width))


def use(width: str | None = None) -> None:
    """Apply the style to every later figure of this process (your explicit choice)."""
    import matplotlib

    matplotlib.rcParams.update(style(width))


def figure(columns: int | None = None, ncols: int = 1, nrows: int = 1, height: float | None = None,
           width: str | None = None):
    """(Figure, axes array of shape (nrows, ncols)) a paper width wide (``width`` "single" or "double", or
    ``columns`` 1 or 2), constrained layout, made in the style; nothing is shown or saved."""
    from matplotlib.figure import Figure

    if columns is not None:
        if columns not in (1, 2):
            raise ValueError(f"columns={columns!r}: expected 1 or 2")
        width = "single" if columns == 1 else "double"
    w = WIDTHS[width_name(width)]
    with context(width):
        fig = Figure(figsize=(w, height or 0.75 * w / max(1, ncols) * nrows + 0.4), layout="constrained")
        # tm_transformer.plots.save draws it in the style, at this width
        setattr(fig, "_tmt_style", width_name(width))
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def series(i: int) -> dict:
    """Colour and marker of the i-th series (``ax.plot(x, y, **series(i))``): both encode it, so a series
    stays apart in grey print and for colour-blind readers; 8 distinct pairs, then the pairs shift."""
    return {"color": COLOURS[i % len(COLOURS)], "marker": MARKERS[(i + i // len(COLOURS)) % len(MARKERS)]}


def label(name: str) -> str:
    """Math text for a variable name (``eps`` -> ``$\\varepsilon$``); other names come back unchanged."""
    return _LABELS.get(name, name)
