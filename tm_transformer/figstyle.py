"""One figure style for the toolkit's figures and for yours.

* :data:`STYLE_FILE` -- a matplotlib style file: ``matplotlib.style.use(figstyle.STYLE_FILE)``;
* :func:`context` -- the style for the figures made inside a ``with`` block (nothing global changes);
* :func:`figure` -- a :class:`~matplotlib.figure.Figure` one or two columns wide, made in the style;
* :func:`label` -- math text for the toolkit's variable names (``label("eps")`` is ``$\\varepsilon$``).

Nothing here runs on import: no backend is chosen and no global setting changes unless you call
:func:`use`. Figures are made with the object-oriented API (no pyplot), so they work under any backend
and display inline in a notebook.
"""
from __future__ import annotations

from pathlib import Path

STYLE_FILE = str(Path(__file__).with_name("styles") / "tmt.mplstyle")
ONE_COLUMN = 3.4   # inches: one column of a two-column paper
TWO_COLUMN = 7.0   # inches: the full text width
COLOURS = ["#1f3b73", "#e07a1f", "#2a9d5b", "#b5179e", "#7a7a7a", "#d62728"]

_LABELS = {"eps": r"$\varepsilon$", "epsilon": r"$\varepsilon$", "delta": r"$\delta$", "n": r"$n$",
           "n_star": r"$n^*$", "V": r"$V$", "m": r"$m$", "l": r"$\ell$", "d": r"$d$", "C": r"$C$", "q": r"$q$",
           "T": r"$T$", "beta": r"$\beta$", "p": r"$p$", "R": r"$R$"}


def style() -> dict:
    """The style as an rcParams dict (read from :data:`STYLE_FILE`)."""
    import matplotlib

    return dict(matplotlib.rc_params_from_file(STYLE_FILE, use_default_template=False))


def context():
    """``with context(): ...`` -- figures made inside use the style; rcParams are restored after."""
    import matplotlib

    return matplotlib.rc_context(style())


def use() -> None:
    """Apply the style to every later figure of this process (your explicit choice)."""
    import matplotlib.style

    matplotlib.style.use(STYLE_FILE)


def figure(columns: int = 1, ncols: int = 1, nrows: int = 1, height: float | None = None):
    """(Figure, axes array) ``columns`` (1 or 2) columns wide, made in the style; nothing is shown or saved."""
    from matplotlib.figure import Figure

    if columns not in (1, 2):
        raise ValueError(f"columns={columns!r}: expected 1 or 2")
    width = ONE_COLUMN if columns == 1 else TWO_COLUMN
    with context():
        fig = Figure(figsize=(width, height or 0.75 * width / max(1, ncols) * nrows + 0.4), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def label(name: str) -> str:
    """Math text for a variable name (``eps`` -> ``$\\varepsilon$``); other names come back unchanged."""
    return _LABELS.get(name, name)
