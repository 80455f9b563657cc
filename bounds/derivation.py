"""Derivations: a tail inequality, the requirement "tail <= delta", and its solution for n.

A :class:`Derivation` is a list of steps, each a sentence and a sympy relation, printable as text and
as LaTeX. :func:`solve_tail` does the algebra with sympy; where n appears both linearly and inside a
logarithm (n = a ln n + b, as in growth-function bounds) the larger root is the W_{-1} branch of the
Lambert function, n = -a W_{-1}(-exp(-b/a)/a), which :func:`larger_root_n_eq_a_log_n_plus_b` writes down.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .variables import delta, n


@dataclass(frozen=True)
class Step:
    text: str
    relation: sp.Basic


@dataclass(frozen=True)
class Derivation:
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def text(self) -> str:
        return "\n".join(f"  {i}. {s.text}\n       {sp.sstr(s.relation)}" for i, s in enumerate(self.steps, 1))

    def latex(self) -> str:
        rows = [rf"\text{{{i}. {s.text}}} & {sp.latex(s.relation)}" for i, s in enumerate(self.steps, 1)]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def solve_tail(tail: sp.Expr, event: str, inequality: str) -> tuple[sp.Expr, Derivation]:
    """Solve ``tail(n) <= delta`` for n, for a tail that decreases in n; return (n_required, steps)."""
    roots = sp.solve(sp.Eq(tail, delta), n)
    roots = [sp.simplify(r) for r in roots if r.is_real is not False]
    if len(roots) != 1:
        raise RuntimeError(f"expected one root of the tail equation, got {roots}")  # a catalogue bug
    # canonical form: a sum of logarithms over a power of eps, e.g. (ln(2^V - 2) + ln(1/delta)) / (2 eps^2)
    required = sp.factor_terms(sp.expand_log(sp.expand(roots[0]), force=True))
    steps = (
        Step(f"{inequality}: {event}", sp.Le(sp.Symbol("P_fail"), tail)),
        Step("require the tail to be at most delta", sp.Le(tail, delta)),
        Step("the tail decreases in n, so it suffices that", sp.Ge(n, required)),
    )
    return required, Derivation(steps)


def larger_root_n_eq_a_log_n_plus_b(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """The larger solution of n = a ln n + b (a > 0, it exists when b >= a(1 - ln a)): the W_{-1} branch."""
    return -a * sp.LambertW(-sp.exp(-b / a) / a, -1)
