"""Exact failure probabilities of the empirical distribution on uniform targets by dynamic programming
(experiments.exact.uniform_failure) against the enumeration of every count vector, and the exact n* of
C2 in TV it gives (l = 2: 32, l = 4: 95, as an independent referee recomputed)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tm_transformer.experiments.exact import multinomial_failure, uniform_failure
from tm_transformer.experiments.nstar import search


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(2, 5), st.integers(1, 30), st.sampled_from([0.05, 0.1, 0.2, 0.25, 0.3]), st.sampled_from(["tv", "linf"]))
def test_dp_equals_enumeration(Q, n, eps, reading):
    want = multinomial_failure(n, np.full(Q, 1 / Q), eps, reading)
    assert uniform_failure(n, Q, eps, reading) == pytest.approx(want, rel=1e-10, abs=1e-13)


@pytest.mark.slow
def test_c2_in_tv_is_exact_at_l_2_and_4():
    for l, want in ((2, 32), (4, 95)):
        r = search("sequences", dict(V=2, l=l, eps=0.2, delta=0.1, reading="tv"), worst_case=True, targets=("uniform",))
        assert r.exact and r.n_star == want
    # the DP's own numbers at l = 4: failure 0.1061 at n = 94, below 0.1 from 95 on
    assert uniform_failure(94, 16, 0.2) == pytest.approx(0.10612, abs=5e-5) and uniform_failure(95, 16, 0.2) < 0.1
