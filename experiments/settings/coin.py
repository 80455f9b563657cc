"""The coin: one probability p from n examples; error = |p_hat - p|.

Direct: a binomial draw per trial. Reduced: the count by inversion of one uniform word against the
binomial's thresholds (:mod:`experiments.reduced`). Failure is decided in integers (the accepted counts
[k_lo, k_hi], :func:`experiments.exact.coin_accept_range`). n* is exact for any p (the failure curve at
every n' up to Hoeffding's bound, n' <= COIN_MAX_N); the worst case runs over p in COIN_WORST_P.
"""
from __future__ import annotations

import math
from functools import partial
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np

from tm_transformer.bounds.known import get

from .. import exact, reduced
from ..devices import split
from ..nstar_result import DEFINITION, NStar, from_curve
from ..sampling import buffer, keys_of, trials_of
from ..streams import trial_words
from .base import Setting

COIN_MAX_N = 10_000  # exact coin enumeration up to here
COIN_WORST_P = tuple(round(x, 2) for x in np.arange(0.01, 0.51, 0.01))


def coin_error(key, n, p, k_range):
    """k_range (2,): the accepted counts [k_lo, k_hi]."""
    k = jax.random.binomial(key, n.astype(jnp.float32), p)
    return jnp.abs(k / n - p), (k < k_range[0]) | (k > k_range[1])


@partial(jax.jit, static_argnames=("size",))
def _coin_batch(base, start, n, p, k_range, size):
    err, fail = jax.vmap(lambda k: coin_error(k, n, p, k_range))(keys_of(base, trials_of(start, size)))
    return split(err), split(fail)


@partial(jax.jit, static_argnames=("size",))
def _coin_reduced_batch(key, start, thresholds, n, p, k_range, size):
    k = reduced.coin_counts(trial_words(key, trials_of(start, size), 1)[:, 0], thresholds, n)
    fail = (k < k_range[0]) | (k > k_range[1])
    return split(jnp.abs(k / n.astype(jnp.float32) - p)), split(fail)


def exact_coin(p: float, eps: float, delta: float, ties_fail: bool = False) -> NStar:
    """Exact n* of the empirical frequency at p; ``ties_fail``: failure is error >= eps (default > eps).
    Hoeffding's bound holds for P(error >= eps), so it is a horizon for both conventions."""
    hoeffding = max(2, math.ceil(get("hoeffding").evaluate(eps=eps, delta=delta)))
    H = min(COIN_MAX_N, hoeffding)
    ns = np.arange(1, H + 1)
    try:
        n, first, f = from_curve(ns, exact.coin_failure(ns, p, eps, ties_fail), delta)
    except ValueError:
        raise ValueError(f"n* is beyond the exact enumeration's limit of n = {COIN_MAX_N:,} (Hoeffding's bound is "
                         f"{hoeffding:,}): take a larger eps or delta") from None
    # exact only when every n' up to Hoeffding's bound was enumerated
    return NStar(n, n, n, H == hoeffding, DEFINITION, f"p={p:g}", "empirical frequency", 0, H, first, f,
                 f"every n' in [1, {H}] " + ("(Hoeffding's bound beyond)" if H == hoeffding else
                                            f"(Hoeffding's bound {hoeffding} is past the enumeration's {COIN_MAX_N})"))


class Coin(Setting):
    name = engine_name = "coin"
    learners = ("empirical",)
    worst_targets = COIN_WORST_P

    def has_reduction(self, kw):
        return True

    def constant_cost(self, kw):
        return True

    def direct_batch(self, n, pad_to, kw):
        k_range = jnp.asarray(exact.coin_accept_range(n, kw["p"], kw["eps"]), jnp.int32)
        return lambda base, start, size: _coin_batch(base, start, jnp.float32(n), jnp.float32(kw["p"]), k_range, size=size)

    def reduced_batch(self, n, pad_to, kw):
        table = jnp.asarray(reduced.binomial_thresholds(n, kw["p"], buffer(max(n, pad_to))))
        k_range = jnp.asarray(exact.coin_accept_range(n, kw["p"], kw["eps"]), jnp.int32)
        return 1, lambda key, start, size: _coin_reduced_batch(key, start, table, jnp.int32(n), jnp.float32(kw["p"]),
                                                               k_range, size=size)

    def search(self, params, eps, delta, opts, engine):
        if opts.worst_case:
            return max((exact_coin(p, eps, delta) for p in (opts.targets or COIN_WORST_P)), key=lambda r: r.n_star)
        target = cast("float | str | None", opts.target)  # the coin's target is its p
        p = float(target if target is not None else params.get("p", 0.5))
        if not 0 < p < 1:
            raise ValueError(f"p must lie in (0, 1), got {p:g}")
        return exact_coin(p, eps, delta)

    def cli_target(self, target):
        if target is None:
            return None
        try:
            p = float(target[2:] if target.startswith("p=") else target)
        except ValueError:
            raise ValueError(f"--target {target!r}: the coin's target is p, e.g. --target 0.3") from None
        if not 0 < p < 1:
            raise ValueError(f"--target {target!r}: expected p in (0, 1)")
        return p


SETTING = Coin()
