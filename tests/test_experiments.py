"""Bounds against simulated error, and the estimator transformers against their direct computations.

Statistical tests are derandomized (explicit seeds) and use one exact one-sided binomial test at the
suite's level ALPHA: the failure rate at n taken from a proven bound must not be significantly above
delta (the engine and the bound agree). The reference bounds are loose (Hoeffding by about 2.5x), so the
"10x smaller is caught" halves only check that the engine counts failures where they are certain; the
claims themselves, at their tight constants and at half of them, are in tests/test_claims_simulated.py.
"""
import math

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tm_transformer.bounds import get
from tm_transformer.experiments.estimators import (empirical_conditional, gd_step_direct, gd_step_head, induction_head,
                                    induction_head_params)
from tm_transformer.experiments.montecarlo import count_failures, trial_keys
from tm_transformer.experiments.protocol import decide
from tm_transformer.experiments.stats import ALPHA, clopper_pearson, exceeds, search_n_star

TRIALS = 2000


@pytest.mark.slow
@given(st.integers(1, 6), st.integers(2, 8), st.integers(1, 60), st.integers(0, 2 ** 31 - 1))
def test_induction_head_is_the_empirical_conditional(m, V, n, seed):
    rng = np.random.default_rng(seed)
    contexts = rng.integers(0, m, n)
    tokens = rng.integers(0, V, n)
    q = int(rng.integers(0, m))
    got = np.asarray(induction_head(induction_head_params(m, V), jnp.asarray(contexts), jnp.asarray(tokens), q))
    np.testing.assert_allclose(got, empirical_conditional(contexts, tokens, q, V), rtol=1e-6, atol=1e-7)


@given(st.integers(1, 8), st.integers(1, 50), st.integers(0, 2 ** 31 - 1))
def test_gd_step_head_is_one_gradient_step(d, n, seed):
    rng = np.random.default_rng(seed)
    X, x = rng.normal(size=(n, d)), rng.normal(size=d)
    y = np.sign(rng.normal(size=n))
    assert float(gd_step_head(jnp.asarray(X), jnp.asarray(y), jnp.asarray(x))) == pytest.approx(gd_step_direct(X, y, x), rel=1e-4, abs=1e-4)


def failures_at(setting, n, seed, **kw):
    r = count_failures(setting, n, TRIALS, seed, f"test/{setting}", **kw)
    return r["failures"]


@settings(max_examples=8)
@given(st.sampled_from([0.2, 0.1, 0.05]), st.sampled_from([0.2, 0.1, 0.05]), st.integers(0, 10 ** 6))
def test_hoeffding_n_keeps_failures_below_delta_and_a_10x_smaller_n_is_caught(eps, delta, seed):
    n = math.ceil(get("hoeffding").evaluate(eps=eps, delta=delta))
    assert not exceeds(failures_at("coin", n, seed, p=0.5, eps=eps), TRIALS, delta)
    # power: a bound 10x too small must be rejected
    assert exceeds(failures_at("coin", max(1, n // 10), seed, p=0.5, eps=eps), TRIALS, delta)


@settings(max_examples=8)
@given(st.integers(2, 12), st.integers(1, 5), st.sampled_from([0.2, 0.1]), st.sampled_from([0.2, 0.05]),
       st.integers(0, 10 ** 6))
def test_union_bound_over_contexts_holds_and_10x_smaller_is_caught(V, m, eps, delta, seed):
    n_total = get("union_contexts").evaluate(m=m, V=V, eps=eps, delta=delta)
    n_c = math.ceil(n_total / m)
    probs = np.full((m, V), 1 / V)
    assert not exceeds(failures_at("contexts", n_c, seed, probs=probs, eps=eps), TRIALS, delta)
    assert exceeds(failures_at("contexts", max(1, n_c // 10), seed, probs=probs, eps=eps), TRIALS, delta)


@settings(max_examples=5)
@given(st.integers(1, 5), st.sampled_from([0.2, 0.1]), st.integers(0, 10 ** 6))
def test_tv_over_sequences_bound_holds_and_10x_smaller_is_caught(l, eps, seed):
    delta = 0.1
    W = 2 ** l
    n = math.ceil(get("tv_sequences").evaluate(V=2, l=l, eps=eps, delta=delta))
    kw = dict(probs=np.full(W, 1 / W), eps=eps, reading="tv")
    assert not exceeds(failures_at("sequences", n, seed, **kw), TRIALS, delta)
    assert exceeds(failures_at("sequences", max(1, n // 10), seed, **kw), TRIALS, delta)


@settings(max_examples=4)
@given(st.sampled_from([2, 3]), st.integers(0, 10 ** 6))
def test_behw_holds_for_the_consistent_learner_and_10x_smaller_is_caught(d, seed):
    eps, delta = 0.2, 0.1
    n = math.ceil(get("behw").evaluate(d=d, eps=eps, delta=delta))
    r = count_failures("halfspace", n, TRIALS, seed, "test/behw", d=d, eps=eps)
    assert not exceeds(r["failures"] + r["unconverged"], TRIALS, delta)  # conservative: cap counts as failure
    r = count_failures("halfspace", max(1, n // 100), TRIALS, seed, "test/behw", d=d, eps=eps)
    assert exceeds(r["failures"], TRIALS, delta)  # BEHW is loose: 100x smaller still fails


def test_seeds_do_not_depend_on_batching():
    a = trial_keys(3, "tag", 0, 10)
    b = trial_keys(3, "tag", 5, 5)
    assert np.array_equal(jnp.asarray(jax_key_data(a[5:])), jnp.asarray(jax_key_data(b)))


def jax_key_data(keys):
    import jax

    return jax.random.key_data(keys)


def test_clopper_pearson_and_test_level():
    lo, hi = clopper_pearson(0, 100)
    assert lo == 0 and hi == pytest.approx(1 - (ALPHA / 2) ** (1 / 100))
    assert not exceeds(1, 1000, 0.01) and exceeds(30, 1000, 0.01)


def test_search_n_star_on_a_known_curve():
    # failure probability exp(-n/10): n* at delta = 0.05 is 10 ln 20 = 29.96
    def failures(n):
        p = math.exp(-n / 10)
        return round(p * 10 ** 6), 10 ** 6
    ns = search_n_star(failures, 0.05, n0=1)
    assert ns.n == 30 and ns.n_lo <= 30 <= ns.n_hi <= 31


def test_protocol_detects_a_missing_factor_and_passes_a_true_claim():
    rows = [{"C_req": 1.0, "calibration": True}, {"C_req": 1.2, "calibration": False}]
    ok = decide("X", "r", rows, [{"params": {}, "n": 10, "failures": 3, "trials": 1000, "delta": 0.01}])
    bad = decide("X", "r", rows, [{"params": {}, "n": 10, "failures": 60, "trials": 1000, "delta": 0.01}])
    assert ok.verdict == "holds" and ok.constant == 1.2
    assert bad.verdict == "fails" and bad.failing[0]["rate"] == 0.06
