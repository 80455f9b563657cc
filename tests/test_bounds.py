import json
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, strategies as st

from tm_transformer.bounds import catalogue, compare, get
from tm_transformer.bounds.variables import DOMAINS, display_name
from tm_transformer.cli import main
from tm_transformer.errors import ToolkitError
from tm_transformer.transformer.envelope import steps_exact

SAMPLE_BOUNDS = [b for b in catalogue() if b != "tm_precision"]
# how each variable moves the requirement: +1 increases it, -1 decreases it
DIRECTION = {"eps": -1, "delta": -1, "V": +1, "m": +1, "d": +1, "l": +1, "q": -1, "C": +1}


def point(draw, bound):
    """Random values inside the domain and the assumptions of ``bound``."""
    vals = {}
    for v in bound.variables:
        name = display_name(v)
        if name in ("eps", "delta"):
            vals[name] = draw(st.floats(1e-4, 0.2))
        elif name == "q":
            vals[name] = draw(st.floats(1e-3, 1.0))
        elif name == "C":
            vals[name] = draw(st.floats(0.1, 10))
        elif name == "l":
            vals[name] = draw(st.integers(1, 6))
        else:
            vals[name] = draw(st.integers(DOMAINS[v].lo, 60))
    if "q" in vals and "m" in vals:
        vals["q"] = min(vals["q"], 1 / vals["m"])
    if bound.name == "ehkv_lower":
        vals["eps"], vals["delta"] = min(vals["eps"], 0.125), min(vals["delta"], 0.01)
    if bound.name == "tv_sequences":  # 2^(V^l) in exact arithmetic: keep V^l modest
        vals["V"], vals["l"] = min(vals["V"], 8), min(vals["l"], 3)
    if bound.name == "coin_lower":
        vals["delta"] = min(vals["delta"], 0.2)
    return vals


@given(st.data())
@pytest.mark.parametrize("name", SAMPLE_BOUNDS)
def test_monotone_in_every_variable(name, data):
    b = get(name)
    vals = point(data.draw, b)
    base = b.evaluate(**vals)
    assume(math.isfinite(base))
    for var, value in vals.items():
        # sizes grow by one (or 1%), eps / delta / q shrink by 1%: either way the requirement must not drop
        if DIRECTION[var] > 0:
            moved = dict(vals, **{var: value + (1 if isinstance(value, int) else value * 0.01)})
        else:
            moved = dict(vals, **{var: value * 0.99})
        try:
            after = b.evaluate(**moved)
        except ToolkitError:
            continue  # moved outside an assumption
        assert after - base >= -1e-9 * abs(base), (var, vals, base, after)


@given(st.data())
def test_lower_bounds_below_their_upper_bounds(data):
    eps = data.draw(st.floats(1e-3, 0.125))
    delta = data.draw(st.floats(1e-6, 0.01))
    d = data.draw(st.integers(1, 200))
    V = data.draw(st.integers(2, 500))
    lower = get("ehkv_lower").evaluate(eps=eps, delta=delta, d=d)
    assert lower <= get("behw").evaluate(eps=eps, delta=delta, d=d)
    assert lower <= get("vc_consistent").evaluate(eps=eps, delta=delta, d=d)
    coin = get("coin_lower").evaluate(eps=eps, delta=delta)
    assert coin <= get("weissman").evaluate(eps=eps, delta=delta, V=V)
    assert coin <= get("hoeffding").evaluate(eps=eps, delta=delta)


@given(st.data())
@pytest.mark.parametrize("name", SAMPLE_BOUNDS)
def test_numeric_equals_symbolic_substitution(name, data):
    b = get(name)
    vals = point(data.draw, b)
    numeric = b.evaluate(**vals)
    assume(math.isfinite(numeric) and numeric < 1e300)
    exact = float(sp.N(b.evaluate(exact=True, **vals), 30))
    assert numeric == pytest.approx(exact, rel=1e-9)


@given(st.data())
@pytest.mark.parametrize("name", ["weissman", "union_contexts", "seq_union", "behw", "vc_consistent", "C1", "C3", "hoeffding"])
def test_inversion_round_trips(name, data):
    b = get(name)
    vals = point(data.draw, b)
    n = b.evaluate(**vals)
    assume(math.isfinite(n) and n < 1e12)
    for var, value in vals.items():
        others = {k: v for k, v in vals.items() if k != var}
        if name == "behw" and var == "delta" and b.evaluate(**vals) == b.evaluate(**dict(vals, delta=value * 0.5)):
            continue  # the delta term is not the active one of the max: n does not determine delta
        if name == "behw" and var == "d" and b.evaluate(**vals) == b.evaluate(**dict(vals, d=value + 1)):
            continue
        solved = b.solve_for(var, n, **others)
        assert solved == pytest.approx(value, rel=1e-6), (var, vals)


def test_spot_values():
    assert get("weissman").evaluate(V=10, eps=0.1, delta=0.05) == pytest.approx(496.2625, abs=1e-3)
    assert get("hoeffding").evaluate(eps=0.1, delta=0.05) == pytest.approx(math.log(40) / 0.02)
    assert get("behw").evaluate(d=5, eps=0.1, delta=0.05) == pytest.approx(400 * math.log2(130))
    assert get("union_contexts").evaluate(m=4, V=3, eps=0.1, delta=0.05) == pytest.approx(4 * (math.log(6) + math.log(80)) / 0.02)
    assert get("ehkv_lower").evaluate(d=101, eps=0.1, delta=0.01) == pytest.approx(max(9 * math.log(100), 100 / 3.2))


def test_vc_consistent_is_the_larger_root():
    """W_{-1}: the root satisfies n = a ln n + b, and the tail is below delta there but not just before."""
    d, eps, delta = 7, 0.05, 0.01
    n = get("vc_consistent").evaluate(d=d, eps=eps, delta=delta)
    tail = lambda x: 2 * (2 * math.e * x / d) ** d * 2 ** (-eps * x / 2)  # noqa: E731
    assert tail(n) == pytest.approx(delta, rel=1e-6)
    assert tail(n * 1.01) < delta < tail(n * 0.99)


def test_large_vocabulary_is_stable():
    big = get("weissman").evaluate(V=10 ** 7, eps=0.1, delta=0.05)
    assert math.isfinite(big) and big == pytest.approx((10 ** 7 * math.log(2) + math.log(20)) / 0.02, rel=1e-12)
    arr = get("union_contexts").evaluate(V=np.array([2, 1e5, 1e8]), m=10, eps=0.1, delta=0.05)
    assert np.all(np.isfinite(arr)) and np.all(np.diff(arr) > 0)


def test_jax_matches_numpy():
    V = np.array([2.0, 10.0, 1000.0])
    a = get("weissman").evaluate(V=V, eps=0.05, delta=0.01)
    b = np.asarray(get("weissman").evaluate(backend="jax", V=V, eps=0.05, delta=0.01))
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_documented_limit_C1_over_union():
    cmp = compare(get("C1"), get("union_contexts"), "V", C=1)
    m, delta = sp.Symbol("m", positive=True), sp.Symbol("delta", positive=True)
    assert sp.simplify(cmp.limit - 2 * sp.log(m / delta) / sp.log(2)) == 0


def test_C3_over_optimal_rate_vanishes_as_delta_shrinks():
    cmp = compare(get("C3"), get("halfspace_optimal"), "delta", C=1, d=10, eps=0.1)
    assert cmp.limit == 0


def test_dominance_region_and_crossing():
    # coin_lower / hoeffding: the coin lower bound is below Hoeffding everywhere in eps
    cmp = compare(get("hoeffding"), get("coin_lower"), "eps", delta=0.01, grid=(1e-3, 0.45))
    assert cmp.a_dominates == ((1e-3, 0.45),)
    cmp = compare(get("C3"), get("behw"), "eps", C=50, d=5, delta=0.05, grid=(1e-4, 0.9))
    assert len(cmp.crossings) == 1
    x = cmp.crossings[0]
    assert get("C3").evaluate(C=50, d=5, eps=x) == pytest.approx(get("behw").evaluate(d=5, eps=x, delta=0.05), rel=1e-8)


@given(st.integers(8, 60), st.integers(1, 10 ** 6))
def test_precision_envelope_bound_matches_the_transformer(p, R):
    b = get("tm_precision")
    assert int(b.evaluate(exact=True, p=p, R=R)) == steps_exact(p, R)
    assert b.evaluate(p=p, R=R) == pytest.approx(steps_exact(p, R), rel=1e-15)


def test_latex_and_derivation():
    b = get("union_contexts")
    assert r"\geq" in b.latex() and "aligned" in b.derivation.latex()
    assert "union" in b.derivation.text().lower()


@pytest.mark.parametrize("argv,needle", [
    (["bounds", "eval", "weissman", "V=10", "eps=0.1"], "needs delta (domain (0, 1))"),
    (["bounds", "eval", "weissman", "V=10", "eps=1.5", "delta=0.1"], "eps=1.5 is outside its domain (0, 1)"),
    (["bounds", "eval", "nope"], "unknown bound"),
    (["bounds", "eval", "ehkv_lower", "d=3", "eps=0.5", "delta=0.001"], "holds only where eps <= 1/8"),
    (["bounds", "eval", "weissman", "V=ten"], "is not a number"),
])
def test_cli_errors_are_one_line(capsys, argv, needle):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and needle in err


def test_cli_eval_and_solve(capsys):
    assert main(["bounds", "eval", "weissman", "V=10", "eps=0.1", "delta=0.05", "--json"]) == 0
    assert json.loads(capsys.readouterr()[0])["value"] == pytest.approx(496.2625, abs=1e-3)
    assert main(["bounds", "eval", "weissman", "V=10", "n=496.2624522", "delta=0.05", "--solve-for", "eps", "--json"]) == 0
    assert json.loads(capsys.readouterr()[0])["value"] == pytest.approx(0.1, rel=1e-6)
    assert main(["bounds", "list", "--json"]) == 0
    names = {r["name"] for r in json.loads(capsys.readouterr()[0])}
    assert {"C1", "C2", "C3", "C4", "weissman", "hoeffding", "union_contexts", "behw", "ehkv_lower", "coin_lower"} <= names
    assert main(["bounds", "compare", "C1", "union_contexts", "--along", "V", "m=10", "delta=0.05", "eps=0.1", "C=1", "--json"]) == 0
    assert json.loads(capsys.readouterr()[0])["limit_value"] == pytest.approx(2 * math.log(200) / math.log(2))
    assert main(["bounds", "show", "weissman", "--latex"]) == 0
