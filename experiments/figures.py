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

from tm_transformer.figstyle import COLOURS, context, style, width_name

__all__ = ["COLOURS", "STYLE", "NSTAR", "new", "save", "nstar", "halfspace_failures"]  # noqa: F822 (STYLE: __getattr__)

# the checks' n* figures: name -> the check whose table feeds it, the rows it draws (``reading``), and how
# (:func:`tm_transformer.plots.nstar`); ``tmt figures`` redraws them from the same table (experiments.redraw)
NSTAR = {
    "contexts_nstar": dict(check="contexts", claim="C1", x="V", series="m", ref="union_bound",
                           title=r"C1, $n^*$ vs $V$ (hardest target found)"),
    "sequences_nstar_tv": dict(check="sequences", claim="C2", reading="tv", x="l", series="V", ref="tv_bound",
                               title=r"C2 (TV), $n^*$ vs $\ell$"),
    "sequences_nstar_linf": dict(check="sequences", claim="C2", reading="linf", x="l", series="V",
                                 ref="seq_union_bound", title=r"C2 (per sequence), $n^*$ vs $\ell$"),
    "halfspaces_nstar": dict(check="halfspaces", claim="C3", x="delta", series="d", ref="optimal_rate",
                             title=r"C3, $n^*$ vs $\delta$"),
    "coin_nstar": dict(check="coin", claim="C4", x="delta", series="convention", ref="hoeffding_bound",
                       title=r"C4, $n^*$ vs $\delta$ (worst $p$)"),
}


def nstar_rows(name: str, rows: list[dict]) -> list[dict]:
    """The rows of a check's table that the figure ``name`` draws: its reading's, not the learner
    comparison's (``comparison`` rows of halfspaces)."""
    spec = NSTAR[name]
    return [r for r in rows if (spec.get("reading") is None or r.get("reading") == spec["reading"])
            and r.get("comparison") not in (True, "True")]


def nstar(name: str, rows: list[dict], constant=None, calibrated=None, verdict: str = "", **kw):
    """The figure ``name`` of :data:`NSTAR` (:func:`tm_transformer.plots.nstar`) from its check's rows."""
    from tm_transformer import plots

    from .protocol import KAPPA

    spec = {k: v for k, v in NSTAR[name].items() if k not in ("check", "reading")}
    return plots.nstar(nstar_rows(name, rows), constant=constant, calibrated=calibrated, kappa=KAPPA,
                       verdict=verdict, **spec, **kw)


def halfspace_failures(tests: list[dict], protocol_verdict: str, **kw):
    """``halfspaces_failure_vs_delta``: the calibrated C3 at every test point (:func:`tm_transformer.plots.failure_rates`)."""
    from tm_transformer import plots

    from .protocol import KAPPA

    return plots.failure_rates(tests, series=("d", "eps"), ylabel=rf"P(error > $\varepsilon$) at $n$ = {KAPPA:g} $C d/\varepsilon$",
                               title=f"C3, calibrated constant: {protocol_verdict}" if protocol_verdict else "", **kw)


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
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    fig._tmt_styled = True  # save() closes the style when the last figure made here is saved
    fig._tmt_style = width_name()  # plots.save draws it in the style
    axes = fig.subplots(1, ncols, squeeze=False)
    return fig, axes[0]


def save(fig, out_dir: Path, name: str, formats=None) -> list[str]:
    """Write ``name``.pdf and ``name``.png (or ``formats``; default: ``TMT_FIGURE_FORMATS``, comma-separated,
    else pdf,png) into ``out_dir`` through :func:`tm_transformer.plots.save` (the toolkit's one save: each
    file to a temporary name, then renamed), in the style; ``fig`` is any Figure. Returns the file names."""
    from tm_transformer import plots

    formats = formats or [f for f in os.environ.get("TMT_FIGURE_FORMATS", "pdf,png").split(",") if f]
    try:
        return [p.name for p in plots.save(fig, Path(out_dir) / name, formats=formats)]
    finally:
        if getattr(fig, "_tmt_styled", False):
            fig._tmt_styled = False
            _styled["open"] = max(0, _styled["open"] - 1)
        if _styled["open"] == 0 and _styled["stack"] is not None:
            _styled["stack"].close()
            _styled["stack"] = None
