"""The exact reductions and the counter-based streams.

Each reduction is checked twice: its identity on given data (exact, on random prompts) and its law
against the whole-prompt simulation (the exact two-sample test at the suite's ALPHA, with a power
check: the same test must tell apart a reduction run at the wrong sample size).
"""
import math
from itertools import product

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import stats

from tm_transformer.experiments import fair_splits, reduced
from tm_transformer.experiments.montecarlo import count_failures, version_space_midpoint_2d
from tm_transformer.experiments.stats import ALPHA
from tm_transformer.experiments.streams import normal, stream_key, trial_words, unit

from .law import assert_same_failure_law

TRIALS = 20_000


def test_a_trials_words_do_not_depend_on_its_batch_or_word_count():
    key = stream_key(3, "tag")
    a = np.asarray(trial_words(key, jnp.arange(0, 10, dtype=jnp.uint32), 5))
    b = np.asarray(trial_words(key, jnp.arange(5, 8, dtype=jnp.uint32), 3))
    assert np.array_equal(a[5:8, :3], b)
    assert not np.array_equal(a, np.asarray(trial_words(stream_key(3, "other"), jnp.arange(10, dtype=jnp.uint32), 5)))
    assert len(np.unique(a)) == a.size


def test_conversions_stay_inside_the_open_interval():
    w = jnp.asarray([0, 1, 255, 256, 2 ** 31, 2 ** 32 - 1], jnp.uint32)
    u = np.asarray(unit(w))
    assert (u > 0).all() and (u < 1).all() and u[0] == 2.0 ** -24 and u[-1] == 1 - 2.0 ** -24
    assert np.isfinite(np.asarray(normal(w))).all()


@pytest.mark.slow
@given(st.integers(1, 300), st.floats(0.01, 0.99))
def test_binomial_inversion_thresholds_are_the_cdf_to_2_to_the_minus_32(n, p):
    size = 1 << max(3, math.ceil(math.log2(n)))
    T = reduced.binomial_thresholds(n, p, size)
    F = stats.binom.cdf(np.arange(n), n, p)
    assert np.all(np.abs(T[:n] / 2.0 ** 32 - F) <= 2.0 ** -32)
    # k jumps from j to j + 1 exactly at the word T_j
    j = np.arange(n)
    inside = T[:n] > 0
    below = np.asarray(reduced.coin_counts(jnp.asarray(T[:n][inside] - 1), jnp.asarray(T), n))
    at = np.asarray(reduced.coin_counts(jnp.asarray(T[:n]), jnp.asarray(T), n))
    assert np.all(below <= j[inside]) and np.all((at >= j + 1) | (T[:n] == 2 ** 32 - 1))
    assert int(reduced.coin_counts(jnp.asarray([2 ** 32 - 1], jnp.uint32), jnp.asarray(T), n)[0]) <= n


@pytest.mark.slow
@given(st.integers(1, 40), st.integers(0, 2 ** 31 - 1))
def test_midpoint_reduction_is_the_learner_on_the_same_angles(n, seed):
    """Points at angles alpha_i = pi (U_i - 1/2) (any radius, any side): the version-space midpoint's
    error equals |U_max + U_min - 1| / 2."""
    rng = np.random.default_rng(seed)
    U = rng.uniform(0.001, 0.999, n)
    alpha = np.pi * (U - 0.5)
    side = rng.choice([-1.0, 1.0], n)
    X = side[:, None] * rng.uniform(0.1, 3, n)[:, None] * np.stack([np.cos(alpha), np.sin(alpha)], 1)
    y = np.where(X[:, 0] >= 0, 1.0, -1.0)  # target e_1
    w, _ = version_space_midpoint_2d(jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32), jnp.ones(n, bool))
    err = math.atan2(abs(float(w[1])), float(w[0])) / math.pi
    assert err == pytest.approx(abs(U.max() + U.min() - 1) / 2, abs=2e-6)


@given(st.integers(1, 40), st.integers(1, 8), st.integers(0, 2 ** 31 - 1))
def test_gradient_step_reduction_is_the_step_on_the_same_data(n, d, seed):
    """w = sum_i y_i x_i with target e_1 has first coordinate sum_i s_i |g_i|; the rest is unchanged
    in law and enters only through its norm."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    s = rng.choice([-1.0, 1.0], n)
    y = s * np.where(X[:, 0] >= 0, 1.0, -1.0)
    w = (y[:, None] * X).sum(0)
    assert w[0] == pytest.approx((s * np.abs(X[:, 0])).sum(), rel=1e-12, abs=1e-12)
    assert np.allclose(w[1:], ((s * np.sign(X[:, 0]))[:, None] * X[:, 1:]).sum(0))


CASES = [  # (setting, n, kw): failure rates near 1/3, where the two-sample test has most power
    ("coin", 100, dict(p=0.5, eps=0.05)),
    ("coin", 37, dict(p=0.2, eps=0.06)),
    ("halfspace", 20, dict(d=2, eps=0.02)),
    ("halfspace", 3, dict(d=2, eps=0.1)),
    ("halfspace", 30, dict(d=5, eps=0.12, learner="gd")),
    ("halfspace", 30, dict(d=3, eps=0.12, learner="gd", noise=0.2)),
    ("contexts", 20, dict(probs=np.full((4, 8), 1 / 8), eps=0.27)),
    ("contexts", 12, dict(probs=np.full((2, 4), 1 / 4), eps=0.2, random_allocation=True)),
    ("sequences", 60, dict(probs=np.full(16, 1 / 16), eps=0.2, reading="tv")),
    ("sequences", 60, dict(probs=np.full(16, 1 / 16), eps=0.05, reading="linf")),
]


@pytest.mark.parametrize("setting,n,kw", CASES)
def test_reduced_sampler_has_the_direct_samplers_failure_rate(setting, n, kw):
    assert_same_failure_law(setting, n, kw, "reduced", "test/law", TRIALS)


def test_fair_splits_give_the_multinomial_law():
    """All count vectors of n = 6 examples over 4 outcomes, against the exact multinomial pmf (chi-square
    at ALPHA); power: reusing one level's bits for the next (a plausible bug) is rejected."""
    n, L, T = 6, 2, 40_000
    words = trial_words(stream_key(0, "test/fair"), jnp.arange(T, dtype=jnp.uint32), fair_splits.words_needed(n, L))
    roots = jnp.asarray([n], jnp.int32)
    split = jax.jit(jax.vmap(lambda w: fair_splits.split_counts(w, roots, L)[0]))
    outcomes = [c for c in product(range(n + 1), repeat=4) if sum(c) == n]
    pmf = np.array([math.factorial(n) / math.prod(math.factorial(x) for x in c) / 4 ** n for c in outcomes])

    def p_value(counts):
        index = {c: i for i, c in enumerate(outcomes)}
        seen = np.bincount([index[tuple(c)] for c in np.asarray(counts).tolist()], minlength=len(outcomes))
        return stats.chisquare(seen, pmf * T).pvalue

    assert p_value(split(words)) >= ALPHA
    assert p_value(split(jnp.concatenate([words[:, :1], words[:, :1]], 1))) < ALPHA


def test_sampler_and_noise_errors_name_the_field():
    with pytest.raises(ValueError, match="sampler: no exact reduction"):
        count_failures("contexts", 5, 10, 0, "x", sampler="reduced", probs=np.full((1, 3), 1 / 3), eps=0.1)
    with pytest.raises(ValueError, match="sampler: expected"):
        count_failures("coin", 5, 10, 0, "x", sampler="fast", p=0.5, eps=0.1)
    with pytest.raises(ValueError, match="noise: a consistent learner"):
        count_failures("halfspace", 5, 10, 0, "x", d=2, eps=0.1, noise=0.1)
    with pytest.raises(ValueError, match="noise: expected"):
        count_failures("halfspace", 5, 10, 0, "x", d=2, eps=0.1, learner="gd", noise=0.5)


def test_reduced_counts_do_not_depend_on_the_batch_size(monkeypatch):
    import tm_transformer.experiments.montecarlo as mc

    a = count_failures("halfspace", 9, 5000, 0, "x", d=2, eps=0.05)
    monkeypatch.setattr(mc, "REDUCED_BATCH", 1024)
    b = count_failures("halfspace", 9, 5000, 0, "x", d=2, eps=0.05)
    assert a["failures"] == b["failures"] and a["mean_error"] == pytest.approx(b["mean_error"], rel=1e-5)


def test_compiled_code_is_released_before_the_mapping_limit(monkeypatch):
    from tm_transformer.experiments import jit_cache

    held = jit_cache.mappings()
    if held is None or jit_cache.map_limit() is None:
        pytest.skip("no /proc mapping counts on this system")
    monkeypatch.setattr(jit_cache, "map_limit", lambda: 10 * held)
    assert not jit_cache.release_if_crowded(every=0)
    count_failures("coin", 17, 100, 0, "x", p=0.5, eps=0.1)  # something compiled and cached
    monkeypatch.setattr(jit_cache, "map_limit", lambda: held)
    assert jit_cache.release_if_crowded(every=0)
    assert jit_cache.mappings() < 2 * held
