"""Symbolic arguments behind the verdicts, computed with sympy from the catalogue in :mod:`bounds`.

* A refutation of "n = C f(params) suffices" for *every* C: a proven lower bound L valid for every
  estimator whose ratio L / f goes to infinity along one direction (the limit computed by sympy); then
  for any C the claim's n falls below what any estimator needs once that variable is far enough.
* A "holds": a proven upper bound U (achieved by the simulated estimator) with U <= C0 f on the stated
  domain, so the claim holds with the constant C0; the supremum of U / f is computed by sympy (limits
  along each direction plus the corner of the domain).

Limits of ``Max(a, b) / f`` are taken term by term (``limit(Max) = Max(limits)`` for continuous terms):
sympy's limit does not handle Max.

Both functions take a bound's catalogue name or a :class:`~tm_transformer.bounds.Bound` (a claim of a
user's own); which bounds a claim is held against is data (:mod:`experiments.claims`), not code.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence, cast

import numpy as np
import sympy as sp

from tm_transformer.bounds.bound import Bound
from tm_transformer.bounds.known import get
from tm_transformer.bounds.variables import C, V, d, delta, eps, l, m, symbol

_DIRECTION_POINT = {"delta": (delta, 0), "eps": (eps, 0), "V": (V, sp.oo), "m": (m, sp.oo), "l": (l, sp.oo),
                    "d": (d, sp.oo)}


_L = sp.Symbol("L", positive=True)  # ln(1/delta): delta = exp(-L) is in (0, 1) for sympy too
_U = sp.Symbol("u", positive=True)  # eps = 1/(1 + u) is in (0, 1)
_SIZES = {V: (2, sp.Symbol("V_", positive=True)), m: (1, sp.Symbol("m_", positive=True)),
          l: (1, sp.Symbol("l_", positive=True)), d: (1, sp.Symbol("d_", positive=True))}


def _limit(expr: sp.Expr, var: sp.Symbol, point, caps: tuple = ()) -> sp.Expr:
    """The limit of expr as var -> point, with delta and eps known to lie in (0, 1), or below the
    ``caps`` ((("delta", 1/4), ...): a bound's validity range) -- sympy then knows the signs of terms such
    as ln(1/(4 delta))."""
    cap = {k: sp.Rational(str(v)) for k, v in caps}
    cd, ce = cap.get("delta", sp.Integer(1)), cap.get("eps", sp.Integer(1))
    # sizes above their domain's low end (V >= 2, m, l, d >= 1): sympy then knows ln(m/delta) > 0
    sizes = {x: x0 + x1 for x, (x0, x1) in _SIZES.items() if x in expr.free_symbols}
    expr = expr.subs({delta: cd * sp.exp(-_L), eps: ce / (1 + _U), **sizes})
    if var == delta:
        var, point = _L, sp.oo
    elif var == eps:
        var, point = _U, sp.oo
    elif var in _SIZES:
        var = _SIZES[var][1]
    try:  # fast: sympy's limit on the expression as it is (simplify costs seconds on these forms)
        out = _limit_raw(sp.expand_log(expr, force=True), var, point)
        if out.has(sp.Limit) or out.has(sp.nan):
            raise ValueError("unevaluated")
    except (ValueError, NotImplementedError, TypeError):
        out = _limit_raw(sp.expand_log(sp.simplify(expr), force=True), var, point)
    if out.is_number:
        return out
    return sp.simplify(out.subs({_L: -sp.log(delta / cd), _U: ce / eps - 1,
                                 **{x1: x - x0 for x, (x0, x1) in _SIZES.items()}}))


def _limit_raw(expr: sp.Expr, var: sp.Symbol, point) -> sp.Expr:
    """sympy's limit, with Max taken term by term (factors here are positive: r Max(a, b) = Max(r a, r b))."""
    if isinstance(expr, sp.Max):
        return sp.Max(*(_limit_raw(a, var, point) for a in cast("tuple[sp.Expr, ...]", expr.args)))
    maxes = [f for f in sp.Mul.make_args(expr) if isinstance(f, sp.Max)]
    if maxes:
        rest = expr / maxes[0]
        return sp.Max(*(_limit_raw(sp.expand_log(rest * a, force=True), var, point) for a in maxes[0].args))
    return sp.limit(expr, var, point, "+" if point == 0 else "-")


def _b(x) -> Bound:
    return x if isinstance(x, Bound) else get(x)


def _name(x) -> str:
    return _b(x).name


def refutation(lower, claim, direction: str, fixed: dict | None = None, valid: str = "",
               caps: dict | None = None) -> dict:
    """{kind: symbolic, role: refutes, diverges: bool, ...}: lower / claim along ``direction`` (others
    symbolic, or ``fixed``; delta and eps below their ``caps``, the lower bound's validity range);
    ``diverges`` when the ratio's limit is +oo, i.e. no constant C saves the claim."""
    lower = _b(lower)
    caps = caps or _caps_from_assumptions(lower)
    return dict(_refutation(lower, _b(claim), direction, tuple(sorted((fixed or {}).items())), valid,
                            tuple(sorted(caps.items()))))


def _caps_from_assumptions(b) -> dict:
    """{"delta": c, "eps": c'} from a bound's assumptions of the form delta < c, eps <= c'."""
    out = {}
    for rel, _ in b.assumptions:
        if isinstance(rel, (sp.StrictLessThan, sp.LessThan)) and rel.lhs in (delta, eps) and rel.rhs.is_number:
            out["delta" if rel.lhs == delta else "eps"] = float(cast(sp.Expr, rel.rhs))
    return out


@lru_cache(maxsize=256)
def _refutation(lower: Bound, claim: Bound, direction: str, fixed: tuple, valid: str, caps: tuple = ()) -> dict:
    var, point = _DIRECTION_POINT[direction]
    subs: dict[sp.Basic | complex, sp.Basic | complex] = {symbol(k): sp.Rational(str(v)) for k, v in fixed}
    ratio = cast(sp.Expr, (lower.expr / claim.expr).subs(subs))  # numbers for symbols: still an Expr
    if var not in ratio.free_symbols:
        lim = ratio  # the ratio does not move along this direction
    else:
        lim = _limit(ratio, var, point, caps)
    diverges = bool(lim == sp.oo)
    return {"kind": "symbolic", "role": "refutes", "bound": lower.name, "bound_kind": lower.kind,
            "bound_statement": lower.statement(), "provenance": lower.provenance, "claim": claim.name,
            "direction": direction, "fixed": {k: v for k, v in fixed}, "limit_point": str(point),
            "ratio": sp.sstr(ratio), "limit": sp.sstr(lim), "diverges": diverges, "valid_for": valid,
            "statement": (f"every estimator needs n >= {lower.name} ({lower.provenance}); {lower.name} / {claim.name}-form -> {sp.sstr(lim)} "
                          f"as {direction} -> {point}, so no constant C makes {claim.name} hold") if diverges else
                         (f"{lower.name} / {claim.name}-form -> {sp.sstr(lim)} as {direction} -> {point}: bounded, "
                          "no refutation along this direction")}


_INTEGER = ("V", "m", "l", "d")
_SYM = {"V": V, "m": m, "l": l, "d": d, "delta": delta, "eps": eps}


def _scan_values(name: str, lo: float, hi: float) -> np.ndarray:
    """Points of a domain interval where the ratio is evaluated: every integer up to 64 and then powers of
    two for sizes; a log-spaced grid for eps and delta."""
    if name in _INTEGER:
        top = min(hi, 2.0 ** 40)
        ints = np.arange(math.ceil(lo), min(top, 64) + 1, dtype=float)
        return np.unique(np.concatenate([ints, 2.0 ** np.arange(6, 41)[2.0 ** np.arange(6, 41) <= top]]))
    return np.unique(np.concatenate([np.geomspace(max(lo, 1e-30), hi, 80), [hi]]))


def _lambda(expr: sp.Expr, names: list[str]):
    return sp.lambdify([_SYM[k] for k in names], expr, modules=["numpy", {"Max": np.maximum, "Min": np.minimum}])


def _values(f, points: Sequence[np.ndarray], shape) -> np.ndarray:
    with np.errstate(all="ignore"):
        out = np.asarray(f(*points))
    if np.iscomplexobj(out):
        out = np.where(np.abs(np.imag(out)) > 0, np.nan, np.real(out))
    return np.broadcast_to(out.astype(float), shape)


def _scan_sup(ratio: sp.Expr, domain: dict) -> float:
    """The largest value of ``ratio`` over ``domain``, numerically: on a grid (:func:`_scan_values`), then
    refined from the best grid points by a bounded local search in the continuous variables (log-scale
    for eps and delta). A lower bound on the supremum, which the limits along each direction complete."""
    from scipy.optimize import minimize

    names = [k for k in domain if _SYM[k] in ratio.free_symbols]
    if ratio.free_symbols - {_SYM[k] for k in names}:
        return float("-inf")  # depends on a variable held fixed by the reading: the limits decide
    if not names:
        return float(ratio)
    grids = np.meshgrid(*[_scan_values(k, *domain[k]) for k in names], indexing="ij")
    f = _lambda(ratio, names)
    vals = _values(f, grids, grids[0].shape)
    # non-finite values are float overflow at the grid's far ends (2^V for V = 2^40), not poles: the limits
    # along each direction cover those ends
    finite = np.where(np.isfinite(vals), vals, -np.inf)
    if not np.isfinite(finite).any():
        return float("nan")
    best = float(finite.max())
    cont = [i for i, k in enumerate(names) if k not in _INTEGER]
    if not cont:
        return best
    for flat in np.argsort(finite, axis=None)[::-1][:5]:
        start = [g.flat[flat] for g in grids]
        lo = [math.log(max(domain[names[i]][0], 1e-30)) for i in cont]
        hi = [math.log(domain[names[i]][1]) for i in cont]

        def neg(z, start=start):
            x = list(start)
            for j, i in enumerate(cont):
                x[i] = math.exp(min(max(z[j], lo[j]), hi[j]))
            v = _values(f, [np.asarray(t, dtype=float) for t in x], ())
            return -float(v) if np.isfinite(v) else 0.0

        r = minimize(neg, [math.log(start[i]) for i in cont], method="Nelder-Mead",
                     options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 2000})
        best = max(best, -float(r.fun))
    return best


def _form_positive(claim: Bound, domain: dict) -> bool:
    """The claim's form (at C = 1) is positive on the grid over ``domain`` (a form that is not positive
    promises no examples at all, and no upper bound can sit "under" it meaningfully)."""
    expr = claim.expr.subs(C, 1)
    full = {"V": (2, 64), "m": (1, 64), "l": (1, 64), "d": (1, 64), "eps": (1e-6, 0.99), "delta": (1e-6, 0.99)}
    names = [k for k in _SYM if _SYM[k] in expr.free_symbols]
    if expr.free_symbols - {_SYM[k] for k in names}:
        return True  # a variable of the user's own: not scanned
    if not names:
        return bool(float(expr) > 0)
    grids = np.meshgrid(*[_scan_values(k, *domain.get(k, full[k])) for k in names], indexing="ij")
    vals = _values(_lambda(expr, names), grids, grids[0].shape)
    return bool(np.all(vals[~np.isnan(vals)] > 0))


def support(upper, claim, constant, domain: dict, directions: list[str], fixed: dict | None = None) -> dict:
    """{kind: symbolic, role: supports}: the proven upper bound sits under the claim with C = ``constant``
    on ``domain`` ({variable: (lo, hi)}). The supremum of upper / claim-form over the domain is the largest
    of its limits along each direction (at the domain's corner for the other variables) and of its values
    on a grid over the whole domain (:func:`_scan_sup`). ``constant=None``: the claim's constant may depend
    on the variables that are not directions (a fixed-delta reading): it holds when every limit along a
    direction is finite, with C = that supremum."""
    key = (_b(upper), _b(claim), None if constant is None else float(constant),
           tuple((k, tuple(v)) for k, v in domain.items()), tuple(directions), tuple(sorted((fixed or {}).items())))
    return dict(_support(*key))


@lru_cache(maxsize=256)
def _support(upper: Bound, claim: Bound, constant, domain_t: tuple, directions: tuple, fixed: tuple) -> dict:
    domain = {k: v for k, v in domain_t}
    subs: dict[sp.Basic | complex, sp.Basic | complex] = {symbol(k): sp.Rational(str(v)) for k, v in fixed}
    ratio = sp.expand_log((upper.expr / claim.expr).subs(subs).subs(C, 1), force=True)

    def corner_of(skip=None):
        return {v: sp.Rational(str(domain[name][0 if name in _INTEGER else 1]))
                for name, v in _SYM.items() if name in domain and v != skip and v in ratio.free_symbols}

    limits = {}
    for dname in directions:
        var, point = _DIRECTION_POINT[dname]
        limits[dname] = sp.nsimplify(_limit(ratio.subs(corner_of(var)), var, point)) if var in ratio.free_symbols \
            else sp.nsimplify(ratio.subs(corner_of(var)))
    at_corner = sp.simplify(ratio.subs(corner_of()))
    scanned = _scan_sup(ratio, domain)
    finite = not any(x.has(sp.oo, -sp.oo, sp.zoo, sp.nan) for x in limits.values()) and scanned != float("inf")
    positive = _form_positive(claim, domain)
    numbers = [float(x) for x in [at_corner, *limits.values()] if x.is_number and x.is_finite and x.is_real]
    sup = max([scanned, *numbers]) if numbers or scanned > float("-inf") else None
    if constant is None and not all(x.is_number for x in limits.values()):
        sup = None  # the constant depends on the fixed variables: stated symbolically below
    holds = finite and positive and (constant is None or (sup is not None and sup <= float(constant) + 1e-12))
    sym_sup = " and ".join(sorted({sp.sstr(x) for x in limits.values()}))
    c_text = f"C = {float(constant):.3g}" if constant is not None else (f"C = {sym_sup}" if len(set(limits.values())) == 1 else f"C = max({sym_sup})") + \
        " (finite at every fixed value of the variables that are not directions)"
    return {"kind": "symbolic", "role": "supports", "bound": upper.name, "bound_kind": upper.kind,
            "bound_statement": upper.statement(), "provenance": upper.provenance, "claim": claim.name,
            "ratio_at_C_1": sp.sstr(ratio), "limits": {k: sp.sstr(v) for k, v in limits.items()},
            "ratio_at_corner": float(at_corner) if at_corner.is_number else sp.sstr(at_corner),
            "scanned_sup": scanned if scanned > float("-inf") else None, "domain": {k: list(v) for k, v in domain.items()},
            "fixed": {k: v for k, v in fixed},
            "constant": float(constant) if constant is not None else (sup if sup is not None else sym_sup), "sup_ratio": sup if sup is None or math.isfinite(sup) else None,
            "holds_with_constant": bool(holds),
            "statement": (f"{upper.name} ({upper.provenance}; a proven upper bound, achieved by an estimator) <= "
                          f"{claim.name} with {c_text} on "
                          f"{', '.join(f'{k} in [{a:g}, {b:g}]' for k, (a, b) in domain.items())} "
                          + (f"(sup of {upper.name}/{claim.name}-form at C = 1: {sup:.3g}, from its limits and a refined numerical "
                             "scan)" if sup is not None else
                             f"(limits of {upper.name}/{claim.name}-form at C = 1: {sym_sup})")) if holds else
                         (f"the form of {claim.name} is not positive on the domain" if not positive else
                          f"{upper.name} does not sit under {claim.name}" +
                          (f" with C = {float(constant):.3g}" if constant is not None else "") +
                          f": sup of {upper.name}/{claim.name}-form at C = 1 is "
                          + ("infinite (limits " + ", ".join(f"{k}: {sp.sstr(v)}" for k, v in limits.items()) + ")"
                             if not finite else f"{sup:.3g}" if sup is not None else sym_sup))}
