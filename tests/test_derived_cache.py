"""The disk cache of symbolic results (bounds/cache.py): a hit is exactly the computation's answer, and any
change to the inputs, the sources or the switch makes it compute again."""
import json
from pathlib import Path

import pytest
import sympy as sp

from tm_transformer.bounds import cache


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TMT_DERIVED_CACHE", str(tmp_path / "derived"))
    return tmp_path / "derived"


def test_a_hit_returns_the_answer_and_skips_the_computation(folder, tmp_path):
    src = tmp_path / "source.py"
    src.write_text("x = 1\n")
    calls = []

    def compute():
        calls.append(1)
        return {"value": [1.5, "a", None, True], "n": 3}

    first = cache.cached("k", {"a": 1}, [src], compute)
    again = cache.cached("k", {"a": 1}, [src], compute)
    assert first == again == compute() and len(calls) == 2  # the second call was a hit
    assert len(list(folder.glob("k-*.json"))) == 1


def test_another_key_kind_or_source_is_a_miss(folder, tmp_path):
    src = tmp_path / "source.py"
    src.write_text("x = 1\n")
    seen = []

    def compute(tag):
        return lambda: seen.append(tag) or tag

    assert cache.cached("k", {"a": 1}, [src], compute("a")) == "a"
    assert cache.cached("k", {"a": 2}, [src], compute("b")) == "b"
    assert cache.cached("other", {"a": 1}, [src], compute("c")) == "c"
    cache._sources_digest.cache_clear()
    src.write_text("x = 2\n")  # the code that computes it changed
    assert cache.cached("k", {"a": 1}, [src], compute("d")) == "d"
    assert seen == ["a", "b", "c", "d"]


def test_switched_off_unwritable_or_unreadable_only_costs_the_computation(tmp_path, monkeypatch):
    src = tmp_path / "s.py"
    src.write_text("")
    monkeypatch.setenv("TMT_DERIVED_CACHE", "0")
    assert cache.folder() is None
    n = []
    for _ in range(2):
        cache.cached("k", 1, [src], lambda: n.append(1) or 7)
    assert len(n) == 2
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TMT_DERIVED_CACHE", str(blocker / "sub"))
    assert cache.cached("k", 1, [src], lambda: 8) == 8
    monkeypatch.setenv("TMT_DERIVED_CACHE", str(tmp_path / "c"))
    cache.cached("k", 1, [src], lambda: 9)
    (path,) = (tmp_path / "c").glob("k-*.json")
    path.write_text("{torn")
    assert cache.cached("k", 1, [src], lambda: 10) == 10
    assert json.loads(path.read_text())["value"] == 10  # rewritten whole


def test_what_json_cannot_keep_exactly_is_not_cached(folder, tmp_path):
    src = tmp_path / "s.py"
    src.write_text("")
    n = []
    for _ in range(2):
        assert cache.cached("k", 1, [src], lambda: n.append(1) or (1, 2)) == (1, 2)  # a tuple would come back a list
    assert len(n) == 2 and not list(folder.glob("*.json"))


def test_the_catalogue_through_the_cache_is_the_catalogue_derived_afresh(folder, monkeypatch):
    from tm_transformer.bounds import known

    cold = known.build()  # computes and writes
    warm = known.build()  # reads
    monkeypatch.setenv("TMT_DERIVED_CACHE", "0")
    fresh = known.build()
    assert list(folder.glob("tail-root-*.json"))
    for name in fresh:
        assert sp.srepr(cold[name].expr) == sp.srepr(warm[name].expr) == sp.srepr(fresh[name].expr), name
        assert warm[name].derivation.text() == fresh[name].derivation.text()


def test_claim_arguments_are_keyed_by_the_bounds_themselves(folder):
    """Two claims alike but for their form's expression: each gets its own arguments, never the other's."""
    from tm_transformer.bounds import Bound
    from tm_transformer.bounds.variables import C, delta, eps
    from tm_transformer.experiments.claims import Claim, Lower, Upper

    def claim(expr):
        return Claim("mine", Bound("mine", "a claim", expr, "order", "|p_hat - p|", "test"), setting="coin",
                     reading="error > eps", directions=("delta", "eps"), lower=(Lower("coin_lower"),),
                     upper=(Upper("hoeffding", 1.0, {"delta": (0, 0.5)}),))

    fast, right = claim(C / eps * sp.log(1 / delta)), claim(C / eps ** 2 * sp.log(1 / delta))
    a, b = fast.arguments(), right.arguments()
    assert a == fast._arguments() and b == right._arguments() and a != b
    assert fast.arguments() == a  # a hit, the same answer
    assert len(list(folder.glob("claim-arguments-*.json"))) == 2


def test_claim_arguments_are_keyed_by_every_field_of_their_bounds(folder):
    """Two user bounds alike but for their provenance and quantity: the cached statement is each one's own."""
    from tm_transformer.bounds import Bound
    from tm_transformer.bounds.variables import C, delta, eps
    from tm_transformer.experiments.claims import Claim, Upper

    def claim(provenance):
        up = Bound("mine_up", "an upper bound", sp.log(2 / delta) / (2 * eps ** 2), "upper", "|p_hat - p|", provenance)
        return Claim("mine", Bound("mine", "a claim", C / eps ** 2 * sp.log(1 / delta), "order", "|p_hat - p|", "t"),
                     setting="coin", reading="error > eps", directions=("delta", "eps"),
                     upper=(Upper(up, 1.0, {"delta": (0, 0.5)}),))

    a, b = claim("Paper A").arguments(), claim("Paper B").arguments()
    assert "Paper A" in json.dumps(a) and "Paper B" in json.dumps(b) and "Paper A" not in json.dumps(b)


def test_an_answer_json_cannot_hold_is_returned_uncached(folder, tmp_path):
    import numpy as np

    src = tmp_path / "s.py"
    src.write_text("")
    assert cache.cached("k", 1, [src], lambda: {"n": np.int64(3)}) == {"n": 3}
    assert cache.cached("k", 2, [src], lambda: float("nan")) != 0  # NaN: not kept either
    assert not list(folder.glob("*.json"))


def test_a_cache_file_is_data_never_code(folder, tmp_path):
    """The solved roots are read back by an allow-list of sympy classes, not eval: a planted file neither
    runs nor changes a bound."""
    from tm_transformer.bounds import known

    fresh = known.build()
    marker = tmp_path / "ran"
    for path in folder.glob("tail-root-*.json"):
        path.write_text(json.dumps({"kind": "tail-root",
                                    "value": f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"}))
    again = known.build()
    assert not marker.exists()
    assert all(sp.srepr(again[k].expr) == sp.srepr(fresh[k].expr) for k in fresh)
    with pytest.raises(ValueError):
        cache.from_srepr("sympify('1')")
    with pytest.raises(ValueError):
        cache.from_srepr("Integer(1).__class__")
    for b in fresh.values():
        assert sp.srepr(cache.from_srepr(sp.srepr(b.expr))) == sp.srepr(b.expr), b.name


def test_the_tail_roots_are_keyed_by_the_variables_too():
    """A root depends on the variables' assumptions (bounds/variables.py), not only on derivation.py."""
    from tm_transformer.bounds import derivation

    seen = []
    real = cache.cached
    try:
        cache.cached = lambda kind, key, sources, compute: seen.extend(Path(s).name for s in sources) or compute()
        from tm_transformer.bounds.variables import delta, eps, n

        derivation.solve_tail(2 * sp.exp(-2 * n * eps ** 2), "e", "i")
    finally:
        cache.cached = real
    assert {"variables.py", "derivation.py", "known.py"} <= set(seen) and delta is not None


def test_a_cached_root_is_the_closed_form_solved_by_hand(folder):
    """Hoeffding: 2 exp(-2 n eps^2) <= delta  <=>  n >= ln(2/delta) / (2 eps^2), read back from a warm cache."""
    import math

    from tm_transformer.bounds import known

    known.build()  # cold: derives and keeps the roots
    warm = known.build()["hoeffding"]
    assert list(folder.glob("tail-root-*.json"))
    for eps, delta in [(0.1, 0.05), (0.01, 1e-6), (0.3, 0.5)]:
        assert math.isclose(float(warm.evaluate(eps=eps, delta=delta)), math.log(2 / delta) / (2 * eps ** 2),
                            rel_tol=1e-12)
