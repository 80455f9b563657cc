"""Comparing two bounds along one variable: their ratio, its limit, and where each dominates.

SymPy cannot take limits at mixed points and ``O(...)`` drops factors silently, so comparisons are
single-variable limits of the explicit ratio along a chosen path (eps, delta, q -> 0; sizes -> oo),
with the other variables symbolic or fixed. Dominance is found numerically on a log grid, refined to
the crossing points by root finding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import sympy as sp

from tm_transformer.errors import ToolkitError

from .bound import Bound
from .variables import DOMAINS, LIMIT_POINT, display_name, symbol


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    along: str
    ratio: sp.Expr
    limit: sp.Expr | None
    limit_point: sp.Expr
    crossings: tuple[float, ...]
    a_dominates: tuple[tuple[float, float], ...]  # intervals of `along` where a > b (numeric)
    fixed: dict

    def as_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "along": self.along, "ratio": sp.sstr(self.ratio),
                "ratio_latex": sp.latex(self.ratio), "limit": None if self.limit is None else sp.sstr(self.limit),
                "limit_point": sp.sstr(self.limit_point), "limit_value": _num(self.limit),
                "crossings": list(self.crossings), "a_dominates": [list(i) for i in self.a_dominates],
                "fixed": self.fixed}


def _num(expr):
    try:
        return float(expr)
    except (TypeError, ValueError):
        return None


def _symbolic_ratio_limit(a: Bound, b: Bound, var: sp.Symbol, fixed: dict):
    """The simplified ratio a/b and its limit at var's natural point, other variables fixed or symbolic."""
    subs: dict[sp.Basic | complex, sp.Basic | complex] = {symbol(k): sp.Rational(str(v)) for k, v in fixed.items()}
    ratio = sp.expand_log((a.expr / b.expr).subs(subs), force=True)
    point = sp.Integer(LIMIT_POINT[var]) if var in LIMIT_POINT else sp.oo
    try:
        lim = sp.limit(ratio, var, point, "+" if point == 0 else "-")
        lim = sp.factor_terms(sp.expand_log(lim, force=True))
    except (NotImplementedError, ValueError, TypeError):
        lim = None
    return ratio, lim, point


def compare(a: Bound, b: Bound, along: str, grid: tuple[float, float] | None = None, **fixed) -> Comparison:
    """Ratio a/b and its limit along ``along`` (other variables fixed where given, else symbolic); the
    crossings and dominance intervals need every other variable fixed and are empty otherwise."""
    var = symbol(along)
    if var not in a.variables and var not in b.variables:
        raise ToolkitError(f"neither {a.name!r} nor {b.name!r} depends on {along}")
    ratio, lim, point = _symbolic_ratio_limit(a, b, var, fixed)
    missing = {display_name(v) for bound in (a, b) for v in bound.variables
               if v != var and display_name(v) not in fixed and v.name not in fixed}
    if missing:
        return Comparison(a.name, b.name, display_name(var), ratio, lim, point, (), (), dict(fixed))
    dom = DOMAINS[var]
    lo, hi = grid or ((1e-6, 0.999) if math.isfinite(dom.hi) and dom.hi <= 1 else (max(dom.lo, 1.0), 1e6))
    xs = np.geomspace(lo, hi, 600)

    def diff(x):
        kw = {display_name(var): x}
        va = a.evaluate(check_assumptions=False, relaxed=True, **fixed, **kw)
        vb = b.evaluate(check_assumptions=False, relaxed=True, **fixed, **kw)
        return np.log(va) - np.log(vb)

    with np.errstate(all="ignore"):
        values = np.array([diff(x) for x in xs])
    finite = np.isfinite(values)
    if not finite.all():  # a bound overflows (e.g. 2^(V^l)): compare where both are finite
        keep = np.nonzero(finite)[0]
        if keep.size < 2:
            return Comparison(a.name, b.name, display_name(var), ratio, lim, point, (), (), dict(fixed))
        xs, values = xs[keep[0]: keep[-1] + 1], values[keep[0]: keep[-1] + 1]
        lo, hi = float(xs[0]), float(xs[-1])
    from scipy.optimize import brentq  # here, not on import: ``tmt bounds list`` needs no scipy

    crossings = []
    sign = np.sign(values)
    for i in np.nonzero(sign[:-1] * sign[1:] < 0)[0]:
        crossings.append(float(cast(float, brentq(diff, xs[i], xs[i + 1], xtol=1e-12))))  # no full_output: a float
    edges = [lo, *crossings, hi]
    intervals = []
    for left, right in zip(edges[:-1], edges[1:]):
        if diff(math.sqrt(left * right)) > 0:
            intervals.append((left, right))
    return Comparison(a.name, b.name, display_name(var), ratio, lim, point, tuple(crossings), tuple(intervals),
                      {k: v for k, v in fixed.items()})
