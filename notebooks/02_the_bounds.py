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
# # 2. The bounds: derive, compare, invert, typeset
#
# The paper claims sample sizes of the form `n = C f(V, m, l, d, eps, delta)` with a free constant C
# (claims C1-C4). Whether a claim is true is decided against *reference bounds*: inequalities with
# explicit constants, derived from tail bounds. The idea to take away: **a bound is a sympy object with
# its derivation; comparing two bounds is a limit of their ratio, and that limit -- not a plot -- says
# whether a claim can hold for some constant.**
#
# Every claim sits beside an `assert`. `TMT_QUICK` changes nothing here (it is all symbolic and fast);
# `TMT_SOLUTIONS=1` shows the exercise's solution.

# %%
# %matplotlib inline
import os

import numpy as np
import sympy as sp

SOLUTIONS = os.environ.get("TMT_SOLUTIONS", "0") == "1"

# %% [markdown]
# ## The catalogue
#
# `kind` says what a bound means: `order` (a claim with a free constant C), `upper` (n >= f suffices:
# an achievability result), `lower` (every estimator needs n >= f).

# %%
from tm_transformer.bounds import catalogue, compare, get

for name, b in catalogue().items():
    print(f"{name:22s} {b.kind:6s} {b.summary[:70]}")
assert {get(c).kind for c in ("C1", "C2", "C3", "C4")} == {"order"}
assert get("hoeffding").kind == "upper" and get("ehkv_lower").kind == "lower"

# %% [markdown]
# In a notebook a bound shows as its typeset inequality:

# %%
get("C1")

# %% [markdown]
# ## Deriving a reference bound
#
# Hoeffding's inequality bounds the chance that an empirical frequency is off by eps:
# `P(|p_hat - p| >= eps) <= 2 exp(-2 n eps^2)`. Requiring the tail to be at most delta and solving for n
# gives the sample size that suffices. Do it by hand with sympy, then check the catalogue did the same:

# %%
from tm_transformer.bounds.variables import symbol

n, eps, delta = symbol("n"), symbol("eps"), symbol("delta")
tail = 2 * sp.exp(-2 * n * eps ** 2)
by_hand = sp.solve(sp.Eq(tail, delta), n)[0]
assert sp.simplify(by_hand - get("hoeffding").expr) == 0
print(get("hoeffding").derivation.text())
by_hand

# %% [markdown]
# The claims C1-C4 have no derivation: they are stated (the derivation says where). The reference
# bounds for each:
#
# | claim | reads as | reference bound(s) |
# |---|---|---|
# | C1 | next-token distribution of every one of m contexts within eps in TV | `union_contexts` (Weissman + union bound) |
# | C2 | distribution of length-l outputs within eps | `tv_sequences` (TV), `seq_union` (per sequence), `tv_outcomes_lower` |
# | C3 | a halfspace learned to error eps | `behw`, `vc_consistent` (upper), `ehkv_lower` (lower) |
# | C4 | one probability within eps | `hoeffding` (upper), `coin_lower` (lower) |

# %%
for c in ("C1", "C2", "C3", "C4"):
    print(c, get(c).statement())
    print("  ", get(c).derivation.text().splitlines()[0].strip())
print(get("coin_lower").derivation.text())
assert "Bretagnolle-Huber" in get("coin_lower").derivation.text()

# %% [markdown]
# ## Evaluate
#
# Evaluation is vectorised (arrays broadcast) and numerically stable (`ln(2^V - 2)` does not overflow at
# V = 5000):

# %%
w = get("weissman")
assert abs(w.evaluate(V=10, eps=0.1, delta=0.05) - 496.26) < 0.01
assert np.isfinite(w.evaluate(V=5000, eps=0.1, delta=0.05))
print(get("hoeffding").evaluate(eps=0.1, delta=np.array([0.1, 0.01, 0.001])))
print(w.evaluate(V=10, eps=0.1, delta=0.05, exact=True))   # in rationals, as a sympy number

# %% [markdown]
# ## Compare: the limit of a ratio decides
#
# **C4 holds.** Hoeffding's bound over C4's form `C ln(1/delta)/eps^2` tends to 1/(2C) as delta -> 0, so
# C4 with C = 1/2 is asymptotically Hoeffding's bound: any C > 1/2 covers it for delta small enough, and
# C = 1 for every delta <= 1/2 (Hoeffding is `ln(2/delta)/(2 eps^2)`, and `ln 2 <= ln(1/delta)` there).

# %%
c4 = compare(get("hoeffding"), get("C4"), "delta")            # C left free
assert sp.simplify(c4.limit - 1 / (2 * symbol("C"))) == 0 and c4.limit_point == 0
assert compare(get("hoeffding"), get("C4"), "delta", C=1).limit == sp.Rational(1, 2)
c4.ratio, c4.limit

# %% [markdown]
# **C1 is loose but true.** Its ratio to the union bound tends to `2 C ln(m/delta)/ln 2` as V grows.

# %%
c1 = compare(get("C1"), get("union_contexts"), "V", C=1)
assert sp.simplify(c1.limit - 2 * sp.log(symbol("m") / delta) / sp.log(2)) == 0
c1.limit

# %% [markdown]
# **C2 read as TV fails for every constant.** Every estimator needs `V^l/32 - 1/4` examples
# (`tv_outcomes_lower`); its ratio to C2's form, which grows only like l, diverges as l grows.

# %%
c2 = compare(get("tv_outcomes_lower"), get("C2"), "l", C=1, V=2, eps=0.1, delta=0.05)
assert c2.limit == sp.oo
c2.ratio

# %% [markdown]
# **C3 fails for every constant.** Ehrenfeucht et al.'s lower bound holds for every learner and has a
# term `(1 - eps) ln(1/delta)/eps`; C3's form `C d/eps` has no delta in it. The ratio of that term to the
# claim diverges as delta -> 0, whatever C (sympy keeps a `sign(1 - eps)`, which is 1 for eps in (0, 1)):

# %%
lower_term = (1 - eps) * sp.log(1 / delta) / eps
assert lower_term in get("ehkv_lower").expr.args
ratio = sp.limit(lower_term / get("C3").expr, delta, 0, "+")
assert ratio.subs(eps, sp.Rational(1, 10)) == sp.oo
ratio

# %% [markdown]
# The same comparisons as a picture (check 1 of `tmt reproduce` draws it; `tm_transformer.plots`
# is the public plotting API):

# %%
from tm_transformer import plots

fig = plots.bound_ratios()
fig

# %% [markdown]
# ## Invert
#
# `solve_for` solves a bound for any variable: the eps 1000 examples buy, the constant C4 needs to cover
# the exact n* = 18 of a fair coin at eps = 0.2, delta = 0.1 (notebook 3 measures that n*).

# %%
e1000 = w.solve_for("eps", 1000, V=10, delta=0.05)
assert abs(w.evaluate(V=10, eps=e1000, delta=0.05) - 1000) < 1e-6
c_needed = get("C4").solve_for("C", 18, eps=0.2, delta=0.1)
assert abs(c_needed - 18 * 0.2 ** 2 / np.log(10)) < 1e-9
print(f"1000 examples: eps = {e1000:.4f} at V = 10, delta = 0.05;  C4 needs C = {c_needed:.4f} for n* = 18")

# %% [markdown]
# ## LaTeX
#
# `latex()` gives the inequality, `derivation.latex()` the derivation as an `aligned` block (the
# `tmt bounds show NAME --latex` command prints both). Write them into a file for a paper:

# %%
import tempfile
from pathlib import Path

h = get("hoeffding")
print(h.latex())
with tempfile.TemporaryDirectory() as folder:            # your paper's folder here; this one is removed
    tex = Path(folder) / "hoeffding.tex"
    tex.write_text(f"\\[ {h.latex()} \\]\n\\[ {h.derivation.latex()} \\]\n")
    assert h.latex().startswith(r"n \geq") and r"\begin{aligned}" in tex.read_text()
    print(tex.read_text()[:300])

# %% [markdown]
# ## Exercise
#
# Derive the sample size that the *one-sided* Hoeffding inequality `P(p_hat - p >= eps) <= exp(-2 n eps^2)`
# gives, with `tm_transformer.bounds.derivation.solve_tail`, and show that its ratio to the two-sided
# `hoeffding` bound tends to 1 as delta -> 0 (the factor 2 costs only `ln 2 / (2 eps^2)` examples more).
#
# (The solution sits in the collapsed cell below and runs only when `SOLUTIONS` is true: set
# `SOLUTIONS = True` in the first code cell, or start Jupyter with `TMT_SOLUTIONS=1 jupyter lab notebooks/`.)

# %% tags=["solution"] jupyter={"source_hidden": true}
if SOLUTIONS:
    from tm_transformer.bounds.derivation import solve_tail

    one_sided, derivation = solve_tail(sp.exp(-2 * n * eps ** 2), "P(p_hat - p >= eps)", "one-sided Hoeffding")
    assert sp.simplify(one_sided - sp.log(1 / delta) / (2 * eps ** 2)) == 0
    assert sp.limit(one_sided / get("hoeffding").expr, delta, 0, "+") == 1
    print(derivation.text())
