"""The figures of ``tmt reproduce``, as functions of results: each takes a tidy table (or an object the API
returns) and returns a matplotlib :class:`~matplotlib.figure.Figure` in the toolkit's style.

    from tm_transformer import plots
    fig = plots.measurement(rows, x="n", y="rate", lo="ci_lo", hi="ci_hi", series="learner", logy=True)
    plots.save(fig, "figures/my_measurement")      # figures/my_measurement.pdf and .png

A *table* is a list of dicts (one per measured point, as the checks' ``rows`` and ``tests``), or anything
with ``to_dict("records")`` (a pandas DataFrame). Nothing is shown or written: no pyplot, no backend
choice, no global rcParams change. The style is one file, :data:`tm_transformer.figstyle.STYLE_FILE`; apply
it to your own plots with ``tm_transformer.figstyle.use()`` (global) or ``with figstyle.context():``.

* :func:`measurement` -- any measurement: y against x, one line per series, optional interval band;
* :func:`nstar` -- n* against a parameter with the claim at a constant and a reference bound, and the
  constant n*/f each point needs (the checks' ``*_nstar`` figures);
* :func:`failure_rates` -- failure probability at the claim's n against delta (``halfspaces_failure_vs_delta``);
* :func:`bound_ratios` -- the symbolic comparisons of check 1 (``symbolic_ratios``);
* :func:`precision_frontier` -- per dtype, the steps the transformer keeps exact (``transformer_frontier``);
* :func:`transformer_run` -- which token each step attends to, and the residual stream, of a recorded run;
* :func:`spacetime` -- a machine's space-time diagram (:func:`tm_transformer.draw.draw`);
* :func:`save` -- ``name.pdf`` and ``name.png`` side by side, in the style.
"""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .figstyle import COLOURS, context, label

__all__ = ["COLOURS", "table", "new", "save", "measurement", "nstar", "failure_rates", "bound_ratios",
           "precision_frontier", "transformer_run", "spacetime"]


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


def new(ncols: int = 1, width: float = 3.4, height: float = 2.6, nrows: int = 1):
    """(Figure, axes array of shape (nrows, ncols)), ``width`` x ``height`` inches per panel, in the style."""
    from matplotlib.figure import Figure

    with context():
        fig = Figure(figsize=(width * ncols, height * nrows))
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def save(fig, stem: str | Path, formats: Iterable[str] = ("pdf", "png"), dpi: int = 200) -> list[Path]:
    """Write ``stem.pdf`` and ``stem.png`` (or ``formats``), in the style.

    All or nothing: the formats are checked before anything is written, every file is drawn to a
    temporary name first, and only when all are drawn are they renamed into place (a failure removes
    the temporaries and leaves no file of the set behind).
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
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(f"{stem.name}.{ext}") for ext in formats]
    tmps = [stem.with_name(f".{stem.name}.tmp.{ext}") for ext in formats]
    try:
        with context():
            for ext, tmp in zip(formats, tmps):
                fig.savefig(tmp, dpi=dpi, format=ext)
        for tmp, path in zip(tmps, paths):
            os.replace(tmp, path)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
    return paths


def _scale(values) -> str:
    """'log' where the values span a factor of 20 or more -- and are all positive (a zero or a negative
    value would vanish from a log axis, so such a column stays linear unless the caller says otherwise)."""
    v = [float(x) for x in values if x is not None]
    return "log" if v and min(v) > 0 and max(v) / min(v) >= 20 else "linear"


def _order(key):
    """Series in their natural order: numbers by value (2 before 10), then anything else by its text."""
    return (0, float(key), "") if isinstance(key, numbers.Real) else (1, 0.0, str(key))


# ---- any measurement --------------------------------------------------------------------------------
def measurement(rows, x: str, y: str, lo: str | None = None, hi: str | None = None, series: str | None = None,
                logx: bool | None = None, logy: bool | None = None, xlabel: str | None = None,
                ylabel: str | None = None, title: str = "", reference=None, reference_label: str = "",
                width: float = 3.4, height: float = 2.6):
    """y against x, one line per value of ``series``; ``lo``/``hi`` columns draw an interval band.

    ``reference``: a function of x drawn as a dashed curve (a bound, the claim). Axes are logarithmic
    where a column spans a factor of 20 or more, unless ``logx``/``logy`` say otherwise.
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
    fig, axes = new(1, width, height)
    ax = axes[0, 0]
    with context():
        for i, (key, pts) in enumerate(sorted(groups.items(), key=lambda kv: _order(kv[0]))):
            pts = sorted(pts, key=lambda r: r[x])
            col = COLOURS[i % len(COLOURS)]
            xs, ys = [r[x] for r in pts], [r[y] for r in pts]
            ax.plot(xs, ys, "o-", color=col, label=None if key is None else f"{label(series)} = {key}")
            if lo and hi:
                ax.fill_between(xs, _column(pts, lo), _column(pts, hi), color=col, alpha=0.2, lw=0)
        if reference is not None:
            grid = np.geomspace(min(xs_all), max(xs_all), 100) if _scale(xs_all) == "log" and min(xs_all) > 0 \
                else np.linspace(min(xs_all), max(xs_all), 100)
            ax.plot(grid, [reference(g) for g in grid], "k--", lw=0.8, label=reference_label or None)
        ax.set(xscale="log" if logx or (logx is None and _scale(xs_all) == "log") else "linear",
               yscale="log" if logy or (logy is None and _scale(ys_all) == "log") else "linear",
               xlabel=xlabel or label(x), ylabel=ylabel or label(y), title=title)
        if series or reference_label:
            ax.legend()
    return fig


# ---- the checks' figures ------------------------------------------------------------------------------
def nstar(rows, x: str, series: str, claim: str, ref: str | None = None, constant: float | None = None,
          calibrated: float | None = None, kappa: float | None = None, title: str = "", verdict: str = "",
          reading: str = ""):
    """Left: n* (points, with its [n_star_lo, n_star_hi] interval) against ``x``, one colour per
    (``series``, eps, delta); the claim C f at ``constant`` (line) and the column ``ref`` (dotted).
    Right: the constant each point needs, n*/f (``claim_f`` is f), with ``kappa`` x ``calibrated``.

    Columns: ``x``, ``series``, eps, delta, n_star, n_star_lo, n_star_hi, claim_f (and ``ref``).
    """
    rows = table(rows)
    for key in (x, series, "eps", "delta", "n_star", "n_star_lo", "n_star_hi", "claim_f") + ((ref,) if ref else ()):
        _column(rows, key)
    fig, axes = new(2, width=3.8, height=3.0)
    axes = axes[0]
    keys = sorted({(r[series], r["eps"], r["delta"]) for r in rows})
    with context():
        for i, key in enumerate(keys):
            pts = sorted((r for r in rows if (r[series], r["eps"], r["delta"]) == key), key=lambda r: r[x])
            xs = [r[x] for r in pts]
            col = COLOURS[i % len(COLOURS)]
            axes[0].errorbar(xs, [r["n_star"] for r in pts], yerr=[[r["n_star"] - r["n_star_lo"] for r in pts],
                             [r["n_star_hi"] - r["n_star"] for r in pts]], fmt="o", color=col,
                             label=f"n*, {series}={key[0]}, eps={key[1]}, delta={key[2]}")
            if constant is not None:
                axes[0].plot(xs, [constant * r["claim_f"] for r in pts], "-", color=col, lw=0.8)
            if ref:
                axes[0].plot(xs, [r[ref] for r in pts], ":", color=col, lw=0.8)
            axes[1].plot(xs, [r["n_star"] / r["claim_f"] for r in pts], "o-", color=col)
        xscale = _scale([r[x] for r in rows])
        sub = (f"\nline: {claim} at C={constant:.3g}" if constant is not None else "") + (f"; dotted: {ref}" if ref else "")
        axes[0].set(xscale=xscale, yscale="log", xlabel=label(x), ylabel="examples", title=f"{title}{sub}")
        axes[0].legend(fontsize=5)
        if calibrated is not None and kappa is not None:
            axes[1].axhline(calibrated * kappa, color="grey", ls="--", lw=0.8, label=f"{kappa} x calibrated C")
            axes[1].legend()
        axes[1].set(xscale=xscale, yscale="log", xlabel=label(x), ylabel=f"n* / f_{claim}  (constant needed)",
                    title=f"{claim} ({reading[:40]}): {verdict}" if verdict else f"{claim}: constant needed")
    return fig


def failure_rates(tests, series: tuple[str, ...] = ("d", "eps"), ylabel: str = "P(error > eps) at the claim's n",
                  title: str = ""):
    """Failure rate (with its interval ``ci_lo``..``ci_hi``) against delta, one line per ``series``
    value, and the line failure = delta. Columns: delta, rate, ci_lo, ci_hi, and ``series`` (read from the
    row or from its ``params`` dict, as the checks' test rows hold them)."""
    tests = table(tests)

    def get(t, k):
        return t[k] if k in t else t.get("params", {})[k]

    for k in ("delta", "rate", "ci_lo", "ci_hi"):
        _column(tests, k)
    for k in series:
        missing = [i for i, t in enumerate(tests) if k not in t and k not in (t.get("params") or {})]
        if missing:
            raise ValueError(f"column {k!r} is missing from row {missing[0]} and from its params")
    fig, axes = new(1, width=3.6)
    ax = axes[0, 0]
    keys = sorted({tuple(get(t, k) for k in series) for t in tests})
    with context():
        for i, key in enumerate(keys):
            pts = sorted((t for t in tests if tuple(get(t, k) for k in series) == key), key=lambda t: t["delta"])
            xs = [t["delta"] for t in pts]
            ax.errorbar(xs, [t["rate"] for t in pts], yerr=[[t["rate"] - t["ci_lo"] for t in pts],
                        [t["ci_hi"] - t["rate"] for t in pts]], fmt="o-", color=COLOURS[i % len(COLOURS)],
                        label=", ".join(f"{k}={v}" for k, v in zip(series, key)))
        xs = np.geomspace(min(t["delta"] for t in tests) / 2, 1, 10)
        ax.plot(xs, xs, "k--", lw=0.8, label="failure = delta")
        ax.set(xscale="log", yscale="log", xlabel="delta", ylabel=ylabel, title=title)
        ax.legend()
    return fig


def bound_ratios():
    """Check 1's picture, from the bounds catalogue: C1 / union bound along V (its limit dotted), C2 against
    the TV and per-sequence bounds along l, C3 and C4 against the optimal rates along delta.

    It takes no results: the bounds are formulas, drawn at fixed values (eps = 0.1, delta = 0.05, m in
    {1, 10, 100}, V = 2 for C2, d = 10 for C3). For other values, evaluate the bounds yourself
    (``get(name).evaluate(...)``) and draw them with :func:`measurement`."""
    from tm_transformer.bounds import get

    fig, axes = new(3, width=2.6)
    axes = axes[0]
    with context():
        V = np.arange(2, 200)
        for m, col in zip((1, 10, 100), COLOURS):
            r = get("C1").evaluate(C=1, m=m, V=V, eps=0.1, delta=0.05) / get("union_contexts").evaluate(m=m, V=V, eps=0.1, delta=0.05)
            axes[0].plot(V, r, color=col, label=f"m={m}")
            axes[0].axhline(2 * math.log(m / 0.05) / math.log(2), color=col, ls=":", lw=0.8)
        axes[0].set(xlabel="V", ylabel="C1 (C=1) / union bound", title="C1 vs union bound (dotted: limit)")
        axes[0].legend()
        l = np.arange(1, 13)
        c2 = get("C2").evaluate(C=1, l=l, V=2, eps=0.1, delta=0.05)
        axes[1].semilogy(l, c2 / get("tv_sequences").evaluate(l=l, V=2, eps=0.1, delta=0.05, relaxed=True), label="C2 / TV over V^l")
        axes[1].semilogy(l, c2 / get("seq_union").evaluate(l=l, V=2, eps=0.1, delta=0.05, relaxed=True), label="C2 / per-sequence")
        axes[1].set(xlabel="l (V=2)", title="C2: TV needs V^l")
        axes[1].legend()
        delta = np.geomspace(1e-12, 0.5, 100)
        axes[2].semilogx(delta, get("C3").evaluate(C=1, d=10, eps=0.1) / get("halfspace_optimal").evaluate(C=1, d=10, eps=0.1, delta=delta), label="C3 / (d+ln 1/delta)/eps")
        axes[2].semilogx(delta, get("C4").evaluate(C=0.5, eps=0.1, delta=delta) / get("hoeffding").evaluate(eps=0.1, delta=delta), label="C4 (C=1/2) / Hoeffding")
        axes[2].set(xlabel="delta", title="C3 -> 0, C4 -> 1 as delta -> 0")
        axes[2].legend()
    return fig


def precision_frontier(rows, beta_rows=(), head_ranges=(4, 100, 1000)):
    """Left: per dtype, the envelope (line) against the head range R, the worst-case probe (dots), and at a
    free range the certified frontier (square) and the first real failure (cross). Right: the smallest
    softmax beta, the a-priori bound and the old ln 4N as curves, ``beta_rows`` measured as points.

    Dashed: the evicting cache's a-priori envelope (``evict_envelope_R{R}``, when the rows have it; the
    head, read out as +-1 bits, limits no dtype, so bfloat16's reaches the int32 recency cap).

    ``rows``: one per dtype with ``envelope_R{R}``, ``probe_R{R}`` (None where not probed) and optionally
    ``envelope_free_range``, ``certified_free_range``, ``real_free_range`` (check 6's frontier rows), and
    ``evict_tested_steps``, ``evict_certified`` (real evicting-cache runs of that length at R = T + 8: a
    filled triangle when every step certified);
    ``beta_rows``: ``steps`` and ``real_beta``.
    """
    from tm_transformer.transformer.envelope import min_beta

    rows = table(rows)
    Rs = np.array(head_ranges)
    for key in ["dtype"] + [f"envelope_R{R}" for R in Rs]:
        _column(rows, key)
    br = [dict(r) for r in (beta_rows.to_dict("records") if hasattr(beta_rows, "to_dict") else beta_rows)]
    for key in ("steps", "real_beta") if br else ():
        _column(br, key)
    fig, axes = new(2, width=3.3)
    axes = axes[0]
    with context():
        for i, r in enumerate(rows):
            col = COLOURS[i % len(COLOURS)]
            axes[0].plot(Rs, [r[f"envelope_R{R}"] for R in Rs], "-", color=col, label=f"{r['dtype']} envelope")
            if r.get(f"evict_envelope_R{Rs[0]}") is not None:  # the evicting cache (one key per cell)
                axes[0].plot(Rs, [max(r[f"evict_envelope_R{R}"], 1) for R in Rs], "--", color=col,
                             label=f"{r['dtype']} envelope, evicting cache")
            if r.get(f"probe_R{Rs[0]}") is not None:
                axes[0].plot(Rs, [r[f"probe_R{R}"] for R in Rs], "o", color=col, ms=3, label=f"{r['dtype']} worst-case probe")
            if r.get("evict_tested_steps") is not None:  # measured: real evicting-cache runs at that length
                axes[0].plot([r["evict_tested_steps"] + 8], [r["evict_tested_steps"]], "^", color=col, ms=5,
                             mfc=col if r.get("evict_certified") else "none",
                             label=f"{r['dtype']} evicting cache, runs " +
                                   ("certified" if r.get("evict_certified") else "NOT certified"))
            if r.get("real_free_range") is not None:
                x = r["envelope_free_range"] + 8
                axes[0].plot([x], [r["certified_free_range"]], "s", color=col, ms=5, mfc="none",
                             label=f"{r['dtype']} certified frontier")
                axes[0].plot([x], [r["real_free_range"]], "x", color=col, ms=7, label=f"{r['dtype']} first real failure")
        axes[0].set(xscale="log", yscale="log", xlabel=r"head range $R$", ylabel=r"steps $T$ exact",
                    title="precision frontier per dtype")
        axes[0].legend(fontsize=4.5, ncol=2)
        curve = np.unique(np.geomspace(5, 3000, 24).astype(int))  # the bounds are formulas: drawn as curves
        axes[1].plot(curve, [min_beta(2 * T + 20, T + 1) for T in curve], "-", color=COLOURS[0],
                     label=r"a-priori: $1/(e^\beta-1) + N e^{-\beta M} \leq 1/3$")
        axes[1].plot(curve, np.log(4 * (curve + 1)), ":", color=COLOURS[2], label=r"old bound $\ln 4N$")
        if br:
            axes[1].plot([r["steps"] for r in br], [r["real_beta"] for r in br], "o", color=COLOURS[1],
                         label="measured (real runs)")
        axes[1].set(xscale="log", xlabel=r"steps $T$", ylabel=r"smallest exact softmax $\beta$",
                    title="softmax temperature frontier")
        axes[1].legend(fontsize=6)
    return fig


def transformer_run(run, dim_names: list[str] | None = None, b: int = 0, title: str = ""):
    """Left: which earlier token each step attends to (the last write to the cell under the head, an
    initial-tape token, or the start token for a blank cell). Right: the residual stream after the layer.

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
    fig, axes = new(2, width=4.2, height=3.2)
    a1, a2 = axes[0]
    t = np.arange(s)
    kind = np.where(att >= P, 0, np.where(att == P - 1, 2, 1))
    with context():
        for code, name, colour in ((0, "last write to the cell", COLOURS[0]), (1, "initial tape", COLOURS[2]),
                                   (2, "start token (blank)", COLOURS[1])):
            sel = kind == code
            a1.scatter(t[sel], att[sel] - (P - 1), s=6, color=colour, label=name)
        a1.plot(t, t, lw=0.5, color="grey")
        a1.set(xlabel="step", ylabel="attended token (steps after the start token)",
               title="attention: which earlier token each step reads")
        a1.legend()
        im = a2.imshow(resid.T, aspect="auto", cmap="RdBu_r", vmin=-2, vmax=2, interpolation="nearest")
        if dim_names is not None:
            a2.set_yticks(range(len(dim_names)))
            a2.set_yticklabels(dim_names, fontsize=4)
        a2.set(xlabel="step", ylabel="residual dimension", title="residual stream (clipped to +-2)")
        fig.colorbar(im, ax=a2, shrink=0.7)
        if title:
            fig.suptitle(title, family="monospace")
        fig.tight_layout()
    return fig


def spacetime(machine, steps: int, tape=(), title: str | None = None):
    """A machine's space-time diagram (time runs down, colour = symbol, red dots = head); see
    :func:`tm_transformer.draw.draw`."""
    from .draw import draw

    with context():
        return draw(machine, steps, tape=tape, title=title)
