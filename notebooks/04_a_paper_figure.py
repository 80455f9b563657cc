# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. A paper figure from a measurement
#
# The toolkit's figures come from functions of *results*: a tidy table in, a matplotlib `Figure` out
# (`tm_transformer.plots`), in one style that is one file (`tm_transformer/styles/tmt.mplstyle`). The
# idea to take away: **keep the measurement as a table, make the figure from the table, and save it as
# PDF (for the paper) and PNG (for everything else) in the same style as the rest of the paper's
# figures.**
#
# Every claim sits beside an `assert`. `TMT_QUICK=1` (the default) keeps the Monte-Carlo small;
# `TMT_SOLUTIONS=1` shows the exercise's solution.

# %%
# %matplotlib inline
import os
import tempfile
from pathlib import Path

import numpy as np

QUICK = os.environ.get("TMT_QUICK", "1") == "1"
SOLUTIONS = os.environ.get("TMT_SOLUTIONS", "0") == "1"
FOLDER = tempfile.TemporaryDirectory(prefix="tmt-figures-")   # removed when the kernel stops
OUT = Path(FOLDER.name)                                         # put your paper's figure folder here

# %% [markdown]
# ## The style is one file
#
# Sizes are set for a 3.5 in (one column, `single`) or 7.2 in (two columns, `double`) wide figure, fonts in
# points that match a paper's body text (none below 6 pt), math in Computer Modern, TrueType fonts in the
# PDF (`pdf.fonttype: 42`, as journals ask). Use it for your own plots with
# `matplotlib.style.use(figstyle.STYLE_FILE)` or `figstyle.use()` (global), or `with figstyle.context():`
# (inside the block only). Nothing changes globally until you ask.

# %%
import matplotlib

from tm_transformer import figstyle

print(Path(figstyle.STYLE_FILE).read_text())
before = matplotlib.rcParams["font.size"]
with figstyle.context():
    assert matplotlib.rcParams["font.size"] == 8 and matplotlib.rcParams["mathtext.fontset"] == "cm"
assert matplotlib.rcParams["font.size"] == before       # restored after the block

# %% [markdown]
# ## A measurement, as a tidy table
#
# The failure probability of the empirical frequency (one attention head estimating a probability p) at
# n examples, for three values of p, from the Monte-Carlo engine: one row per (p, n), with a 95%
# Clopper-Pearson interval. A tidy table is a list of dicts (or a pandas DataFrame). For the coin the
# failure probability is also known exactly (`coin_failure`, an enumeration): each simulated count is held
# to it with an exact binomial test -- fifteen tests at once, so each at level 0.01/15 (Bonferroni: the
# family of tests rejects a correct engine with probability at most 1%).

# %%
from tm_transformer.experiments.exact import coin_failure
from tm_transformer.experiments.montecarlo import count_failures
from tm_transformer.experiments.stats import ALPHA, agrees_with, clopper_pearson

eps = 0.1
T = 20_000 if QUICK else 200_000
rows = []
for p in (0.5, 0.2, 0.05):
    for n in (10, 20, 40, 80, 160):
        # tag: the name of the random stream (with the seed, it fixes the draws)
        k = count_failures("coin", n=n, trials=T, seed=0, tag=f"notebook4/{p}/{n}", p=p, eps=eps)["failures"]
        lo, hi = clopper_pearson(k, T, confidence=0.95)
        exact = float(coin_failure([n], p, eps)[0])
        assert agrees_with(k, T, exact, alpha=ALPHA / 15), (p, n, k, exact)   # simulation == exact value
        rows.append({"p": p, "n": n, "failure": k / T, "ci_lo": lo, "ci_hi": hi, "exact": exact})
rows[:3]

# %% [markdown]
# ## The figure
#
# `plots.measurement` draws y against x, one line per series, the interval as a band, and a reference
# curve -- here Hoeffding's tail `2 exp(-2 n eps^2)`, which every p must stay under (up to Monte-Carlo
# error).

# %%
from tm_transformer import plots

hoeffding = lambda n: 2 * np.exp(-2 * n * eps ** 2)  # noqa: E731
assert all(r["exact"] <= hoeffding(r["n"]) and r["ci_lo"] <= hoeffding(r["n"]) for r in rows)
fig = plots.measurement(rows, x="n", y="failure", lo="ci_lo", hi="ci_hi", series="p", logx=True, logy=True,
                        reference=hoeffding, reference_label=r"Hoeffding $2e^{-2n\varepsilon^2}$",
                        ylabel=r"$P(|\hat p - p| > \varepsilon)$ (95% interval)",
                        title=r"empirical frequency, $\varepsilon = 0.1$")
ax = fig.axes[0]
ax.set_ylim(1e-4, 1.5)          # the Figure is an ordinary matplotlib Figure: adjust anything
assert ax.get_xscale() == "log" and len(ax.get_lines()) == 4
fig

# %% [markdown]
# ## Save it: PDF and PNG
#
# `plots.save` writes `name.pdf` and `name.png` side by side (each to a temporary name first, so a failed
# save leaves nothing half-written), in the style, at the figure's own size (the layout engine fits every
# label inside; 300 dpi for the PNG). `formats=("svg",)` and others work too.

# %%
written = plots.save(fig, OUT / "coin_failure")
assert [p.name for p in written] == ["coin_failure.pdf", "coin_failure.png"]
assert written[0].read_bytes()[:4] == b"%PDF" and written[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
width_px = int.from_bytes(written[1].read_bytes()[16:20], "big")
assert width_px == round(figstyle.width("single") * 300)   # one column (3.5 in) at 300 dpi
print([p.name for p in written], width_px, "px wide")

# %% [markdown]
# ## The report's own figures, from their results
#
# The checks of `tmt reproduce` return their tidy rows, and the figure functions take them. Check 5 (C4,
# exact n\* of the coin at the worst p) runs in seconds; redraw its figure from its rows:

# %%
from tm_transformer.experiments.checks import check_coin
from tm_transformer.experiments.protocol import KAPPA

res = check_coin(OUT / "check", quick=True, progress=False)
v = res.verdicts[0]
assert v.verdict == "holds" and (OUT / "check" / "coin_nstar.pdf").exists()
fig = plots.nstar(res.rows, x="delta", series="series", claim="C4", ref="hoeffding_bound", constant=v.constant,
                  calibrated=v.calibrated_constant, kappa=KAPPA, title="C4: n* vs delta (worst p)",
                  verdict=v.verdict, reading=v.reading)
fig

# %% [markdown]
# ## Your own figure, from the toolkit's parts
#
# Every plot takes `ax=`: a one-panel plot draws into the `Axes` you give, a plot of several panels lays
# them out in the `SubFigure` you give. Here the measurement (left) and check 5's n\* (right) share one
# figure the text width wide (`figstyle.width("double")`, 7.2 in). `figcheck.check_figure` measures
# what a reviewer would look for -- overlapping or clipped text, a legend over data, two series drawn
# alike, text under 6 pt -- and lists what it finds (here: nothing).

# %%
from matplotlib.figure import Figure

from tm_transformer import figcheck

with figstyle.context("double"):
    fig = Figure(figsize=(figstyle.width("double"), 3.4), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1, 1.1])
    ax = left.subplots()
plots.measurement(rows, x="n", y="failure", lo="ci_lo", hi="ci_hi", series="p", logx=True, logy=True,
                  ylabel=r"$P(|\hat p - p| > \varepsilon)$", ax=ax, width="double")
plots.nstar(res.rows, x="delta", series="series", claim="C4", ref="hoeffding_bound", constant=v.constant,
            ax=right, width="double")
with figstyle.context("double"):
    assert figcheck.check_figure(fig) == []
assert abs(fig.get_size_inches()[0] - figstyle.TWO_COLUMN) < 1e-9
assert len(plots.save(fig, OUT / "coin_two_column")) == 2
fig

# %% [markdown]
# ## Exercise
#
# Redraw the measurement above as a two-panel, one-column-wide figure: left the failure probability
# against n (as above, without the reference), right `failure / Hoeffding's tail` against n (how loose
# Hoeffding is, per p). Save it as PDF and PNG, and check it with `figcheck.check_figure`.
#
# (The solution sits in the collapsed cell below and runs only when `SOLUTIONS` is true: set
# `SOLUTIONS = True` in the first code cell, or start Jupyter with `TMT_SOLUTIONS=1 jupyter lab notebooks/`.)

# %% tags=["solution"] jupyter={"source_hidden": true}
if SOLUTIONS:
    with figstyle.context():
        fig, axes = figstyle.figure(columns=1, ncols=2, height=2.2)
        for i, p in enumerate(sorted({r["p"] for r in rows}, reverse=True)):
            pts = [r for r in rows if r["p"] == p]
            ns_ = [r["n"] for r in pts]
            axes[0, 0].semilogy(ns_, [max(r["failure"], 1e-5) for r in pts], "-", **figstyle.series(i), label=f"$p$ = {p}")
            axes[0, 1].semilogy(ns_, [max(r["failure"], 1e-5) / hoeffding(r["n"]) for r in pts], "-", **figstyle.series(i))
        axes[0, 0].set(xlabel=figstyle.label("n"), ylabel="failure")
        axes[0, 1].set(xlabel=figstyle.label("n"), ylabel="failure / Hoeffding")
        fig.legend(loc="outside lower center", ncol=3)
        assert figcheck.check_figure(fig) == []
    files = plots.save(fig, OUT / "coin_ratio")
    assert all(f.stat().st_size > 1000 for f in files)
    print([f.name for f in files])
