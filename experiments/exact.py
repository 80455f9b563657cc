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
