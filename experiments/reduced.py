"""Exact reductions: draw a trial's sufficient statistic instead of its whole prompt.

Each function here returns the error of one trial with *the same distribution* as the direct simulation
in :mod:`experiments.montecarlo` (tests compare the two), from far fewer random words:

* coin -- the estimate is k/n with k ~ Binomial(n, p). k is drawn by inversion from one 32-bit word u:
  k = #{j < n : u >= T_j}, T_j = round(2^32 F(j)) with F the Binomial CDF in float64. Then
  P(k <= j) = T_j / 2^32 differs from F(j) by at most 2^-32, so the probability of any interval of k
  (the failure event |k/n - p| > eps is two tails) is exact to 2^-31.
* halfspace, version-space midpoint, d = 2 -- inputs are isotropic, so rotate the target to angle 0.
  The angles alpha_i of y_i x_i are then i.i.d. uniform on (-pi/2, pi/2); writing alpha = pi (U - 1/2),
  the version space is (max alpha - pi/2, min alpha + pi/2), its midpoint (max alpha + min alpha) / 2,
  and the error |U_max + U_min - 1| / 2 = |U_min - (1 - U_max)| / 2. The extremes of n uniforms come
  from two words: U_max = V_1^(1/n); given it, the other n - 1 are uniform on (0, U_max), so
  U_min = U_max (1 - V_2^(1/(n-1))). O(1) per trial, whatever n.
* halfspace, one gradient step w = sum_i y_i x_i (with labels flipped at rate ``noise``) -- with the
  target along e_1, x_i = (g_i, h_i): y_i x_i = s_i (|g_i|, sign(g_i) h_i) where s_i = -1 on a flip, and
  sign(g_i) h_i ~ N(0, I_{d-1}) independently of g_i and s_i. So w = (S, H) with S = sum_i s_i |g_i| and
  H ~ N(0, n I_{d-1}), and the error angle(w, e_1) / pi = atan2(|H|, S) / pi: n + d - 1 normal draws
  instead of n d + d.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy import stats

from .devices import ordered_sum
from .streams import normal, unit

_U32_MAX = 2 ** 32 - 1


def binomial_thresholds(n: int, p: float, size: int) -> np.ndarray:
    """(size,) uint32 inversion thresholds T_0..T_{n-1} of Binomial(n, p), padded with 2^32 - 1.

    Padding is harmless: k is capped at n, and k = n is exactly the event u >= T_{n-1}."""
    if size < n:
        raise ValueError(f"table size {size} < n = {n}")
    F = stats.binom.cdf(np.arange(n), n, p)
    T = np.minimum(np.floor(F * 2.0 ** 32 + 0.5), _U32_MAX).astype(np.uint32)
    return np.concatenate([T, np.full(size - n, _U32_MAX, np.uint32)])


def coin_counts(words: jnp.ndarray, thresholds: jnp.ndarray, n) -> jnp.ndarray:
    """words (B,) uint32 -> (B,) Binomial counts by inversion through ``thresholds``."""
    k = jnp.searchsorted(thresholds, words, side="right", method="scan_unrolled")
    return jnp.minimum(k, n)


def midpoint_error_2d(words: jnp.ndarray, n) -> jnp.ndarray:
    """words (2,) -> the version-space midpoint's error after n >= 1 examples in the plane."""
    v1, v2 = unit(words[0]), unit(words[1])
    top_gap = -jnp.expm1(jnp.log(v1) / n)  # 1 - U_max
    u_max = 1.0 - top_gap
    u_min = jnp.where(n > 1, u_max * -jnp.expm1(jnp.log(v2) / jnp.maximum(n - 1, 1)), u_max)
    return jnp.abs(u_min - top_gap) / 2


def gd_error(words: jnp.ndarray, n, d: int, n_buf: int, noise: float) -> jnp.ndarray:
    """words (n_buf + d - 1 [+ n_buf with noise],) -> the one-gradient-step learner's error."""
    g = jnp.abs(normal(words[:n_buf]))
    if noise > 0:
        g = jnp.where(unit(words[n_buf + d - 1:]) < noise, -g, g)
    S = ordered_sum(jnp.where(jnp.arange(n_buf) < n, g, 0.0))
    H2 = n * ordered_sum(normal(words[n_buf:n_buf + d - 1]) ** 2)
    return jnp.arctan2(jnp.sqrt(H2), S) / jnp.pi


def gd_words(d: int, n_buf: int, noise: float) -> int:
    return n_buf + d - 1 + (n_buf if noise > 0 else 0)
