"""Failure decisions in exact arithmetic.

Whether a trial fails, error > eps, is often decided *on a tie*: with p = 1/2, eps = 0.05 and n = 100,
the count k = 55 gives |k/n - p| = eps exactly, and float32 rounding of k/n - p calls it either way
(k * (1/n) and k / n differ in the last bit). Ties are not rare -- here P(k = 55) ~ 0.05 -- so the
decision is made in integers wherever the target is rational:

* eps and p are read as the decimals they print as (``Fraction(repr(x))``: 0.1 is 1/10);
* coin: fail iff k < k_lo or k > k_hi, with [k_lo, k_hi] = {k : |k - n p| <= n eps};
* uniform targets over Q outcomes (contexts, sequences), counts c_j out of n:
  TV > eps  iff  sum_j |Q c_j - n| > floor(2 eps Q n),  and  L-inf > eps  iff  max_j |Q c_j - n| > floor(eps Q n)
  (an integer S exceeds a real x iff it exceeds floor(x)).

Other targets (Dirichlet draws) are compared in float32, where ties have probability zero.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

INT32_MAX = 2 ** 31 - 1


def fraction(x: float) -> Fraction:
    """The decimal a float prints as, exactly: fraction(0.1) == Fraction(1, 10)."""
    return Fraction(repr(float(x)))


def coin_accept_range(n: int, p: float, eps: float) -> tuple[int, int]:
    """(k_lo, k_hi): the counts k with |k/n - p| <= eps (possibly empty: k_lo > k_hi)."""
    P, E = fraction(p), fraction(eps)
    return math.ceil(n * (P - E)), math.floor(n * (P + E))


def uniform_size(probs: np.ndarray) -> int | None:
    """Q when every row of ``probs`` is uniform over its Q entries, else None."""
    probs = np.asarray(probs, dtype=np.float64)
    Q = probs.shape[-1]
    return Q if np.allclose(probs, 1.0 / Q, rtol=1e-12, atol=0) else None


def floor_threshold(scale: Fraction, Q: int, n: np.ndarray | int, field: str = "n"):
    """floor(scale * Q * n) for integer n (array or scalar), checked to fit int32 arithmetic on counts
    up to n (the statistic it is compared with is at most 2 Q n)."""
    n_arr = np.asarray(n, dtype=np.int64)
    if 2 * Q * int(n_arr.max(initial=0)) > INT32_MAX:
        raise ValueError(f"{field}: {int(n_arr.max())} examples over {Q} outcomes is beyond exact int32 counting "
                         f"(2 Q n must stay below 2^31)")
    num, den = scale.numerator * Q, scale.denominator
    out = (num * n_arr) // den  # exact: numpy int64 floor division of non-negative integers
    return out.astype(np.int32) if out.ndim else int(out)


# ---- exact failure probabilities (enumeration, float64 sums of exact-integer events) -----------------
def _ceil_frac(n: np.ndarray, f: Fraction) -> np.ndarray:
    return -((-n * f.numerator) // f.denominator)


def _floor_frac(n: np.ndarray, f: Fraction) -> np.ndarray:
    return (n * f.numerator) // f.denominator


def coin_failure(ns, p: float, eps: float, ties_fail: bool = False) -> np.ndarray:
    """P(|k/n - p| > eps), k ~ Binomial(n, p), for every n in ``ns``: the failure event is the two tails
    outside the integer accept range of :func:`coin_accept_range` (the toolkit's tie rule: error equal
    to eps is not a failure), summed from the binomial pmf in float64. ``ties_fail``: the other
    convention, P(|k/n - p| >= eps) (error equal to eps fails; accept range n(p - eps) < k < n(p + eps))."""
    from scipy.stats import binom

    ns = np.asarray(ns, dtype=np.int64)
    P, E = fraction(p), fraction(eps)
    if (P - E).denominator < 2 ** 20 and (P + E).denominator < 2 ** 20 and abs((P + E).numerator) < 2 ** 30:
        if ties_fail:
            lo, hi = _floor_frac(ns, P - E) + 1, _ceil_frac(ns, P + E) - 1
        else:
            lo, hi = _ceil_frac(ns, P - E), _floor_frac(ns, P + E)
    elif ties_fail:  # float64, near-ties (1e-9) fail
        lo = np.floor(ns * (float(p) - float(eps)) + 1e-9).astype(np.int64) + 1
        hi = np.ceil(ns * (float(p) + float(eps)) - 1e-9).astype(np.int64) - 1
    else:  # p is no short decimal (a Dirichlet draw): float64, near-ties (1e-9) accepted
        lo = np.ceil(ns * (float(p) - float(eps)) - 1e-9).astype(np.int64)
        hi = np.floor(ns * (float(p) + float(eps)) + 1e-9).astype(np.int64)
    out = binom.cdf(lo - 1, ns, float(p)) + binom.sf(hi, ns, float(p))
    return np.minimum(out, 1.0)


def _compositions(n: int, V: int) -> np.ndarray:
    """Every count vector (c_1..c_V) with sum n, shape (K, V)."""
    if V == 1:
        return np.array([[n]], dtype=np.int64)
    if V == 2:
        c = np.arange(n + 1, dtype=np.int64)
        return np.stack([c, n - c], 1)
    if V == 3:
        a, b = np.triu_indices(n + 1)  # 0 <= a <= b <= n: c = (a, b - a, n - b)
        return np.stack([a, b - a, n - b], 1).astype(np.int64)
    # V > 3: the first count c_1 = k, then every composition of n - k over V - 1 outcomes
    return np.concatenate([np.concatenate([np.full((len(rest), 1), k, dtype=np.int64), rest], 1)
                           for k in range(n + 1) for rest in [_compositions(n - k, V - 1)]])


def compositions_count(n: int, V: int) -> int:
    """How many count vectors n examples over V outcomes have: C(n + V - 1, V - 1)."""
    return math.comb(n + V - 1, V - 1)


# exact enumeration over V >= 4 outcomes while the whole failure curve up to the horizon H has at most
# this many count vectors (sum over n <= H of C(n + V - 1, V - 1) = C(H + V, V)): about a minute
ENUMERATION_BUDGET = 3_000_000


def _multinomial_coefficients(n: int, V: int):
    """Every count vector c of n over V outcomes, and log(n! / prod c_j!) for each."""
    from scipy.special import gammaln

    c = _compositions(n, V)
    return c, gammaln(n + 1) - gammaln(c + 1).sum(1)


def multinomial_failure(n: int, probs, eps: float, reading: str = "tv", shared=None) -> float:
    """P(error > eps) of the empirical distribution of n draws from ``probs`` (V outcomes, while the count
    vectors fit :data:`ENUMERATION_BUDGET`; beyond it, uniform targets by :func:`uniform_failure`), by
    enumerating every count vector. reading 'tv': TV > eps; 'linf': max_j |c_j/n - p_j| > eps. Uniform
    targets use the integer tie rule of the engine; others compare in float64 with ties (|diff| within
    1e-12 of the threshold) counted as successes."""

    probs = np.asarray(probs, dtype=np.float64)
    V = probs.shape[0]
    if V > 3 and compositions_count(n, V) > ENUMERATION_BUDGET and uniform_size(probs) is not None:
        return uniform_failure(n, V, eps, reading)  # the same probability by dynamic programming
    if V > 3 and compositions_count(n, V) > ENUMERATION_BUDGET:
        raise ValueError(f"exact enumeration of {compositions_count(n, V):,} count vectors (n = {n}, V = {V}) is over "
                         f"the budget of {ENUMERATION_BUDGET:,}")
    if n == 0:
        return 1.0
    c, log_coef = shared if shared is not None else _multinomial_coefficients(n, V)
    with np.errstate(divide="ignore"):
        logp = np.where(c > 0, c * np.log(np.where(probs > 0, probs, 1.0)), 0.0)
    logpmf = log_coef + logp.sum(1)
    possible = ~((c > 0) & (probs == 0)).any(1)
    pmf = np.where(possible, np.exp(logpmf), 0.0)
    Q = uniform_size(probs)
    if Q is not None:
        dev = np.abs(Q * c - n)
        stat = dev.sum(1) if reading == "tv" else dev.max(1)
        fail = stat > floor_threshold((2 if reading == "tv" else 1) * fraction(eps), Q, n)
    else:
        diff = np.abs(c - n * probs)
        stat = 0.5 * diff.sum(1) if reading == "tv" else diff.max(1)
        fail = stat > eps * n + 1e-12 * n
    return float(min(1.0, pmf[fail].sum()))


def uniform_failure(n: int, Q: int, eps: float, reading: str = "tv") -> float:
    """P(error > eps) of the empirical distribution of n draws from the uniform distribution over Q
    outcomes, by dynamic programming over the outcomes instead of enumerating count vectors (exact in the
    same sense: float64 sums of events decided in integers, the tie rule of :func:`multinomial_failure`).

    Poissonization: counts c_1..c_Q i.i.d. Poisson(n/Q) conditioned on their sum being n have the
    multinomial law. Outcome by outcome, the DP carries the joint probability of (sum so far s, statistic so
    far) -- for 'tv' the deviation D = sum_j |Q c_j - n| capped at floor(2 eps Q n) + 1 (past it the trial
    has failed), for 'linf' only the trials whose every |Q c_j - n| <= floor(eps Q n) -- and divides by
    P(sum = n) at the end. Cost about Q n^2 (threshold) operations."""
    from scipy.stats import poisson

    if n == 0:
        return 1.0
    lam = n / Q
    w = poisson.pmf(np.arange(n + 1), lam)
    dev = np.abs(Q * np.arange(n + 1) - n)
    T = floor_threshold((2 if reading == "tv" else 1) * fraction(eps), Q, n)
    if reading == "tv":
        P = np.zeros((n + 1, T + 2))
        P[0, 0] = 1.0
        for _ in range(Q):
            new = np.zeros_like(P)
            for c in range(n + 1):
                if w[c] == 0.0:
                    continue
                src = P[: n + 1 - c]
                k = int(dev[c])
                if k <= T:
                    new[c:, k:T + 1] += w[c] * src[:, : T + 1 - k]
                    new[c:, T + 1] += w[c] * src[:, T + 1 - k:].sum(1)
                else:
                    new[c:, T + 1] += w[c] * src.sum(1)
            P = new
        joint_fail = P[n, T + 1]
    else:
        ok = dev <= T
        p = np.zeros(n + 1)
        p[0] = 1.0
        for _ in range(Q):
            new = np.zeros_like(p)
            for c in np.nonzero(ok & (w > 0))[0]:
                new[c:] += w[c] * p[: n + 1 - c]
            p = new
        joint_fail = poisson.pmf(n, n) - p[n]
    return float(min(1.0, max(0.0, joint_fail / poisson.pmf(n, n))))


DP_BUDGET = 400_000  # uniform targets: the DP's state (n + 1) x (threshold + 2) at the horizon stays below this


def contexts_failure(n_c: int, probs, eps: float) -> float:
    """m contexts with n_c examples each (evenly allocated), V <= 3: P(some context has TV > eps)."""
    rows = np.asarray(probs, dtype=np.float64).reshape(-1, np.shape(probs)[-1])
    shared = _multinomial_coefficients(n_c, rows.shape[1]) if n_c > 0 and rows.shape[1] <= 3 else None
    ok, seen = 1.0, {}
    for row in rows:
        key = row.tobytes()  # equal rows (every family but Dirichlet draws) are enumerated once
        if key not in seen:
            seen[key] = multinomial_failure(n_c, row, eps, "tv", shared)
        ok *= 1.0 - seen[key]
    return 1.0 - ok


def midpoint_failure(ns, eps: float) -> np.ndarray:
    """The plane's version-space midpoint (isotropic inputs, homogeneous target): error
    |U_min - (1 - U_max)| / 2 over n uniforms, so P(error > eps) = (1 - 2 eps)^n exactly (translate the
    first spacing by 2 eps: the n + 1 uniform spacings' simplex shrinks by (1 - 2 eps)^n)."""
    ns = np.asarray(ns, dtype=np.float64)
    return np.where(eps < 0.5, (1.0 - 2.0 * min(eps, 0.5)) ** ns, 0.0)
