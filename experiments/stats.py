"""Exact binomial statistics for Monte-Carlo failure rates.

* :func:`clopper_pearson` -- the exact two-sided interval for a binomial proportion;
* :func:`exceeds` -- the one-sided exact binomial test of H0: p <= delta (reject when k failures out of
  T would be too many), at a fixed level ``alpha``;
* :func:`rates_differ` -- the conditional test that two failure counts share one rate: given k1 + k2,
  k1 is binomial(k1 + k2, T1 / (T1 + T2)); exact for Poisson counts, conservative for binomial ones
  (it overstates k1's variance by about 1 / (1 - rate));
* :func:`fisher_p` -- Fisher's exact test for two binomial counts (given the margins, k1 is
  hypergeometric), the p-value;
* :func:`binomial_p` -- the exact two-sided one-sample binomial test of k out of T against a known
  probability, the p-value;
* :func:`search_n_star` -- the empirical sample requirement: the smallest n whose estimated failure rate
  is <= delta, with the smallest n whose Clopper-Pearson upper bound is <= delta (n_hi) and whose lower
  bound is <= delta (n_lo) bracketing the uncertainty.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from scipy.stats import beta as beta_dist
from scipy.stats import binom, binomtest

ALPHA = 0.01  # the fixed test level of every statistical decision in the toolkit


def clopper_pearson(k: int, T: int, confidence: float = 1 - ALPHA) -> tuple[float, float]:
    a = (1 - confidence) / 2
    lo = 0.0 if k == 0 else float(beta_dist.ppf(a, k, T - k + 1))
    hi = 1.0 if k == T else float(beta_dist.ppf(1 - a, k + 1, T - k))
    return lo, hi


def exceeds(k: int, T: int, delta: float, alpha: float = ALPHA) -> bool:
    """Reject H0: p <= delta in favour of p > delta (exact one-sided binomial test)."""
    return float(binom.sf(k - 1, T, delta)) < alpha


def rates_differ(k1: int, T1: int, k2: int, T2: int, alpha: float = ALPHA) -> bool:
    """Reject H0: the two counts come from one failure rate (exact, conditional on k1 + k2)."""
    if k1 + k2 == 0:
        return False
    return float(binomtest(k1, k1 + k2, T1 / (T1 + T2)).pvalue) < alpha


def fisher_p(k1: int, T1: int, k2: int, T2: int) -> float:
    """Fisher's exact two-sided test of H0: k1 of T1 and k2 of T2 come from one binomial rate. Given the
    margins (k1 + k2 failures in T1 + T2 trials), k1 is hypergeometric; the p-value sums the tables no
    more probable than the observed one."""
    from scipy.stats import fisher_exact

    # scipy's result class is made at run time (_make_tuple_bunch): its attributes are not visible to pyright
    return float(fisher_exact([[k1, T1 - k1], [k2, T2 - k2]]).pvalue)  # pyright: ignore[reportAttributeAccessIssue]


def binomial_p(k: int, T: int, prob: float) -> float:
    """The exact two-sided binomial test of H0: k of T trials fail with probability ``prob``, the p-value
    (the outcomes no more probable than k, summed)."""
    return float(binomtest(k, T, min(max(prob, 0.0), 1.0)).pvalue)


@dataclass(frozen=True)
class NStar:
    n: int            # smallest n on the search path with k/T <= delta
    n_lo: int         # smallest n whose CP lower bound is <= delta
    n_hi: int | None  # smallest n whose CP upper bound is <= delta (conservative); None when T trials
                      # cannot certify delta even with no failure (T < about ln(2/alpha)/delta)
    evaluations: tuple  # (n, failures, trials) along the search


def search_n_star(failures: Callable[[int], tuple[int, int]], delta: float, n0: int = 1,
                  n_max: int = 10 ** 7, steps: int = 7) -> NStar:
    """Geometric growth from ``n0`` until the failure rate is <= delta, then bisection on a log scale.

    ``failures(n)`` returns (k, T). The failure probability is assumed non-increasing in n.
    """
    seen: dict[int, tuple[int, int]] = {}

    def rate(n):
        if n not in seen:
            seen[n] = failures(n)
        return seen[n]

    def ok(n, which):
        k, T = rate(n)
        if which == "point":
            return k / T <= delta
        lo, hi = clopper_pearson(k, T)
        return (hi if which == "hi" else lo) <= delta

    out = {}
    for which in ("point", "hi", "lo"):
        if which == "hi":
            _, T = rate(max(1, n0))
            if clopper_pearson(0, T)[1] > delta:
                out["hi"] = None
                continue
        out[which] = geometric_search(lambda n: ok(n, which), n0, steps, 64, n_max, delta)
    return NStar(out["point"], out["lo"], out["hi"], tuple((n, *seen[n]) for n in sorted(seen)))


def geometric_search(passes: Callable[[int], bool], n0: int, steps: int, resolution: int, n_max: int,
                     delta: float) -> int:
    """The first n found to pass: doubling from ``n0`` until ``passes(n)``, then up to ``steps``
    bisections on a log scale, stopping once the bracket is within hi / ``resolution``."""
    lo, hi = 0, max(1, n0)
    while not passes(hi):
        lo, hi = hi, hi * 2
        if hi > n_max:
            raise RuntimeError(f"no n <= {n_max} reaches failure rate {delta}")
    for _ in range(steps):
        if hi - lo <= max(1, hi // resolution):
            break
        mid = int(math.sqrt(max(lo, 1) * hi)) if lo else hi // 2
        mid = min(max(mid, lo + 1), hi - 1) if hi - lo > 1 else hi
        lo, hi = (mid, hi) if not passes(mid) else (lo, mid)
    return hi


def p_exceeds(k: int, T: int, delta: float) -> float:
    """The p-value of the one-sided exact binomial test of H0: failure probability <= delta."""
    return float(binom.sf(k - 1, T, delta))


def holm(pvalues: list[float], alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down rejections: family-wise error <= alpha over all the tests of one check."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    reject = [False] * len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] > alpha / (len(pvalues) - rank):
            break
        reject[i] = True
    return reject


def agrees_with(k: int, T: int, prob: float, alpha: float = ALPHA) -> bool:
    """Exact two-sided binomial test: k failures out of T are consistent with probability ``prob``."""
    return float(binomtest(k, T, min(max(prob, 0.0), 1.0)).pvalue) >= alpha
