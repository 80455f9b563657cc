"""The :class:`Bound` object: a sample requirement n >= f(variables) with its domain, assumptions and origin.

``kind`` says what the inequality means:

* ``upper``  -- n >= f suffices (an achievability result with explicit constants);
* ``lower``  -- every estimator needs n >= f (a minimax lower bound with explicit constants);
* ``order``  -- a claimed or known rate with a free constant ``C`` (the paper's claims C1-C4).

Evaluation is vectorised (numpy or JAX, broadcasting over array arguments) and uses a numerically
stable form of the expression (``ln(2^V - 2)`` as ``V ln 2 + log1p(-2^(1-V))``); ``exact=True`` returns
a sympy number computed in rationals. :meth:`Bound.solve_for` inverts the bound for any variable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np
import sympy as sp

from tm_transformer.errors import ToolkitError

from .derivation import Derivation
from .variables import DOMAINS, display_name, symbol

KINDS = ("upper", "lower", "order")
_SOLVE_TARGET = sp.Symbol("n_target", positive=True)


@dataclass(frozen=True, eq=False)
class Bound:
    name: str
    summary: str
    expr: sp.Expr
    kind: str
    reading: str
    provenance: str
    assumptions: tuple[tuple[sp.Basic, str], ...] = ()
    derivation: Derivation = field(default_factory=Derivation)
    stable_expr: sp.Expr | None = None  # same value, evaluated without overflow
    quantity: str = "n"  # what the expression bounds: examples n, or steps T for the precision envelope

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r}: expected one of {KINDS}")

    # ---- what it is -------------------------------------------------------------------------------
    @cached_property
    def variables(self) -> tuple[sp.Symbol, ...]:
        # an expression's free symbols are Symbols (sympy types them as Basic)
        return tuple(sorted(cast("set[sp.Symbol]", self.expr.free_symbols), key=lambda s: s.name))

    @property
    def variable_names(self) -> list[str]:
        return [display_name(v) for v in self.variables]

    @property
    def _relation(self) -> str:
        return "<=" if self.quantity != "n" else ">="

    def statement(self) -> str:
        if self.quantity != "n":
            return f"{self.quantity} <= {sp.sstr(self.expr)}   is guaranteed"
        verb = {"upper": "suffices", "lower": "is necessary", "order": "(claimed order, free constant C)"}[self.kind]
        return f"n >= {sp.sstr(self.expr)}   {verb}"

    def latex(self) -> str:
        rel = r"\leq" if self.quantity != "n" else r"\geq"
        return rf"{self.quantity} {rel} {sp.latex(self.expr)}"

    def _repr_latex_(self) -> str:
        """Jupyter shows a bound as its typeset inequality."""
        return f"${self.latex()}$"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "summary": self.summary, "kind": self.kind, "reading": self.reading,
                "statement": self.statement(), "latex": self.latex(), "provenance": self.provenance,
                "variables": {display_name(v): str(DOMAINS[v]) for v in self.variables},
                "assumptions": [text for _, text in self.assumptions]}

    # ---- evaluation -------------------------------------------------------------------------------
    def _values(self, values: dict[str, Any], skip: sp.Symbol | None = None,
                relaxed: bool = False) -> dict[sp.Symbol, Any]:
        """Map names to symbols and check domains (``relaxed``: integer variables may be real)."""
        out = {symbol(k): v for k, v in values.items()}
        for v in self.variables:
            if v == skip:
                continue
            if v not in out:
                raise ToolkitError(f"bound {self.name!r} needs {display_name(v)} (domain {DOMAINS[v]})")
            arr = np.asarray(out[v], dtype=float)
            inside = (lambda x, dom=DOMAINS[v]: _within(dom, x)) if relaxed else DOMAINS[v].contains
            ok = np.vectorize(inside, otypes=[bool])(arr) if arr.ndim else inside(float(arr))
            if not np.all(ok):
                bad = arr[~ok].flat[0] if arr.ndim else float(arr)
                raise ToolkitError(f"{display_name(v)}={bad:g} is outside its domain {DOMAINS[v]}")
        return out

    @cached_property
    def _assumption_fns(self):
        out = []
        for rel, text in self.assumptions:
            syms = sorted(cast("set[sp.Symbol]", rel.free_symbols), key=lambda s: s.name)
            out.append((syms, sp.lambdify(syms, rel, "numpy"), text))
        return out

    def check_assumptions(self, values: dict[str, Any]) -> None:
        vals = self._values(values)
        for syms, fn, text in self._assumption_fns:
            if not np.all(np.asarray(fn(*(vals[s] for s in syms)))):
                raise ToolkitError(f"bound {self.name!r} holds only where {text}")

    @property
    def _numeric_expr(self) -> sp.Expr:
        return self.stable_expr if self.stable_expr is not None else self.expr

    @cached_property
    def _numpy(self):
        return sp.lambdify(self.variables, self._numeric_expr, [{"LambertW": _lambertw_real}, "numpy"])

    @cached_property
    def _jax(self):
        if self._numeric_expr.has(sp.LambertW):
            raise ToolkitError(f"bound {self.name!r} uses Lambert W, which has no JAX form: use backend='numpy'")
        return sp.lambdify(self.variables, self._numeric_expr, "jax")

    def __call__(self, **values):
        return self.evaluate(**values)

    def evaluate(self, backend: str = "numpy", exact: bool = False, check_assumptions: bool = True,
                 relaxed: bool = False, **values) -> Any:
        """The required n. Arrays broadcast; ``exact=True`` returns a sympy number (rational arithmetic).

        ``relaxed`` lets integer variables (V, m, d, l) take real values, as inversion and plots need.
        """
        vals = self._values(values, relaxed=relaxed)
        if check_assumptions:
            self.check_assumptions(values)
        if exact:
            subs: dict[sp.Basic | complex, sp.Basic | complex] = {v: sp.Rational(str(vals[v])) for v in self.variables}
            return self.expr.subs(subs)
        args = [vals[v] for v in self.variables]
        if backend == "jax":
            return self._jax(*args)
        if backend != "numpy":
            raise ToolkitError(f"backend {backend!r}: expected 'numpy' or 'jax'")
        with np.errstate(over="ignore"):
            out = self._numpy(*(np.asarray(a, dtype=float) for a in args))
        return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=float)

    # ---- inversion --------------------------------------------------------------------------------
    @cached_property
    def _closed_forms(self) -> dict[sp.Symbol, list[sp.Expr]]:
        return {}

    def closed_forms(self, var: sp.Symbol) -> list[sp.Expr]:
        """Symbolic solutions of f = n_target for ``var`` (empty where sympy finds none)."""
        if var not in self._closed_forms:
            forms: list[sp.Expr] = []
            if not self.expr.has(sp.Max, sp.Min, sp.LambertW, sp.Piecewise):
                try:
                    forms = list(sp.solve(sp.Eq(self.expr, _SOLVE_TARGET), var))
                except (NotImplementedError, ValueError):
                    forms = []
            self._closed_forms[var] = forms
        return self._closed_forms[var]

    def solve_for(self, var_name: str, target: float, **values) -> float:
        """The value of ``var`` at which the bound equals ``target`` examples (others fixed).

        Closed forms are tried first (each candidate is checked: real, in the domain, and reproducing
        the target, which rules out a wrong Lambert-W branch); otherwise a bracketed root of the
        monotone function. Integer variables are solved over the reals.
        """
        var = symbol(var_name)
        if var not in self.variables:
            raise ToolkitError(f"bound {self.name!r} does not depend on {var_name}: its variables are "
                               f"{', '.join(self.variable_names)}")
        if not (isinstance(target, (int, float)) and target > 0 and math.isfinite(target)):
            raise ToolkitError(f"n={target!r}: expected a positive number of examples")
        values = {k: v for k, v in values.items() if symbol(k) != var}
        vals = self._values(values, skip=var, relaxed=True)
        dom = DOMAINS[var]

        def f(x):
            return self.evaluate(check_assumptions=False, relaxed=True, **{display_name(var): x}, **values) - target

        for form in self.closed_forms(var):
            try:
                x = complex(form.subs({**{k: v for k, v in vals.items() if k in self.variables}, _SOLVE_TARGET: target}).evalf())
            except (TypeError, ValueError):
                continue
            if abs(x.imag) > 1e-9 * max(1.0, abs(x.real)) or not _within(dom, x.real):
                continue
            if abs(f(x.real)) <= 1e-8 * target:
                return x.real
        lo, hi = dom.sample_interval()
        grid = np.geomspace(max(lo, 1e-12), hi, 2000) if lo > 0 else np.linspace(lo, hi, 2000)
        with np.errstate(all="ignore"):
            on_grid = np.asarray(f(grid), dtype=float)
        for edge, value in ((grid[0], on_grid[0]), (grid[-1], on_grid[-1])):
            if abs(value) <= 1e-9 * target:
                return float(edge)  # the root sits on the domain's edge (e.g. V = 2)
        sign = np.sign(on_grid)
        change = np.nonzero(sign[:-1] * sign[1:] < 0)[0]
        if change.size == 0:
            finite = on_grid[np.isfinite(on_grid)] + target
            span = f"[{finite.min():.4g}, {finite.max():.4g}]" if finite.size else "nowhere finite"
            raise ToolkitError(f"no {var_name} in {dom} makes {self.name!r} equal n={target:g} "
                               f"(the bound ranges over {span} there)")
        from scipy.optimize import brentq  # here, not on import: ``tmt bounds list`` needs no scipy

        i = change[0]
        # brentq returns a float without full_output; scipy's rtol default (a float64) is taken as its type
        return float(cast(float, brentq(lambda x: float(f(x)), grid[i], grid[i + 1], xtol=1e-14,
                                        rtol=1e-13)))  # pyright: ignore[reportArgumentType]


def _lambertw_real(x, k=0):
    from scipy.special import lambertw

    w = lambertw(x, int(k))
    return np.where(np.abs(np.imag(w)) < 1e-12, np.real(w), np.nan)


def _within(dom, x: float) -> bool:
    """Domain membership ignoring integrality (roots for integer variables are real)."""
    return dom.contains(x) if not dom.integer else type(dom)(dom.lo, dom.hi, dom.lo_open, dom.hi_open).contains(x)
