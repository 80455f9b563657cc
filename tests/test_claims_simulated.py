"""The claims themselves against fresh simulation, with a power check that runs.

For each claim, on a small domain where n* is exact (so the tight constant is known): C* = the largest
constant the claim needs there, max n*/form (what its verdict reports). Hypothesis draws a point of the
domain and a seed; at the worst target of that point, the Monte-Carlo engine (independent of the exact
enumeration) counts failures

* at the claim's n = ceil(C* form): an exact one-sided binomial test at level ALPHA must not reject
  "failure <= delta" -- it would, if the reported constant were too small;
* at half that constant, n = ceil(C* form / 2): the same test must reject -- it would not, if the
  constant were twice too large. Before counting, the exact failure probability there gives the test's
  exact power at the trials used, which must be >= 0.999 (so a pass is not luck, and a miss is a real
  failure of the engine or of the constant).

Seeds are drawn by hypothesis from a derandomized database-free run: the suite's outcome is fixed.
"""
import math
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import Phase, given, settings, strategies as st
from scipy.stats import binom

from tm_transformer.bounds import get
from tm_transformer.experiments import exact
from tm_transformer.experiments.montecarlo import count_failures
from tm_transformer.experiments.nstar import context_probs, exact_midpoint, nstar
from tm_transformer.experiments.stats import ALPHA, exceeds


def _power(prob: float, T: int, delta: float) -> float:
    """P(the one-sided test rejects 'failure <= delta') when the true failure probability is ``prob``."""
    k = next(k for k in range(T + 1) if exceeds(k, T, delta))
    return float(binom.sf(k - 1, T, prob))


def _check(point, C_star, f, fail_at, count, T):
    """The claim at C* holds at ``point``; at C*/2 it is rejected (power computed, then the count run)."""
    delta = point["delta"]
    n_full, n_half = math.ceil(C_star * f), math.ceil(C_star * f / 2)
    assert fail_at(n_full) <= delta  # exact: the reported constant suffices here
    power = _power(fail_at(n_half), T, delta)
    assert power >= 0.999, f"the half-size check would be underpowered at {point}: power {power:.4f} at T = {T}"
    assert not exceeds(count(n_full), T, delta), f"claim at C* = {C_star:.3g} rejected at {point}, n = {n_full}"
    assert exceeds(count(n_half), T, delta), f"claim at C*/2 not rejected at {point}, n = {n_half}"


# ---- C4: the coin, worst p of 0.01..0.50 -----------------------------------------------------------------------
C4_POINTS = [(e, d) for e in (0.2, 0.1) for d in (0.1, 0.05, 0.01)]


@lru_cache(maxsize=None)
def _c4(eps, delta):
    ns = nstar("coin", dict(eps=eps, delta=delta), worst_case=True)
    return ns.n_star, float(ns.target.split("=")[1])


def _c4_star():
    return max(_c4(e, d)[0] / get("C4").evaluate(C=1, eps=e, delta=d) for e, d in C4_POINTS)


@settings(max_examples=6, deadline=None, derandomize=True, database=None, phases=(Phase.explicit, Phase.generate))
@given(st.sampled_from(C4_POINTS), st.integers(0, 2 ** 20))
def test_c4_at_its_constant_holds_and_at_half_is_rejected(point, seed):
    eps, delta = point
    _, p = _c4(eps, delta)
    T = 20_000
    _check({"eps": eps, "delta": delta}, _c4_star(), get("C4").evaluate(C=1, eps=eps, delta=delta),
           lambda n: float(exact.coin_failure([n], p, eps)[0]),
           lambda n: count_failures("coin", n, T, seed, "claims/C4", p=p, eps=eps)["failures"], T)


# ---- C1: contexts, V <= 3 (exact), the hardest target family ------------------------------------------------
C1_POINTS = [(V, m, e, d) for V in (2, 3) for m in (1, 2) for e in (0.2,) for d in (0.1, 0.05)]


@lru_cache(maxsize=None)
def _c1(V, m, eps, delta):
    ns = nstar("contexts", dict(V=V, m=m, eps=eps, delta=delta), worst_case=True)
    assert ns.exact
    return ns.n_star, ns.target


def _c1_star():
    return max(_c1(*pt)[0] / get("C1").evaluate(C=1, V=pt[0], m=pt[1], eps=pt[2], delta=pt[3]) for pt in C1_POINTS)


@pytest.mark.slow
@settings(max_examples=5, deadline=None, derandomize=True, database=None, phases=(Phase.explicit, Phase.generate))
@given(st.sampled_from(C1_POINTS), st.integers(0, 2 ** 20))
def test_c1_at_its_constant_holds_and_at_half_is_rejected(point, seed):
    V, m, eps, delta = point
    _, target = _c1(*point)
    probs = context_probs(target, m, V, 0)
    T = 20_000
    _check({"V": V, "m": m, "eps": eps, "delta": delta}, _c1_star(), get("C1").evaluate(C=1, V=V, m=m, eps=eps, delta=delta),
           lambda n: exact.contexts_failure(max(1, n // m), probs, eps),
           lambda n: count_failures("contexts", max(1, n // m), T, seed, "claims/C1", probs=probs, eps=eps)["failures"], T)


# ---- C3: at a fixed delta, the version-space midpoint in the plane ------------------------------------------------
C3_POINTS = [(e, d) for e in (0.2, 0.1) for d in (0.1, 0.05, 0.01)]


def _c3_star(delta):
    """At a fixed delta the claim's constant may depend on delta: the largest need over eps at that delta."""
    return max(exact_midpoint(e, d).n_star / get("C3").evaluate(C=1, d=2, eps=e) for e, d in C3_POINTS if d == delta)


@settings(max_examples=6, deadline=None, derandomize=True, database=None, phases=(Phase.explicit, Phase.generate))
@given(st.sampled_from(C3_POINTS), st.integers(0, 2 ** 20))
def test_c3_at_a_fixed_delta_at_its_constant_holds_and_at_half_is_rejected(point, seed):
    eps, delta = point
    T = 50_000
    _check({"d": 2, "eps": eps, "delta": delta}, _c3_star(delta), get("C3").evaluate(C=1, d=2, eps=eps),
           lambda n: float(exact.midpoint_failure([n], eps)[0]),
           lambda n: count_failures("halfspace", n, T, seed, "claims/C3", d=2, eps=eps, learner="midpoint")["failures"], T)


def test_the_constants_are_the_tight_ones():
    """C* is attained (some point needs it) and the half-size constant is below every point's need --
    which is what gives the power checks above their teeth."""
    for star, needs in ((_c4_star(), [_c4(e, d)[0] / get("C4").evaluate(C=1, eps=e, delta=d) for e, d in C4_POINTS]),
                        *[(_c3_star(dl), [exact_midpoint(e, d).n_star / get("C3").evaluate(C=1, d=2, eps=e)
                                          for e, d in C3_POINTS if d == dl]) for dl in (0.1, 0.05, 0.01)]):
        assert max(needs) == star and min(needs) > star / 2
    assert 0 < ALPHA < 0.05
    assert np.isclose(_power(0.5, 1000, 0.1), 1.0)
