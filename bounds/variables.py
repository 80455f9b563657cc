"""The variables bounds are stated in, each a positive sympy symbol with a documented domain.

``eps``, ``delta`` in (0, 1); vocabulary ``V`` >= 2; contexts ``m``, output length ``l``, dimension
``d`` >= 1 (integers); free constant ``C`` > 0; rarest-context probability ``q`` in (0, 1]; number of
examples ``n`` > 0; mantissa bits ``p`` >= 2; head range ``R`` >= 1 (cells either side).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from tm_transformer.errors import ToolkitError


@dataclass(frozen=True)
class Domain:
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = True
    integer: bool = False

    def contains(self, x: float) -> bool:
        if isinstance(x, float) and math.isnan(x):
            return False
        above = x > self.lo if self.lo_open else x >= self.lo
        below = x < self.hi if self.hi_open else x <= self.hi
        return above and below and (not self.integer or float(x).is_integer())

    def __str__(self) -> str:
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        hi = "inf" if math.isinf(self.hi) else f"{self.hi:g}"
        text = f"{left}{self.lo:g}, {hi}{right}"
        return f"integer in {text}" if self.integer else text

    def sample_interval(self) -> tuple[float, float]:
        """A finite interval inside the domain, for root finding."""
        lo = self.lo + (1e-12 if self.lo_open else 0.0)
        hi = self.hi - (1e-12 if self.hi_open and not math.isinf(self.hi) else 0.0)
        return lo, (1e15 if math.isinf(hi) else hi)


eps = sp.Symbol("epsilon", positive=True)
delta = sp.Symbol("delta", positive=True)
V = sp.Symbol("V", positive=True)
m = sp.Symbol("m", positive=True)
l = sp.Symbol("l", positive=True)  # noqa: E741  (the paper's name for the output length)
d = sp.Symbol("d", positive=True)
C = sp.Symbol("C", positive=True)
q = sp.Symbol("q", positive=True)
n = sp.Symbol("n", positive=True)
p = sp.Symbol("p", positive=True)
R = sp.Symbol("R", positive=True)

INF = math.inf
DOMAINS: dict[sp.Symbol, Domain] = {
    eps: Domain(0, 1, True, True), delta: Domain(0, 1, True, True), V: Domain(2, INF, integer=True),
    m: Domain(1, INF, integer=True), l: Domain(1, INF, integer=True), d: Domain(1, INF, integer=True),
    C: Domain(0, INF, True), q: Domain(0, 1, True, False), n: Domain(0, INF, True),
    p: Domain(2, INF, integer=True), R: Domain(1, INF, integer=True),
}
# names users type on the command line
BY_NAME: dict[str, sp.Symbol] = {"eps": eps, "epsilon": eps, "delta": delta, "V": V, "m": m, "l": l, "d": d,
                                 "C": C, "q": q, "n": n, "p": p, "R": R}
# where a variable naturally goes in a limit: small for eps and delta, large for sizes
LIMIT_POINT = {eps: 0, delta: 0, q: 0}


def symbol(name: str) -> sp.Symbol:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ToolkitError(f"unknown variable {name!r}: expected one of {', '.join(sorted(set(BY_NAME) - {'epsilon'}))}") from None


def display_name(sym: sp.Symbol) -> str:
    return "eps" if sym == eps else sym.name
