"""The figures of ``tmt reproduce``, as functions of results: each takes a tidy table (or an object the API
returns) and draws it in the toolkit's style, at a paper width, into a new figure or into yours.

    from tm_transformer import plots
    fig = plots.measurement(rows, x="n", y="rate", lo="ci_lo", hi="ci_hi", series="learner", logy=True)
    plots.save(fig, "figures/my_measurement")      # figures/my_measurement.pdf and .png

Composing: every function takes ``ax=``. A one-panel plot (:func:`measurement`, :func:`failure_rates`,
:func:`spacetime`) draws into the matplotlib ``Axes`` you give; a plot of several panels (:func:`nstar`,
:func:`bound_ratios`, :func:`precision_frontier`, :func:`transformer_run`, :func:`icl`) lays its panels
out inside the ``SubFigure`` (or ``Figure``) you give -- it knows how many panels its table needs. Each
returns the root :class:`~matplotlib.figure.Figure` (a new one, ``width`` wide, when ``ax`` is None). A
figure you give a plot of several panels must use constrained layout (``layout="constrained"``, as below:
its legends sit outside the panels); without a layout engine the plot warns::

    from tm_transformer import figstyle, plots
    with figstyle.context("double"):
        fig = Figure(figsize=(figstyle.width("double"), 3.2), layout="constrained")
        left, right = fig.subfigures(1, 2, width_ratios=[1, 2])
    plots.failure_rates(tests, ax=left.subplots())          # one panel: an Axes
    plots.nstar(rows, x="delta", series="d", claim="C3", ax=right)   # several: a SubFigure
    plots.save(fig, "figures/combined")

Your figure stays yours: ``save`` draws it in your rcParams (only PDF fonts are set to TrueType). A
one-panel plot draws into your Axes as you made them (their tick sizes), while a plot of several panels
makes its axes in the toolkit's style; make the axes you pass inside ``figstyle.context(width)``, as above,
for one look throughout.

``width``: ``"single"`` (3.5 in, one column) or ``"double"`` (7.2 in); None takes the current default
(:func:`tm_transformer.figstyle.paper`, ``TMT_FIGURE_WIDTH``, else single). Series are told apart by
colour *and* marker (:func:`tm_transformer.figstyle.series`); legends sit outside the data; long titles
wrap to the panel. Every figure the toolkit saves passes :func:`tm_transformer.figcheck.check_figure`.

A *table* is a list of dicts (one per measured point, as the checks' ``rows`` and ``tests``), or anything
with ``to_dict("records")`` (a pandas DataFrame). Nothing is shown or written: no pyplot, no backend
choice, no global rcParams change.

* :func:`measurement` -- any measurement: y against x, one line per series, optional interval band;
* :func:`nstar` -- n* against a parameter, one panel per (eps, delta), the claim at a constant and a
  reference bound, and the constant n*/f each point needs (the checks' ``*_nstar`` figures);
* :func:`failure_rates` -- failure probability at the claim's n against delta (``halfspaces_failure_vs_delta``);
* :func:`bound_ratios` -- the symbolic comparisons of check 1 (``symbolic_ratios``);
* :func:`precision_frontier` -- per dtype, the steps the transformer keeps exact (``transformer_frontier``);
* :func:`icl` -- learners run in the prompt: cost, prompt length, error (``icl``);
* :func:`transformer_run` -- which token each step attends to, and the residual stream, of a recorded run;
* :func:`spacetime` -- a machine's space-time diagram;
* :func:`save` -- ``name.pdf`` and ``name.png`` side by side (or other formats), in the style.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, cast

import numpy as np

from . import figstyle
from .figstyle import COLOURS, context, label, series as _look

if TYPE_CHECKING:
    from matplotlib.figure import Figure, SubFigure
    from matplotlib.typing import RcKeyType

__all__ = ["COLOURS", "SAVE_HOOKS", "table", "new", "save", "measurement", "nstar", "failure_rates", "bound_ratios",
           "precision_frontier", "icl", "transformer_run", "spacetime"]

# called as hook(fig, paths) after every successful save (tests collect the toolkit's figures here)
SAVE_HOOKS: list[Callable] = []
_CHECK_ENV = "TMT_FIGCHECK"   # "1": every save first runs the figure check and refuses a figure that fails it


def table(rows: Any) -> list[dict]:
    """A tidy table as a list of dicts (accepts a list of dicts or a DataFrame); an empty one is refused."""
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict("records")
    rows = [dict(r) for r in rows]
    if not rows:
        raise ValueError("the table is empty: expected at least one row")
    return rows


def _column(rows: list[dict], key: str) -> list:
    missing = [i for i, r in enumerate(rows) if key not in r]
    if missing:
        raise ValueError(f"column {key!r} is missing from row {missing[0]} (columns: {', '.join(rows[missing[0]])})")
    return [r[key] for r in rows]


def new(ncols: int = 1, width: str | float | None = None, height: float | None = None, nrows: int = 1,
        height_ratios=None):
    """(Figure, axes array of shape (nrows, ncols)) ``width`` wide ("single", "double" or inches), constrained
    layout, in the style."""
    from matplotlib.figure import Figure

    name = width if isinstance(width, str) or width is None else None
    w = figstyle.width(name) if name is not None or width is None else float(width)
    with context(name):
        fig = Figure(figsize=(w, height or (0.8 * w / ncols) * nrows + 0.3), layout="constrained")
        setattr(fig, "_tmt_style", figstyle.width_name(name))  # plots.save draws it in the style, at this width
        axes = fig.subplots(nrows, ncols, squeeze=False, height_ratios=height_ratios)
    return fig, axes


# what a journal needs of any figure: no visual change
_TRUETYPE: dict[RcKeyType, Any] = {"pdf.fonttype": 42, "ps.fonttype": 42}


def _save_style(fig):
    """The rcParams a save draws ``fig`` in: the toolkit's style at the figure's width when the toolkit made
    it (:func:`new` marks it ``_tmt_style``), else the caller's own rcParams with TrueType fonts only."""
    import matplotlib

    name = getattr(fig, "_tmt_style", None)
    return context(name) if name is not None else matplotlib.rc_context(_TRUETYPE)


@contextlib.contextmanager
def _quiet_fonttools():
    """fontTools' font-subsetting warnings (one per font on every PDF, e.g. "'created' timestamp seems very
    low") are dropped while a save runs; its errors still show, and the logger's level is restored after."""
    import logging

    log = logging.getLogger("fontTools")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


def save(fig, stem: str | Path, formats: Iterable[str] = ("pdf", "png"), dpi: int | None = None) -> list[Path]:
    """Write ``stem.pdf`` and ``stem.png`` (or ``formats``: any of matplotlib's, e.g. svg), at the figure's
    own size, PDFs with TrueType fonts. A figure the toolkit made (:func:`new`, any plot called without
    ``ax``) is drawn in the toolkit's style at its width; a figure of your own (toolkit plots composed into
    it with ``ax=`` included) is drawn in your rcParams -- only ``pdf.fonttype``/``ps.fonttype`` are set to
    42 -- so its colours (``"C1"``), tick labels and dpi stay yours.

    All or nothing: the formats are checked before anything is written, every file is drawn to a
    temporary name first, and only when all are drawn are they renamed into place (a failure removes
    the temporaries and leaves no file of the set behind). With ``TMT_FIGCHECK=1`` in the environment the
    figure must first pass :func:`tm_transformer.figcheck.assert_readable` (and its PDF
    :func:`~tm_transformer.figcheck.check_pdf`). Every ``SAVE_HOOKS`` function is then called as
    ``hook(fig, paths)``.
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"expected a matplotlib Figure, got {type(fig).__name__}")
    formats = [str(f).lower().lstrip(".") for f in formats]
    supported = fig.canvas.get_supported_filetypes()
    bad = [f for f in formats if f not in supported]
    if bad or not formats:
        raise ValueError(f"formats {bad or formats!r}: expected some of {', '.join(sorted(supported))}")
    stem = Path(stem)
    checking = os.environ.get(_CHECK_ENV) == "1"
    if checking:
        from .figcheck import assert_readable

        with _save_style(fig):
            assert_readable(fig, stem.name)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(f"{stem.name}.{ext}") for ext in formats]
    tmps = [stem.with_name(f".{stem.name}.tmp.{ext}") for ext in formats]
    try:
        with _save_style(fig), _quiet_fonttools():
            dpi_kw: dict[str, Any] = {"dpi": dpi} if dpi else {}
            for ext, tmp in zip(formats, tmps):
                fig.savefig(tmp, format=ext, **dpi_kw)
                if checking and ext == "pdf":
                    from .figcheck import FigureProblem, check_pdf

                    if problems := check_pdf(tmp):
                        raise FigureProblem(f"{stem.name}.pdf: " + "; ".join(problems))
        for tmp, path in zip(tmps, paths):
            os.replace(tmp, path)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
    for hook in list(SAVE_HOOKS):
        hook(fig, paths)
    return paths


def _scale(values) -> str:
    """'log' where the values span a factor of 20 or more -- and are all positive (a zero or a negative
    value would vanish from a log axis, so such a column stays linear unless the caller says otherwise)."""
    v = [float(x) for x in values if x is not None]
    return "log" if v and min(v) > 0 and max(v) / min(v) >= 20 else "linear"


def _order(key):
    """Series in their natural order: numbers by value (2 before 10), then anything else by its text."""
    return (0, float(key), "") if isinstance(key, numbers.Real) else (1, 0.0, str(key))


def _num(v: Any, default: Any = None) -> Any:
    """A number, or ``default`` for a missing one (None, NaN or empty: a CSV's blank cell)."""
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return default
    return v


def _wrap(text: str, inches: float, points: float) -> str:
    """``text`` wrapped to lines that fit ``inches`` at ``points`` (a generous 0.55 em a character); math
    (``$...$``) is never split."""
    if not text:
        return text
    per_line = max(12, int(inches * 72 / (0.55 * points)))
    parts = text.split("$")
    glued = "$".join(p.replace(" ", "\0") if i % 2 else p for i, p in enumerate(parts))  # spaces in math: kept
    return "\n".join(textwrap.fill(line, per_line, break_long_words=False).replace("\0", " ")
                     for line in glued.split("\n"))


def _padded(values, log: bool, pad: float = 0.1) -> tuple[float, float]:
    """Axis limits holding ``values`` with a margin of ``pad`` of the span (of the log span on a log axis)
    on each side, so a reference line at the smallest or largest value never sits on the axis' spine."""
    v = np.array([float(x) for x in values if x is not None and math.isfinite(float(x)) and (float(x) > 0 or not log)])
    if not len(v):
        return (1.0, 10.0) if log else (0.0, 1.0)
    if log:
        lo, hi = np.log10(v.min()), np.log10(v.max())
        m = pad * (hi - lo) if hi > lo else 0.2
        return 10 ** (lo - m), 10 ** (hi + m)
    lo, hi = v.min(), v.max()
    m = pad * (hi - lo) if hi > lo else 0.1 * abs(hi) or 1.0
    return lo - m, hi + m


def _pretty(name: str) -> str:
    return label(name) if name in figstyle._LABELS else name.replace("_", " ")


# ---- where a plot draws: a new figure, your Axes, or your SubFigure -------------------------------------
def _root_figure(fig) -> Figure:
    while getattr(fig, "_parent", None) is not None:
        fig = fig._parent
    return fig


def _one_panel(ax, width, height: float):
    """(root Figure, Axes): yours, or a new figure ``width`` wide with one panel."""
    from matplotlib.axes import Axes

    if ax is None:
        fig, axes = new(1, width, height)
        return fig, axes[0, 0]
    if not isinstance(ax, Axes):
        raise TypeError(f"ax: expected a matplotlib Axes (this plot has one panel), got {type(ax).__name__}")
    return cast("Figure", ax.get_figure(root=True)), ax  # an Axes always lies in a figure


def _panels(ax, n: int, width, height_per_row: float, max_cols: dict | None = None, extra: float = 0.0,
            height_ratios=None):
    """(root Figure, the figure or subfigure drawn into, list of n Axes, (nrows, ncols)).

    ``ax``: None (a new figure ``width`` wide), a Figure or a SubFigure (the panels are laid out inside it).
    Panels wrap at ``max_cols[width]`` columns (single 2, double 4); unused slots of the grid are hidden.
    The panels' legend sits outside them (``loc="outside ..."``), which needs a layout engine: a figure of
    yours without one (``layout="constrained"``) gets a warning, as its legend and labels would land on the
    panels."""
    from matplotlib.figure import FigureBase

    name = figstyle.width_name(width if isinstance(width, str) else None)
    cols = min(n, (max_cols or {"single": 2, "double": 4})[name])
    rows = -(-n // cols)
    if ax is None:
        fig, grid = new(cols, name, height_per_row * rows + extra, rows, height_ratios)
        into = fig
    elif isinstance(ax, FigureBase):
        into = cast("Figure | SubFigure", ax)  # FigureBase's two kinds
        fig = _root_figure(ax)
        if fig.get_layout_engine() is None:
            import warnings

            warnings.warn(f"ax: the figure has no layout engine, so this plot's {n} panels, their labels and "
                          "legend will overlap; make it with Figure(..., layout=\"constrained\")", UserWarning,
                          stacklevel=3)
        with context(name):
            grid = np.asarray(ax.subplots(rows, cols, squeeze=False, height_ratios=height_ratios))
    else:
        raise TypeError(f"ax: expected a matplotlib Figure or SubFigure (this plot lays out {n} panels inside it), "
                        f"got {type(ax).__name__}")
    flat = list(grid.ravel())
    for extra_ax in flat[n:]:
        extra_ax.set_visible(False)
    setattr(into, "_tmt_spare", flat[n:])  # an unused slot of the grid holds the legend (see _figure_legend)
    return fig, into, flat[:n], (rows, cols)


def _figure_legend(into, axes, ncol: int | None = None, extra: list | None = None, slot: bool = True,
                   wrap: bool = False):
    """One legend for a figure of panels, below them (or in the grid's unused slot, its labels wrapped to
    it): each label once, in the order first drawn."""
    import matplotlib

    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    for h, lab in extra or []:
        if lab not in labels:
            handles.append(h)
            labels.append(lab)
    if not handles:
        return None
    spare = getattr(into, "_tmt_spare", None) if slot else None
    size = float(matplotlib.rcParams["legend.fontsize"])
    if spare:  # the grid's unused slot: the legend sits there, beside the panels
        box = spare[0]
        box.set_visible(True)
        box.axis("off")
        inches = box.get_position().width * _root_figure(into).get_size_inches()[0] - 0.45  # less the handle
        return box.legend(handles, [_wrap(lab, inches, size) for lab in labels], loc="center", ncol=1,
                           borderaxespad=0.0)
    inches = into.bbox.width / _root_figure(into).dpi
    cols = ncol or max(1, min(len(labels), int(inches // 1.7)))
    if wrap:  # long labels: wrapped to a column
        labels = [_wrap(lab, inches / cols - 0.5, size) for lab in labels]
    return into.legend(handles, labels, loc="outside lower center", ncol=cols)


def _side_legend(ax):
    """The legend of a one-panel plot, outside the axes on the right (it never covers data)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def _tick_text(v: float, _pos=None) -> str:
    """A tick label: plain digits for 0.001 .. 99999 (30, 0.5), else a x 10^k in math text."""
    if v <= 0:
        return ""
    if 1e-3 <= v < 1e5:
        return f"{v:g}"
    k = math.floor(math.log10(v) + 1e-9)
    a = v / 10 ** k
    return f"$10^{{{k}}}$" if abs(a - 1) < 1e-6 else f"${a:g}\\times 10^{{{k}}}$"


def _tidy(*axes) -> None:
    """Log axes without crowded labels: minor ticks unlabelled; a span under two decades gets majors at
    1, 3 x 10^k (under one decade 1, 2, 5 x 10^k, so at least two labels show); a very wide one (over six
    decades) at most five powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for ax in axes:
        for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() != "log" or min(lim) <= 0:
                continue
            decades = math.log10(max(lim) / min(lim))
            axis.set_minor_formatter(NullFormatter())
            if decades < 2:
                axis.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0) if decades > 1 else (1.0, 2.0, 5.0)))
                axis.set_major_formatter(FuncFormatter(_tick_text))
            elif decades > 6:
                axis.set_major_locator(LogLocator(base=10, numticks=4))


def _key(colour="k", ls="-", marker="None", **kw):
    """A legend entry that is not drawn in a panel (a line kind, say)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color=colour, ls=ls, marker=marker, **kw)


# ---- any measurement --------------------------------------------------------------------------------
def measurement(rows, x: str, y: str, lo: str | None = None, hi: str | None = None, series: str | None = None,
                logx: bool | None = None, logy: bool | None = None, xlabel: str | None = None,
                ylabel: str | None = None, title: str = "", reference=None, reference_label: str = "",
                ax=None, width: str | None = None, height: float = 2.2):
    """y against x, one line per value of ``series`` (colour and marker); ``lo``/``hi`` columns draw an
    interval band. ``ax``: an Axes to draw into (default: a new figure ``width`` wide, ``height`` tall).

    ``reference``: a function of x drawn as a dashed black curve (a bound, the claim). Axes are logarithmic
    where a column spans a factor of 20 or more, unless ``logx``/``logy`` say otherwise. The legend sits
    outside the axes, on the right.
    """
    rows = table(rows)
    xs_all, ys_all = _column(rows, x), _column(rows, y)
    if (lo is None) != (hi is None):
        raise ValueError(f"lo and hi go together: got lo={lo!r}, hi={hi!r} (give both columns, or neither)")
    for key in (series, lo, hi):
        if key is not None:
            _column(rows, key)
    groups: dict = {}
    for r in rows:
        groups.setdefault(r[series] if series else None, []).append(r)
    fig, ax = _one_panel(ax, width, height)
    with context(width):
        for i, (key, pts) in enumerate(sorted(groups.items(), key=lambda kv: _order(kv[0]))):
            pts = sorted(pts, key=lambda r: r[x])
            look = _look(i)
            xs, ys = [r[x] for r in pts], [r[y] for r in pts]
            ax.plot(xs, ys, "-", **look, label=None if key is None else f"{label(cast(str, series))} = {key}")
            if lo and hi:
                ax.fill_between(xs, _column(pts, lo), _column(pts, hi), color=look["color"], alpha=0.2, lw=0)
        if reference is not None:
            grid = np.geomspace(min(xs_all), max(xs_all), 100) if _scale(xs_all) == "log" and min(xs_all) > 0 \
                else np.linspace(min(xs_all), max(xs_all), 100)
            ax.plot(grid, [reference(g) for g in grid], "k--", lw=0.8, label=reference_label or None)
        ax.set(xscale="log" if logx or (logx is None and _scale(xs_all) == "log") else "linear",
               yscale="log" if logy or (logy is None and _scale(ys_all) == "log") else "linear",
               xlabel=xlabel or label(x), ylabel=ylabel or label(y))
        if title:
            ax.set_title(_wrap(title, 0.6 * fig.get_size_inches()[0], float(ax.title.get_fontsize())))
        _tidy(ax)
        _side_legend(ax)
    return fig


# ---- the checks' figures ------------------------------------------------------------------------------
def nstar(rows, x: str, series: str, claim: str, ref: str | None = None, constant: float | None = None,
          calibrated: float | None = None, kappa: float | None = None, title: str = "", verdict: str = "",
          reading: str = "", ax=None, width: str | None = None):
    """n* against ``x``, small multiples: one column per (eps, delta) value (those that are not ``x`` or
    ``series``); top row n* (points, with the [n_star_lo, n_star_hi] interval), one colour and marker per
    ``series`` value, the claim C f at ``constant`` (solid, the series' colour) and the column ``ref``
    (dotted); bottom row the constant each point needs, n*/f (``claim_f`` is f), with ``constant`` (solid
    black) and ``kappa`` x ``calibrated`` (dashed grey). One legend below the panels.

    Columns: ``x``, ``series``, eps, delta, n_star, n_star_lo, n_star_hi, claim_f (and ``ref``).
    ``title`` (and the ``verdict``) head the figure; ``reading`` is the caption's (not drawn).
    ``ax``: a Figure or SubFigure (of a constrained-layout figure) to lay the panels out in (default: a new
    figure ``width`` wide).
    """
    rows = table(rows)
    for key in (x, series, "eps", "delta", "n_star", "n_star_lo", "n_star_hi", "claim_f") + ((ref,) if ref else ()):
        _column(rows, key)
    facet_keys = [k for k in ("eps", "delta") if k not in (x, series)]
    facets = sorted({tuple(r[k] for k in facet_keys) for r in rows}, key=lambda t: tuple(-float(v) for v in t))
    values = sorted({r[series] for r in rows}, key=_order)
    name = figstyle.width_name(width)
    cols = min(len(facets), {"single": 2, "double": 4}[name])
    frows = -(-len(facets) // cols)
    fig, into, axes, _ = _panels(ax, 2 * cols * frows, name, 1.25, {"single": cols, "double": cols}, extra=0.7,
                                 height_ratios=[1.4, 1] * frows)
    grid = np.array(axes).reshape(2 * frows, cols)
    xscale = _scale([r[x] for r in rows])
    with context(name):
        for j, facet in enumerate(facets):
            top, bottom = grid[2 * (j // cols), j % cols], grid[2 * (j // cols) + 1, j % cols]
            for i, value in enumerate(values):
                pts = sorted((r for r in rows if r[series] == value and tuple(r[k] for k in facet_keys) == facet),
                             key=lambda r: r[x])
                if not pts:
                    continue
                look = _look(i)
                xs = [r[x] for r in pts]
                n = np.array([float(r["n_star"]) for r in pts])
                lo = np.array([float(_num(r["n_star_lo"], r["n_star"])) for r in pts])
                hi = np.array([float(_num(r["n_star_hi"], r["n_star"])) for r in pts])
                tag = f"{label(series)} = {value}" if len(values) > 1 else r"$n^*$ measured (bar: interval)"
                top.errorbar(xs, n, yerr=[n - lo, hi - n], ls="none", **look, label=tag)
                if constant is not None:
                    top.plot(xs, [constant * float(r["claim_f"]) for r in pts], "-", color=look["color"], lw=0.8)
                if ref:
                    top.plot(xs, [float(r[ref]) for r in pts], ":", color=look["color"], lw=1.0)
                bottom.plot(xs, n / np.array([float(r["claim_f"]) for r in pts]), "-", **look, lw=0.8, label=tag)
            if constant is not None:
                bottom.axhline(constant, color="k", lw=0.8)
            if calibrated is not None and kappa is not None:
                bottom.axhline(calibrated * kappa, color="0.45", ls="--", lw=0.8)
            head = ", ".join(f"{label(k)} = {v:g}" for k, v in zip(facet_keys, facet))
            if head:
                top.set_title(head)
            top.set(xscale=xscale, yscale="log")
            needed = [float(r["n_star"]) / float(r["claim_f"]) for r in rows] + [constant or 1, (calibrated or 1) * (kappa or 1)]
            bottom.set(xscale=xscale, yscale=_scale(needed))
            bottom.set_ylim(*_padded([float(r["n_star"]) / float(r["claim_f"]) for r in rows]
                                     + ([constant] if constant is not None else [])
                                     + ([calibrated * kappa] if calibrated is not None and kappa is not None else []),
                                     bottom.get_yscale() == "log"))
            top.tick_params(labelbottom=False)
            bottom.set_xlabel(label(x))
            if j % cols == 0:
                top.set_ylabel(r"$n^*$ (examples)")
                bottom.set_ylabel(r"$n^*/f$")
            bottom.sharex(top)
        for j in range(len(facets), cols * frows):  # the last row's unused slots
            grid[2 * (j // cols), j % cols].set_visible(False)
            grid[2 * (j // cols) + 1, j % cols].set_visible(False)
        extra = []
        if constant is not None:
            extra.append((_key("k", "-"), f"claim: {claim} at $C$ = {constant:.3g}"))
        if ref:
            extra.append((_key("k", ":"), _pretty(ref)))
        if calibrated is not None and kappa is not None:
            extra.append((_key("0.45", "--"), rf"{kappa:g} $\times$ calibrated $C$"))
        _tidy(*axes)
        _figure_legend(into, list(grid[0::2].ravel()), extra=extra)
        head = title + (f": {verdict}" if verdict and title else f"{claim}: {verdict}" if verdict else "")
        if head:
            into.suptitle(_wrap(head, into.bbox.width / fig.dpi, figstyle.style(name)["figure.titlesize"]))
    return fig


def failure_rates(tests, series: tuple[str, ...] = ("d", "eps"), ylabel: str = "P(error > eps) at the claim's n",
                  title: str = "", ax=None, width: str | None = None, height: float = 2.2):
    """Failure rate (with its interval ``ci_lo``..``ci_hi``) against delta, one colour and marker per
    ``series`` value, and the line failure = delta (dashed). Columns: delta, rate, ci_lo, ci_hi, and
    ``series`` (read from the row or from its ``params`` dict, as the checks' test rows hold them).
    ``ax``: an Axes to draw into. A rate of 0 (no failure seen) sits at the axis' bottom, open marker."""
    tests = table(tests)

    def get(t, k):
        return t[k] if k in t else t.get("params", {})[k]

    for k in ("delta", "rate", "ci_lo", "ci_hi"):
        _column(tests, k)
    for k in series:
        missing = [i for i, t in enumerate(tests) if k not in t and k not in (t.get("params") or {})]
        if missing:
            raise ValueError(f"column {k!r} is missing from row {missing[0]} and from its params")
    fig, ax = _one_panel(ax, width, height)
    keys = sorted({tuple(get(t, k) for k in series) for t in tests}, key=lambda t: tuple(_order(v) for v in t))
    with context(width):
        for i, key in enumerate(keys):
            pts = sorted((t for t in tests if tuple(get(t, k) for k in series) == key), key=lambda t: t["delta"])
            xs = [t["delta"] for t in pts]
            rate = np.array([float(t["rate"]) for t in pts])
            ax.errorbar(xs, rate, yerr=np.clip([rate - np.array([float(t["ci_lo"]) for t in pts]),
                                                np.array([float(t["ci_hi"]) for t in pts]) - rate], 0, None), ls="-", **_look(i),
                        label=", ".join(f"{label(k)} = {v}" for k, v in zip(series, key)))
        xs = np.geomspace(min(t["delta"] for t in tests) / 2, 1, 10)
        ax.plot(xs, xs, "k--", lw=0.8, label=r"failure = $\delta$")
        ax.set(xscale="log", yscale="symlog" if any(float(t["rate"]) <= 0 for t in tests) else "log",
               xlabel=label("delta"), ylabel=ylabel)
        if ax.get_yscale() == "symlog":
            ax.set_yscale("symlog", linthresh=min(float(t["delta"]) for t in tests) / 10)
        if title:
            ax.set_title(_wrap(title, 0.6 * fig.get_size_inches()[0], float(ax.title.get_fontsize())))
        _tidy(ax)
        _side_legend(ax)
    return fig


def bound_ratios(ax=None, width: str | None = None):
    """Check 1's picture, from the bounds catalogue: C1 / union bound along V (its limit dotted), C2 against
    the TV and per-sequence bounds along l, C3 and C4 against the optimal rates along delta.

    It takes no results: the bounds are formulas, drawn at fixed values (eps = 0.1, delta = 0.05, m in
    {1, 10, 100}, V = 2 for C2, d = 10 for C3). For other values, evaluate the bounds yourself
    (``get(name).evaluate(...)``) and draw them with :func:`measurement`. ``ax``: a Figure or SubFigure
    (of a constrained-layout figure) for its three panels."""
    from tm_transformer.bounds.known import get

    name = figstyle.width_name(width)
    fig, into, axes, _ = _panels(ax, 3, name, 1.6, {"single": 2, "double": 3}, extra=0.9)
    every = lambda n: max(1, n // 6)  # noqa: E731 -- a few markers on a dense curve
    with context(name):
        V = np.arange(2, 200)
        for i, m in enumerate((1, 10, 100)):
            r = get("C1").evaluate(C=1, m=m, V=V, eps=0.1, delta=0.05) / get("union_contexts").evaluate(m=m, V=V, eps=0.1, delta=0.05)
            axes[0].plot(V, r, **_look(i), markevery=every(len(V)), label=f"C1 / union, $m$ = {m}")
            axes[0].axhline(2 * math.log(m / 0.05) / math.log(2), color=_look(i)["color"], ls=":", lw=0.8)
        axes[0].set(xlabel=r"$V$", ylabel="C1 / union bound")
        l = np.arange(1, 13)
        c2 = get("C2").evaluate(C=1, l=l, V=2, eps=0.1, delta=0.05)
        axes[1].semilogy(l, c2 / get("tv_sequences").evaluate(l=l, V=2, eps=0.1, delta=0.05, relaxed=True), **_look(3),
                         label=r"C2 / TV over $V^\ell$")
        axes[1].semilogy(l, c2 / get("seq_union").evaluate(l=l, V=2, eps=0.1, delta=0.05, relaxed=True), **_look(4),
                         label="C2 / per-sequence")
        axes[1].set(xlabel=r"$\ell$ ($V$ = 2)", ylabel="C2 / bound")
        delta = np.geomspace(1e-12, 0.5, 100)
        axes[2].semilogx(delta, get("C3").evaluate(C=1, d=10, eps=0.1) / get("halfspace_optimal").evaluate(C=1, d=10, eps=0.1, delta=delta),
                         **_look(5), markevery=every(len(delta)), label=r"C3 / $(d + \ln 1/\delta)/\varepsilon$")
        axes[2].semilogx(delta, get("C4").evaluate(C=0.5, eps=0.1, delta=delta) / get("hoeffding").evaluate(eps=0.1, delta=delta),
                         **_look(6), markevery=every(len(delta)), label="C4 ($C$ = 1/2) / Hoeffding")
        axes[2].set(xlabel=r"$\delta$", ylabel="claim / optimal rate")
        _tidy(*axes)
        _figure_legend(into, axes, ncol=2, extra=[(_key("k", ":"), "C1 / union: its limit")])
    return fig


_BESIDE = 1.3   # the first real failure's cross sits this factor to the right of the certified square (log R axis)
_KINDS = {  # what precision_frontier draws per dtype: (legend text, look)
    "envelope": ("envelope (a priori)", dict(ls="-", marker="None", color=COLOURS[0])),
    "evict": ("envelope, evicting cache", dict(ls="--", marker="None", color=COLOURS[1])),
    "probe": ("worst-case probe", dict(ls="none", marker="o", color=COLOURS[2], ms=3)),
    "certified": ("certified frontier", dict(ls="none", marker="s", color=COLOURS[3], mfc="none", ms=6, mew=1.2,
                                             zorder=3.5)),   # above the cross beside it
    "real": ("first real failure", dict(ls="none", marker="X", color=COLOURS[1], ms=5)),
    "evict_ok": ("evicting-cache runs, all certified", dict(ls="none", marker="^", color=COLOURS[4], ms=5)),
    "evict_bad": ("evicting-cache runs, NOT all certified", dict(ls="none", marker="^", color=COLOURS[4], ms=5,
                                                                mfc="none")),
}


def precision_frontier(rows, beta_rows=(), head_ranges=(4, 100, 1000), ax=None, width: str | None = None):
    """Small multiples: one panel per dtype -- the envelope (line) against the head range R, the evicting
    cache's envelope (dashed, ``evict_envelope_R{R}`` when the rows have it), the worst-case probe (dots),
    and at a free range the certified frontier (open square) and the first real failure (cross, drawn a
    little to the right of the square so it never hides it); a last
    panel: the smallest softmax beta, the a-priori bound and the old ln 4N as curves, ``beta_rows`` measured
    as points. One legend below the panels.

    ``rows``: one per dtype with ``envelope_R{R}``, ``probe_R{R}`` (None where not probed) and optionally
    ``envelope_free_range``, ``certified_free_range``, ``real_free_range`` (check 6's frontier rows), and
    ``evict_tested_steps``, ``evict_certified`` (real evicting-cache runs of that length at R = T + 8: a
    filled triangle when every step certified); ``beta_rows``: ``steps`` and ``real_beta``.
    ``ax``: a Figure or SubFigure (of a constrained-layout figure) for the panels.
    """
    from tm_transformer.transformer.envelope import min_beta

    rows = table(rows)
    Rs = np.array(head_ranges)
    for key in ["dtype"] + [f"envelope_R{R}" for R in Rs]:
        _column(rows, key)
    br = [dict(r) for r in (beta_rows.to_dict("records") if hasattr(beta_rows, "to_dict") else beta_rows)]
    for key in ("steps", "real_beta") if br else ():
        _column(br, key)
    name = figstyle.width_name(width)
    fig, into, axes, (_, cols) = _panels(ax, len(rows) + 1, name, 1.55, {"single": 2, "double": 4}, extra=0.8)
    with context(name):
        for i, (r, a) in enumerate(zip(rows, axes)):
            def draw(kind, xs, ys):
                text, look = _KINDS[kind]
                a.plot(xs, ys, **look, label=text)

            draw("envelope", Rs, [float(r[f"envelope_R{R}"]) for R in Rs])
            if _num(r.get(f"evict_envelope_R{Rs[0]}")) is not None:  # the evicting cache (one key per cell)
                draw("evict", Rs, [max(float(r[f"evict_envelope_R{R}"]), 1) for R in Rs])
            if _num(r.get(f"probe_R{Rs[0]}")) is not None:
                draw("probe", Rs, [float(r[f"probe_R{R}"]) for R in Rs])
            if _num(r.get("evict_tested_steps")) is not None:  # measured: real evicting-cache runs at that length
                ok = r.get("evict_certified") in (True, "True", "true", 1)
                draw("evict_ok" if ok else "evict_bad", [float(r["evict_tested_steps"]) + 8], [float(r["evict_tested_steps"])])
            if _num(r.get("real_free_range")) is not None:
                xf = float(r["envelope_free_range"]) + 8
                draw("certified", [xf], [float(r["certified_free_range"])])
                draw("real", [xf * _BESIDE], [float(r["real_free_range"])])  # beside the square, not on it
            a.set(xscale="log", yscale="log", xlabel=r"head range $R$", title=str(r["dtype"]))
            if i % cols == 0:
                a.set_ylabel(r"steps $T$ exact")
        b = axes[-1]
        curve = np.unique(np.geomspace(5, 3000, 24).astype(int))  # the bounds are formulas: drawn as curves
        b.plot(curve, [min_beta(2 * T + 20, T + 1) for T in curve], "-", color=COLOURS[5],
               label=r"a-priori $\beta$ (tight bound)")
        b.plot(curve, np.log(4 * (curve + 1)), ":", color=COLOURS[6], label=r"old bound $\beta = \ln 4N$")
        if br:
            b.plot([float(r["steps"]) for r in br], [float(r["real_beta"]) for r in br], "D", color=COLOURS[7 % 7],
                   ms=4, ls="none", label=r"smallest exact $\beta$, real runs")
        b.set(xscale="log", xlabel=r"steps $T$", ylabel=r"softmax $\beta$", title=r"softmax $\beta$")
        _tidy(*axes)
        # below the panels, not in the grid's spare slot: at single width the slot is narrower than the
        # longest label (measured: the figure check finds it clipped at the figure's edge)
        _figure_legend(into, axes, ncol=1 if name == "single" else 3, slot=False)
    return fig


def icl(rows, eps: float, probs=(), reference=None, reference_label: str = "bound", ax=None,
        width: str | None = None):
    """Learners run in the prompt (check 7), three panels: machine steps against n (points; the power-law
    fit, solid; the a-priori bound, dotted; runs through the transformer, crosses), prompt tokens against n,
    and the error of the in-context answer -- the transformer's failure rate with its interval, the
    Monte-Carlo engine's, the exact probability, and ``reference`` (a function of n: a bound) dashed.

    ``rows``: check 7's table -- ``kind`` "cost" (learner, m, V, n, mean_steps, steps_bound, prompt_length),
    "fit" (learner, quantity, exponent, coefficient), "transformer" (n, steps), "error" (n, rate, ci_lo,
    ci_hi, mc_rate, exact_probability, datasets, max_steps). ``ax``: a Figure or SubFigure (of a
    constrained-layout figure) for the panels.
    """
    rows = table(rows)
    _column(rows, "kind")
    cost = [r for r in rows if r["kind"] == "cost"]
    err = sorted((r for r in rows if r["kind"] == "error"), key=lambda r: float(r["n"]))
    fits = {(r["learner"], r["quantity"]): (float(r["exponent"]), float(r["coefficient"]))
            for r in rows if r["kind"] == "fit"}
    for part, keys in ((cost, ("learner", "m", "V", "n", "mean_steps", "steps_bound", "prompt_length")),
                       (err, ("n", "rate", "ci_lo", "ci_hi", "mc_rate", "exact_probability"))):
        for key in keys if part else ():
            _column(part, key)
    name = figstyle.width_name(width)
    fig, into, axes, (rows_, _) = _panels(ax, 3, name, 1.6, {"single": 2, "double": 3},
                                          extra=1.5 if name == "single" else 0.9)
    if rows_ == 2:  # two columns (single width): the error panel spans the bottom row, no empty slot
        axes[2].set_subplotspec(axes[0].get_subplotspec().get_gridspec()[1, :])
    with context(name):
        for i, learner in enumerate(sorted({r["learner"] for r in cost})):
            look = _look(i)
            pts = sorted((r for r in cost if r["learner"] == learner), key=lambda r: float(r["n"]))
            xs = np.array([float(r["n"]) for r in pts])
            tag = f"{learner} ($m = {pts[0]['m']},\\ V = {pts[0]['V']}$)"   # one math run: never wrapped inside
            axes[0].plot(xs, [float(r["mean_steps"]) for r in pts], ls="none", **look, label=tag)
            axes[1].plot(xs, [float(r["prompt_length"]) for r in pts], ls="none", **look, label=tag)
            for a, q in ((axes[0], "mean_steps"), (axes[1], "prompt_length")):
                if (learner, q) in fits:
                    bq, aq = fits[(learner, q)]
                    a.plot(xs, aq * xs ** bq, "-", color=look["color"], lw=0.8)
            axes[0].plot(xs, [float(r["steps_bound"]) for r in pts], ":", color=look["color"], lw=0.9)
        tr = [(float(r["n"]), float(r["steps"])) for r in rows if r["kind"] == "transformer"]
        tr += [(float(r["n"]), float(r["max_steps"])) for r in err if _num(r.get("max_steps")) is not None]
        if tr:
            axes[0].plot(*zip(*tr), "x", color="k", ms=4, ls="none", label="run by the transformer")
        axes[0].set(xscale="log", yscale="log", xlabel=r"examples $n$", ylabel="machine steps")
        axes[1].set(xscale="log", yscale="log", xlabel=r"examples $n$", ylabel="prompt tokens")
        if err:
            xs = np.array([float(r["n"]) for r in err])
            rate = np.array([float(r["rate"]) for r in err])
            axes[2].errorbar(xs, rate, yerr=[rate - np.array([float(r["ci_lo"]) for r in err]),
                                             np.array([float(r["ci_hi"]) for r in err]) - rate], ls="none",
                             **_look(2), label="transformer, 99% CI")
            axes[2].plot(xs, [float(r["mc_rate"]) for r in err], "-", **_look(3), label="Monte-Carlo engine")
            axes[2].plot(xs, [float(r["exact_probability"]) for r in err], ":", **_look(4), ms=3, label="exact")
            if reference is not None:
                g = np.linspace(xs.min(), xs.max(), 100)
                axes[2].plot(g, reference(g), "k--", lw=0.8, label=reference_label)
            axes[2].set_xscale("log", base=2)
            axes[2].set_xticks(xs, [f"{x:g}" for x in xs])
            axes[2].set(xlabel=r"examples $n$", ylabel=rf"P(TV > {eps:g})", ylim=(-0.02, 1.1))
        extra = [(_key("k", "-"), r"power-law fit ($n \geq 8$)"), (_key("k", ":"), "a-priori step bound")]
        _tidy(*axes[:2])
        _figure_legend(into, axes, ncol=2, extra=extra, slot=False, wrap=name == "single")
        if probs:
            into.suptitle(f"in-context learning, $p$ = {tuple(probs)}")
    return fig


def transformer_run(run, dim_names: list[str] | None = None, b: int = 0, title: str = "", ax=None,
                    width: str | None = None):
    """Left: which earlier token each step attends to (the last write to the cell under the head, an
    initial-tape token, or the start token for a blank cell). Right: the residual stream after the layer
    (dimension names thinned to what fits at 6 pt). ``ax``: a Figure or SubFigure (of a constrained-layout
    figure) for the two panels.

    ``run``: a :class:`tm_transformer.transformer.TransformerRun` decoded with ``record=True``;
    ``dim_names``: the residual dimensions' names (``compile_machine(...).layout.dim_names()``).
    """
    if not all(hasattr(run, a) for a in ("attended", "residual", "prompt_length", "steps")):
        raise TypeError(f"expected a TransformerRun from run(..., record=True), got {type(run).__name__}")
    if run.attended is None or run.residual is None:
        raise ValueError("the run holds no attention record: decode it with run(..., record=True)")
    P, s = run.prompt_length, int(run.steps[b])
    att = np.asarray(run.attended[b][P - 1: P - 1 + s])
    resid = np.asarray(run.residual[b][P - 1: P - 1 + s], dtype=float)
    name = figstyle.width_name(width)
    fig, into, (a1, a2), _ = _panels(ax, 2, name, 2.4 if name == "single" else 2.8, {"single": 2, "double": 2},
                                     extra=0.6)
    t = np.arange(s)
    kind = np.where(att >= P, 0, np.where(att == P - 1, 2, 1))
    with context(name):
        for i, (code, text) in enumerate(((0, "last write to the cell"), (1, "initial tape"),
                                          (2, "start token (blank)"))):
            sel = kind == code
            look = _look(i)
            a1.scatter(t[sel], att[sel] - (P - 1), s=6, color=look["color"], marker=look["marker"], label=text)
        a1.plot(t, t, lw=0.5, color="0.6")
        a1.set(xlabel="step", ylabel="attended token\n(after the start token)")
        im = a2.imshow(resid.T, aspect="auto", cmap="RdBu_r", vmin=-2, vmax=2, interpolation="nearest")
        if dim_names is not None:
            height_pt = 72 * fig.get_size_inches()[1] * 0.55
            every = max(1, math.ceil(len(dim_names) * 7.5 / height_pt))
            a2.set_yticks(range(0, len(dim_names), every))
            a2.set_yticklabels(dim_names[::every], fontsize=6)
        a2.set(xlabel="step", ylabel="residual dimension" if dim_names is None else "")
        into.colorbar(im, ax=a2, shrink=0.8, label="value (clipped to $\\pm$2)")
        _figure_legend(into, [a1], ncol=3 if name == "double" else 2)
        if title:
            into.suptitle(title, family="monospace")
    return fig


def spacetime(machine, steps: int, tape=(), title: str | None = None, ax=None, width: str | None = None):
    """A machine's space-time diagram (time runs down, colour = symbol, red dots = head, legend outside);
    ``ax``: an Axes to draw into. The data: :func:`tm_transformer.draw.spacetime`."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    from .spacetime import check_steps, spacetime as _data

    check_steps(steps)
    img, heads, lo, done, every = _data(machine, steps, tape)
    k = machine.n_symbols
    colours = ["#ffffff", *COLOURS[:7], "#8c564b", "#17becf"]
    if k <= len(colours):
        cmap = ListedColormap(colours[:k])
    else:  # viridis is a ListedColormap
        cmap = ListedColormap(cast(ListedColormap, matplotlib.colormaps["viridis"].resampled(k)).colors)
    name = figstyle.width_name(width)
    fig, a = _one_panel(ax, name, 0.8 * figstyle.width(name))
    with context(name):
        a.imshow(img, cmap=cmap, vmin=0, vmax=max(k - 1, 1), aspect="auto", interpolation="nearest",
                 extent=(lo - 0.5, lo + img.shape[1] - 0.5, done + every / 2, -every / 2))
        if img.shape[0] <= 400:
            a.plot(heads + lo, np.arange(len(heads)) * every, ".", color=COLOURS[1], ms=2, label="head")
        a.set_xlabel("cell")
        a.set_ylabel("step" + (f" (every {every}th shown)" if every > 1 else ""))
        a.set_title(_wrap(title or f"{machine}  ({done} steps)", 0.8 * fig.get_size_inches()[0], 7),
                    fontsize=7, family="monospace")
        _side_legend(a)
    return fig
