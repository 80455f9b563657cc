"""Sample complexity as the claims read it (every n' >= n), exact where it can be enumerated, and the
Monte-Carlo held to the exact values.

Every statistical test here is an exact binomial test at the suite's fixed level ALPHA on trials drawn
from fixed seeds: the outcome is a deterministic function of the code, so it cannot flake; each comes with
a power check (the same test on a deliberate factor-2 error must reject).
"""
import math
from fractions import Fraction
from math import comb

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from tm_transformer.bounds import get
from tm_transformer.experiments import exact
from tm_transformer.experiments.claims import for_claim
from tm_transformer.experiments.montecarlo import count_failures
from tm_transformer.experiments.nstar import (certify, context_probs, exact_coin, exact_contexts, exact_midpoint, from_curve, nstar,
                               sequence_probs)
from tm_transformer.experiments.stats import agrees_with, holm
from tm_transformer.experiments.verdicts import trend


def _coin_failure_rational(n, p, e):
    lo, hi = math.ceil(n * (p - e)), math.floor(n * (p + e))
    return sum(Fraction(comb(n, k)) * p ** k * (1 - p) ** (n - k) for k in range(n + 1) if k < lo or k > hi)


def _nstar_rational(p, e, d, H=400):
    fs = [_coin_failure_rational(n, p, e) for n in range(1, H)]
    return max(i + 1 for i, f in enumerate(fs) if f > d) + 1, next(i + 1 for i, f in enumerate(fs) if f <= d)


# ---- item 1: the definition and its exact values ---------------------------------------------------------
def test_coin_regression_values_from_issue_10():
    """p = 1/2, delta = 0.1: eps = 0.2 first crosses at 13, is 0.180 at 14, n* = 18; eps = 0.1: n* = 74."""
    r = exact_coin(0.5, 0.2, 0.1)
    assert (r.n_star, r.first_crossing, r.exact) == (18, 13, True)
    assert exact.coin_failure([14], 0.5, 0.2)[0] == pytest.approx(0.1795654296875, rel=1e-12)
    assert exact_coin(0.5, 0.1, 0.1).n_star == 74
    # the same numbers from rational arithmetic (independent of scipy)
    assert _nstar_rational(Fraction(1, 2), Fraction(1, 5), Fraction(1, 10)) == (18, 13)
    assert _nstar_rational(Fraction(1, 2), Fraction(1, 10), Fraction(1, 10))[0] == 74


@settings(max_examples=25)
@given(st.integers(1, 300), st.integers(1, 99).map(lambda k: k / 100), st.sampled_from([0.05, 0.1, 0.2, 0.25]))
def test_coin_failure_equals_rational_enumeration(n, p, eps):
    got = exact.coin_failure([n], p, eps)[0]
    want = float(_coin_failure_rational(n, Fraction(str(p)), Fraction(str(eps))))
    assert got == pytest.approx(want, rel=1e-9, abs=1e-15)


@settings(max_examples=15)
@given(st.integers(1, 40), st.sampled_from([2, 3]), st.sampled_from(["uniform", "skewed", "near-uniform", "dirichlet"]),
       st.sampled_from([0.1, 0.2]), st.integers(0, 1000))
def test_multinomial_failure_equals_brute_force(n, V, target, eps, seed):
    probs = context_probs(target, 1, V, seed)[0]
    got = exact.multinomial_failure(n, probs, eps)
    from itertools import product
    want = 0.0
    for c in product(range(n + 1), repeat=V):
        if sum(c) != n:
            continue
        pmf = math.factorial(n) / math.prod(math.factorial(x) for x in c) * math.prod(p ** x for p, x in zip(probs, c))
        tv = 0.5 * sum(abs(x / n - p) for x, p in zip(c, probs))
        if target == "uniform":  # integer tie rule: sum |V c - n| > floor(2 eps V n)
            fail = sum(abs(V * x - n) for x in c) > math.floor(2 * Fraction(str(eps)) * V * n)
        else:
            fail = tv > eps + 1e-12
        want += pmf * fail
    assert got == pytest.approx(want, rel=1e-9, abs=1e-13)


def test_nstar_is_every_later_n_not_the_first_crossing():
    ns = np.arange(1, 11)
    fail = np.array([0.9, 0.5, 0.05, 0.2, 0.08, 0.12, 0.04, 0.03, 0.02, 0.01])
    n, first, f = from_curve(ns, fail, 0.1)
    assert (n, first, f) == (7, 3, 0.04)
    with pytest.raises(ValueError, match="horizon"):
        from_curve(ns, np.r_[fail[:-1], 0.5], 0.1)


@settings(max_examples=10)
@given(st.sampled_from([0.05, 0.1, 0.2, 0.3]), st.sampled_from([0.1, 1e-3, 1e-6]))
def test_midpoint_nstar_is_the_smallest_n_with_1_minus_2eps_to_the_n_below_delta(eps, delta):
    n = exact_midpoint(eps, delta).n_star
    assert Fraction(1 - 2 * Fraction(str(eps))) ** n <= Fraction(str(delta)) < Fraction(1 - 2 * Fraction(str(eps))) ** (n - 1)


def test_exact_contexts_combine_independent_contexts():
    probs = context_probs("uniform", 3, 2, 0)
    r = exact_contexts(probs, 0.2, 0.1, "uniform")
    n_c = r.n_star // 3
    f1 = exact.coin_failure([n_c], 0.5, 0.2)[0]
    assert r.failure_at_n_star == pytest.approx(1 - (1 - f1) ** 3, rel=1e-12)


# ---- Monte-Carlo held to the exact values (power: a factor-2 error is rejected) ------------------------
@pytest.mark.parametrize("n,p,eps", [(14, 0.5, 0.2), (60, 0.5, 0.1), (100, 0.3, 0.05)])
def test_coin_engine_matches_exact_failure_and_a_factor_2_in_n_is_caught(n, p, eps):
    T = 200_000
    k = count_failures("coin", n, T, 11, f"exact/coin/{n}", p=p, eps=eps)["failures"]
    assert agrees_with(k, T, exact.coin_failure([n], p, eps)[0])
    assert not agrees_with(k, T, exact.coin_failure([2 * n], p, eps)[0])
    assert not agrees_with(k, T, exact.coin_failure([n], p, 2 * eps)[0])


@pytest.mark.parametrize("n,eps", [(5, 0.1), (20, 0.05), (52, 0.1)])
def test_midpoint_engine_matches_1_minus_2eps_to_the_n_and_a_factor_2_is_caught(n, eps):
    T = 400_000
    k = count_failures("halfspace", n, T, 5, f"exact/midpoint/{n}", d=2, eps=eps, learner="midpoint")["failures"]
    assert agrees_with(k, T, (1 - 2 * eps) ** n)
    assert not agrees_with(k, T, (1 - 2 * eps) ** (2 * n))  # n doubled
    assert not agrees_with(k, T, (1 - 4 * eps) ** n)        # the error off by a factor 2


def test_direct_midpoint_matches_too():
    T, n, eps = 20_000, 10, 0.1
    k = count_failures("halfspace", n, T, 2, "exact/midpoint-direct", d=2, eps=eps, learner="midpoint",
                       sampler="direct")["failures"]
    assert agrees_with(k, T, (1 - 2 * eps) ** n) and not agrees_with(k, T, (1 - 2 * eps) ** (2 * n))


def test_contexts_engine_matches_exact_v3():
    T, n_c, eps = 100_000, 30, 0.2
    probs = context_probs("skewed", 2, 3, 0)
    k = count_failures("contexts", n_c, T, 3, "exact/contexts", probs=probs, eps=eps)["failures"]
    assert agrees_with(k, T, exact.contexts_failure(n_c, probs, eps))
    assert not agrees_with(k, T, exact.contexts_failure(2 * n_c, probs, eps))


def test_simulated_nstar_certificate_brackets_the_exact_value_and_catches_a_halved_search():
    """The certified interval (fresh trials) contains the exact n*; a search that reported half of it
    would fall outside the interval."""
    for eps, want in ((0.2, 18), (0.1, 74)):
        T = 40_000

        def failures(n, trials, stream, pad_to=0):
            r = count_failures("coin", n, trials, 7, f"cert/{eps}/{stream}", p=0.5, eps=eps, pad_to=pad_to)
            return r["failures"], r["trials"]

        n, lo, hi, first, f, H, desc = certify(failures, 0.1, 4, T)
        assert lo <= want <= hi, (lo, want, hi)
        assert not lo <= want // 2 <= hi
        assert n >= want - 2  # not the first crossing (13 and 60)


# ---- worst cases ---------------------------------------------------------------------------------------
def test_coin_worst_case_is_searched_over_p():
    worst = nstar("coin", dict(eps=0.1, delta=0.01), worst_case=True)
    half = nstar("coin", dict(eps=0.1, delta=0.01))
    assert worst.n_star >= half.n_star and worst.target.startswith("p=")
    # the worst p is the argmax of the exact n* over the grid
    assert worst.n_star == max(exact_coin(p / 100, 0.1, 0.01).n_star for p in range(1, 51))


def test_target_families_are_distributions():
    for t in ("uniform", "near-uniform", "skewed", "sparse", "dirichlet"):
        p = context_probs(t, 3, 8, 1)
        assert p.shape == (3, 8) and np.allclose(p.sum(1), 1) and (p >= 0).all()
    for t in ("uniform", "markov", "biased", "spike"):
        p = sequence_probs(t, 2, 4)
        assert p.shape == (16,) and np.isclose(p.sum(), 1) and (p >= 0).all()


# ---- bounds against exact n* (power: the bound halved is caught) -----------------------------------------
@pytest.mark.parametrize("eps,delta", [(0.2, 0.1), (0.1, 0.01), (0.1, 0.001), (0.05, 0.001)])
def test_hoeffding_is_above_the_exact_worst_case_nstar_and_half_of_it_is_not(eps, delta):
    n_star = nstar("coin", dict(eps=eps, delta=delta), worst_case=True).n_star
    bound = get("hoeffding").evaluate(eps=eps, delta=delta)
    assert bound >= n_star and bound / 2 < n_star


def test_union_bound_is_above_exact_contexts_nstar_and_half_of_it_is_not():
    ratios = []
    for V, m, eps, delta in [(2, 1, 0.2, 0.1), (3, 1, 0.2, 0.01), (2, 4, 0.1, 0.01), (3, 2, 0.2, 0.05), (2, 1, 0.1, 0.001)]:
        r = nstar("contexts", dict(V=V, m=m, eps=eps, delta=delta), worst_case=True)
        assert r.exact
        ratios.append(get("union_contexts").evaluate(V=V, m=m, eps=eps, delta=delta) / r.n_star)
    assert min(ratios) >= 1 and min(ratios) < 2, ratios  # valid, and halving it would be caught


def test_tv_lower_bound_holds_for_the_empirical_estimator_at_its_hardest_family():
    """n = floor(K/8)/4 examples of a uniform distribution on s = floor(K/8) of K outcomes: the empirical
    estimate misses at least s - n of the s outcomes, so TV >= 1 - n/s = 3/4 > 1/4 for *every* sample (the
    step of the lower bound's derivation that needs no prior): the engine must count every trial as a
    failure. At 16x those examples the estimator does better than the bound's 3/4 (the bound is far from
    tight for it: K/32 against the order K/eps^2 it needs)."""
    K, eps, T = 256, 0.25, 4000
    s = K // 8
    probs = np.zeros(K)
    probs[:s] = 1 / s
    n = s // 4
    k = count_failures("sequences", n, T, 1, "lower/tv", probs=probs, eps=eps, reading="tv")["failures"]
    assert k == T
    k16 = count_failures("sequences", 16 * n, T, 1, "lower/tv8", probs=probs, eps=eps, reading="tv")["failures"]
    assert k16 / T < 0.75 and not agrees_with(k16, T, 0.75)
    assert get("tv_outcomes_lower").evaluate(V=2, l=8) == pytest.approx(K / 32 - 0.25)


# ---- symbolic arguments ------------------------------------------------------------------------------
def test_refutations_diverge_and_supports_hold():
    c3 = for_claim("C3")[0]
    assert c3["bound"] == "ehkv_lower" and c3["diverges"] and c3["limit"] == "oo" and c3["direction"] == "delta"
    c2 = [a for a in for_claim("C2", "tv") if a["diverges"]]
    assert len(c2) == 2 and all(a["bound"] == "tv_outcomes_lower" and a["direction"] == "l" for a in c2)
    for claim, reading, const in (("C1", "", 0.75), ("C2", "linf", 2.17), ("C4", "", 1.0)):
        args = for_claim(claim, reading)
        assert not any(a["role"] == "refutes" and a["diverges"] for a in args)
        a = [a for a in args if a["role"] == "supports"][0]
        assert a["holds_with_constant"] and a["sup_ratio"] <= const
    # power: C4 with C = 1/4 would not sit above Hoeffding (sup ratio 1 at delta = 1/2)
    assert for_claim("C4")[-1]["sup_ratio"] > 0.5


def test_c3_refutation_numbers():
    """EHKV / C3-form = (1 - eps) ln(1/delta) / (C d) for small delta: at C = 10, d = 2, eps = 0.1 it
    passes 1 below delta = exp(-20/0.9)."""
    ratio = get("ehkv_lower").evaluate(eps=0.1, delta=1e-10, d=2) / get("C3").evaluate(C=10, d=2, eps=0.1)
    assert ratio == pytest.approx(0.9 * math.log(1e10) / 20)
    assert float(sp.limit(sp.log(1 / sp.Symbol("x", positive=True)), sp.Symbol("x", positive=True), 0)) == math.inf


# ---- statistics ----------------------------------------------------------------------------------------
def test_holm_is_step_down():
    assert holm([0.001, 0.004, 0.04], 0.01) == [True, True, False]
    assert holm([0.006, 0.004], 0.01) == [True, True]
    assert holm([0.006, 0.0051], 0.01) == [False, False]  # 0.0051 > 0.01/2: nothing rejected


def test_trend_grows_for_ln_delta_and_not_for_a_saturating_constant():
    rows = lambda cs: [{"params": {"delta": d}, "C_needed": c, "interval": [c, c], "target": "", "learner": ""}
                       for d, c in zip((0.1, 0.01, 0.001), cs)]
    grows = trend(rows([1.0, 2.0, 3.0]), "delta")[0]
    flat = trend(rows([0.32, 0.36, 0.39]), "delta")[0]
    assert grows["grows"] and grows["exponent"] == pytest.approx(1.0)
    assert not flat["grows"]


# ---- the command ---------------------------------------------------------------------------------------
def test_nstar_command_json_keys_and_values(capsys):
    import json

    from tm_transformer.cli import main

    assert main(["nstar", "coin", "eps=0.2", "delta=0.1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {"n_star", "n_star_lo", "n_star_hi", "exact", "definition", "target", "learner", "trials"} <= set(d)
    assert (d["n_star"], d["n_star_lo"], d["n_star_hi"], d["exact"], d["target"]) == (18, 18, 18, True, "p=0.5")
    assert main(["nstar", "halfspaces", "eps=0.1", "delta=1e-5", "d=2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_star"] == 52


@pytest.mark.parametrize("argv,needle", [
    (["nstar", "coin", "eps=2", "delta=0.1"], "eps=2: expected a number in (0, 1)"),
    (["nstar", "coin", "eps=0.1"], "missing delta"),
    (["nstar", "nope", "eps=0.1", "delta=0.1"], "unknown setting 'nope'"),
    (["nstar", "coin", "eps=0.1", "delta=0.1", "V=3"], "unknown variable(s) V"),
    (["nstar", "coin", "eps=x", "delta=0.1"], "expected a number"),
    (["nstar", "contexts", "V=2.5", "eps=0.1", "delta=0.1"], "V=2.5: expected an integer >= 2"),
    (["nstar", "halfspaces", "eps=0.1", "delta=0.1", "--learner", "foo"], "--learner 'foo'"),
    (["nstar", "coin", "eps=0.1", "delta=0.1", "--learner", "midpoint"], "--learner applies to the 'halfspaces'"),
    (["nstar", "contexts", "V=3", "eps=0.1", "delta=0.1", "--target", "bogus"], "target 'bogus'"),
    (["nstar", "coin", "eps=0.1", "delta=0.1", "--target", "2"], "expected p in (0, 1)"),
    (["nstar", "coin", "eps=0.1", "delta=0.1", "--target", "0.3", "--worst-case"], "exclude each other"),
])
def test_nstar_command_bad_input_is_one_line_exit_2(capsys, argv, needle):
    from tm_transformer.cli import main

    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and needle in err


def test_verdict_weighs_the_argument_against_the_trend():
    from tm_transformer.experiments.protocol import Verdict
    from tm_transformer.experiments.verdicts import compose

    rows = lambda cs: [{"params": {"delta": d}, "C_needed": c, "interval": [c, c], "target": "t", "learner": "l",
                        "n_star": 1, "n_star_lo": 1, "n_star_hi": 1, "exact": True, "claim_f": 1}
                       for d, c in zip((0.1, 0.01, 0.001), cs)]
    refute = {"kind": "symbolic", "role": "refutes", "diverges": True, "direction": "delta", "statement": "x"}
    support = {"kind": "symbolic", "role": "supports", "holds_with_constant": True, "statement": "y"}
    # experiments/decision.py: a proven refutation decides "fails" unless the measured C_needed shrinks
    # along the diverging direction; a support decides "holds" unless C_needed grows.
    cases = [(refute, [1, 2, 3], "fails"), (refute, [1, 1, 1], "fails"), (refute, [3, 2, 1], "inconclusive"),
             (support, [1, 1, 1], "holds"), (support, [1, 2, 3], "inconclusive")]
    for arg, cs, want in cases:
        v = Verdict("X", "r", "holds", 1.0, 1.0)
        compose(v, rows(cs), ["delta"], [arg], ["l"], ["t"])
        assert v.verdict == want, (arg["role"], cs)
        assert v.as_dict()["learners"] == ["l"] and v.as_dict()["trend"][0]["direction"] == "delta"


@pytest.mark.parametrize("claim,reading,upper,grid", [
    ("C1", "", "union_contexts", dict(V=[2, 3, 5, 20, 1000], m=[1, 2, 10, 1000], delta=[0.5, 0.1, 1e-6], eps=[0.1])),
    ("C2", "linf", "seq_union", dict(V=[2, 3, 50], l=[1, 2, 10], delta=[0.5, 0.1, 1e-6], eps=[0.1])),
    ("C4", "", "hoeffding", dict(delta=[0.5, 0.3, 0.1, 1e-6], eps=[0.1])),
])
def test_supporting_upper_bound_sits_under_the_claim_and_not_under_half_the_constant(claim, reading, upper, grid):
    from itertools import product as prod

    const = [a for a in for_claim(claim, reading) if a["role"] == "supports"][0]["constant"]
    ratios = []
    for values in prod(*grid.values()):
        kw = dict(zip(grid, values))
        ratios.append(get(upper).evaluate(**kw) / get(claim).evaluate(C=const, **kw))
    assert max(ratios) <= 1 + 1e-12 and max(ratios) > 0.5  # the constant works; half of it would not


@settings(max_examples=20)
@given(st.integers(1, 200), st.floats(0.01, 0.99), st.sampled_from([0.05, 0.1, 0.2]))
def test_coin_failure_for_p_that_is_no_short_decimal_matches_enumeration(n, p, eps):
    """A Dirichlet draw's p takes the float path of the accept range; it must agree with summing the
    pmf over the counts whose error exceeds eps."""
    from scipy.stats import binom

    k = np.arange(n + 1)
    want = binom.pmf(k, n, p)[np.abs(k / n - p) > eps + 1e-9].sum()
    assert exact.coin_failure([n], p, eps)[0] == pytest.approx(want, rel=1e-8, abs=1e-12)


def test_float_decisions_count_ties_as_successes_like_the_integer_ones():
    """A rational non-uniform target ((1/2, 1/2, 0, 0) takes the float32 path) ties at eps as often as a
    fair coin: its failure rate must match the exact one with ties as successes, and the same test must
    reject the ties-as-failures value (power)."""
    from tm_transformer.experiments.exact import contexts_failure
    from tm_transformer.experiments.montecarlo import count_failures
    from tm_transformer.experiments.nstar import context_probs
    from tm_transformer.experiments.stats import agrees_with

    r = count_failures("contexts", 20, 20_000, 3, "ties", probs=context_probs("sparse", 1, 4), eps=0.1)
    exact = contexts_failure(20, context_probs("sparse", 1, 3), 0.1)
    ties_fail = contexts_failure(20, context_probs("sparse", 1, 3), 0.1 - 1e-9)
    assert ties_fail > exact + 0.1
    assert agrees_with(r["failures"], r["trials"], exact)
    assert not agrees_with(r["failures"], r["trials"], ties_fail)
