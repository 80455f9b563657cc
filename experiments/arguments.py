"""Symbolic arguments behind the verdicts, computed with sympy from the catalogue in :mod:`bounds`.

* A refutation of "n = C f(params) suffices" for *every* C: a proven lower bound L valid for every
  estimator whose ratio L / f goes to infinity along one direction (the limit computed by sympy); then
  for any C the claim's n falls below what any estimator needs once that variable is far enough.
* A "holds": a proven upper bound U (achieved by the simulated estimator) with U <= C0 f on the stated
  domain, so the claim holds with the constant C0; the supremum of U / f is computed by sympy (limits
  along each direction plus the corner of the domain).

Limits of ``Max(a, b) / f`` are taken term by term (``limit(Max) = Max(limits)`` for continuous terms):
sympy's limit does not handle Max.
"""
from __future__ import annotations

import sympy as sp

from tm_transformer.bounds import get
from tm_transformer.bounds.variables import C, V, d, delta, eps, l, m, symbol

_DIRECTION_POINT = {"delta": (delta, 0), "eps": (eps, 0), "V": (V, sp.oo), "m": (m, sp.oo), "l": (l, sp.oo),
                    "d": (d, sp.oo)}


_L = sp.Symbol("L", positive=True)  # ln(1/delta): delta = exp(-L) is in (0, 1) for sympy too
_U = sp.Symbol("u", positive=True)  # eps = 1/(1 + u) is in (0, 1)


def _limit(expr: sp.Expr, var: sp.Symbol, point) -> sp.Expr:
    """The limit of expr as var -> point, with delta and eps known to lie in (0, 1)."""
    expr = expr.subs({delta: sp.exp(-_L), eps: 1 / (1 + _U)})
    if var == delta:
        var, point = _L, sp.oo
    elif var == eps:
        var, point = _U, sp.oo
    out = _limit_raw(sp.expand_log(sp.simplify(expr), force=True), var, point)
    return sp.simplify(out.subs({_L: -sp.log(delta), _U: 1 / eps - 1}))


def _limit_raw(expr: sp.Expr, var: sp.Symbol, point) -> sp.Expr:
    """sympy's limit, with Max taken term by term (factors here are positive: r Max(a, b) = Max(r a, r b))."""
    if isinstance(expr, sp.Max):
        return sp.Max(*(_limit_raw(a, var, point) for a in expr.args))
    maxes = [f for f in sp.Mul.make_args(expr) if isinstance(f, sp.Max)]
    if maxes:
        rest = expr / maxes[0]
        return sp.Max(*(_limit_raw(sp.expand_log(rest * a, force=True), var, point) for a in maxes[0].args))
    return sp.limit(expr, var, point, "+" if point == 0 else "-")


def refutation(lower: str, claim: str, direction: str, fixed: dict | None = None, valid: str = "") -> dict:
    """{kind: symbolic, ...}: lower / claim along ``direction`` (others symbolic, or ``fixed``)."""
    var, point = _DIRECTION_POINT[direction]
    subs = {symbol(k): sp.Rational(str(v)) for k, v in (fixed or {}).items()}
    ratio = sp.simplify((get(lower).expr / get(claim).expr).subs(subs))
    lim = _limit(ratio, var, point)
    return {"kind": "symbolic", "role": "refutes", "bound": lower, "bound_kind": get(lower).kind,
            "bound_statement": get(lower).statement(), "provenance": get(lower).provenance, "claim": claim,
            "direction": direction, "limit_point": str(point), "ratio": sp.sstr(ratio), "limit": sp.sstr(lim),
            "diverges": bool(lim == sp.oo), "valid_for": valid,
            "statement": f"every estimator needs n >= {get(lower).name}; {get(lower).name} / {claim}-form -> {sp.sstr(lim)} "
                         f"as {direction} -> {point}, so no constant C makes {claim} hold" if lim == sp.oo else
                         f"{get(lower).name} / {claim}-form -> {sp.sstr(lim)} as {direction} -> {point}"}


def support(upper: str, claim: str, constant, domain: dict, directions: list[str], fixed: dict | None = None) -> dict:
    """{kind: symbolic, role: supports}: the proven upper bound sits under the claim with C = ``constant``
    on ``domain`` ({variable: (lo, hi)}): the sup of upper / claim-form over the domain, from the limit
    along each direction and the value at the domain's corner (where every ratio here is largest)."""
    subs = {symbol(k): sp.Rational(str(v)) for k, v in (fixed or {}).items()}
    ratio = sp.expand_log(sp.simplify((get(upper).expr / get(claim).expr).subs(subs).subs(C, 1)), force=True)
    limits = {}
    for dname in directions:
        var, point = _DIRECTION_POINT[dname]
        corner = {v: sp.Rational(str(domain[name][0 if name in ("V", "m", "l", "d") else 1]))
                  for name, v in (("V", V), ("m", m), ("l", l), ("d", d), ("delta", delta), ("eps", eps))
                  if name in domain and v != var and v in ratio.free_symbols}
        limits[dname] = sp.nsimplify(_limit(ratio.subs(corner), var, point))
    corner = {v: sp.Rational(str(domain[name][0 if name in ("V", "m", "l", "d") else 1]))
              for name, v in (("V", V), ("m", m), ("l", l), ("d", d), ("delta", delta), ("eps", eps)) if name in domain}
    at_corner = sp.simplify(ratio.subs(corner))
    sup = max([float(at_corner)] + [float(x) for x in limits.values() if x.is_finite])
    return {"kind": "symbolic", "role": "supports", "bound": upper, "bound_kind": get(upper).kind,
            "bound_statement": get(upper).statement(), "provenance": get(upper).provenance, "claim": claim,
            "ratio_at_C_1": sp.sstr(ratio), "limits": {k: sp.sstr(v) for k, v in limits.items()},
            "ratio_at_corner": float(at_corner), "domain": {k: list(v) for k, v in domain.items()},
            "constant": float(constant), "sup_ratio": sup, "holds_with_constant": bool(sup <= float(constant) + 1e-12),
            "statement": f"{upper} (proven, achieved by the simulated estimator) <= {claim} with C = {float(constant):.3g} "
                         f"on {', '.join(f'{k} in [{a:g}, {b:g}]' for k, (a, b) in domain.items())} "
                         f"(sup of {upper}/{claim}-form at C = 1: {sup:.3g})"}


def for_claim(claim: str, reading: str = "") -> list[dict]:
    """The symbolic arguments of one claim (and reading)."""
    if claim == "C1":
        # union/C1 at C = 1 is ln(2^V - 2)/(2 V L) + 1/(2 V), L = ln(m/delta) >= ln 2: largest at V = 2, L = ln 2
        a = support("union_contexts", "C1", 0.75, {"V": (2, float("inf")), "m": (1, float("inf")),
                                                   "delta": (0, 0.5)}, ["V", "m", "delta"])
        a["proof"] = ("with L = ln(m/delta) >= ln 2: union / (m V L / eps^2) = ln(2^V - 2)/(2 V L) + 1/(2 V) "
                      "<= ln 2/(2 L) + 1/(2 V) <= 1/2 + 1/4")
        return [a]
    if claim == "C2" and reading == "tv":
        return [refutation("tv_outcomes_lower", "C2", "l", {"eps": 0.2, "delta": 0.1, "V": 2},
                           "eps <= 1/4, delta < 3/4 (here eps = 0.2, delta = 0.1, V = 2)"),
                refutation("tv_outcomes_lower", "C2", "l", {"V": 2}, "eps <= 1/4, delta < 3/4, V = 2, eps and delta symbolic"),
                refutation("tv_outcomes_lower", "C2", "l", {"V": 3}, "eps <= 1/4, delta < 3/4, V = 3, eps and delta symbolic")]
    if claim == "C2":
        a = support("seq_union", "C2", 2.17, {"V": (2, float("inf")), "l": (1, float("inf")), "delta": (0, 0.5)},
                    ["V", "l", "delta"])
        a["proof"] = ("with A = l ln V >= ln 2 and L = ln(1/delta) >= ln 2: seq_union / (A L / eps^2) = "
                      "(A + ln 2 + L)/(2 A L) = 1/(2 L) + ln 2/(2 A L) + 1/(2 A) <= 1/(2 ln 2) + 1/(2 ln 2) + 1/(2 ln 2) "
                      "= 3/(2 ln 2) = 2.164")
        return [a]
    if claim == "C3":
        return [refutation("ehkv_lower", "C3", "delta", None, "eps <= 1/8, delta <= 1/100, any d")]
    if claim == "C4":
        a = support("hoeffding", "C4", 1.0, {"delta": (0, 0.5)}, ["delta"])
        a["proof"] = "hoeffding / (ln(1/delta)/eps^2) = ln(2/delta)/(2 ln(1/delta)) <= 1 iff delta <= 1/2"
        return [a]
    raise ValueError(f"claim {claim!r}")
