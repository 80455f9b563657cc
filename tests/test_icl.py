"""Issue 12: learners written as machines, run in context by the transformer, checked three ways; tmt icl."""
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tm_transformer import PrecisionError, ToolkitError, simulate
from tm_transformer.cli import main
from tm_transformer.icl import LEARNERS, Dataset, random_dataset, run_icl
from tm_transformer.icl.learners import decode_with

KEYS = ["learner", "examples", "query", "answer", "prediction", "steps", "prompt_length", "engine",
        "equals_reference", "equals_direct"]


@st.composite
def prompts(draw, learner):
    lim = LEARNERS[learner]
    m = draw(st.integers(1, lim.max_m))
    V = draw(st.integers(2, lim.max_V))
    n = draw(st.integers(0, 24))
    pairs = draw(st.lists(st.tuples(st.integers(0, m - 1), st.integers(0, V - 1)), min_size=n, max_size=n))
    return m, V, Dataset(np.asarray(pairs, np.int64).reshape(-1, 2), draw(st.integers(0, m - 1)))


@pytest.mark.parametrize("learner", list(LEARNERS))
@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.data())
def test_the_machine_computes_the_estimator(learner, data):
    """Reference simulator: the decoded answer is the direct (numpy) estimator's, within the step bound."""
    m, V, d = data.draw(prompts(learner))
    lrn = LEARNERS[learner]
    spec = lrn.spec(m, V)
    r = simulate(spec.machine, lrn.steps_bound(d.n, m, V) + 1, spec.encode(lrn.encode(d.examples, d.query, m, V)))
    assert r.reason == "halted" and r.steps <= lrn.steps_bound(d.n, m, V)
    assert decode_with(lrn, spec, r, m, V) == tuple(lrn.direct(d.examples, d.query, m, V))


def test_direct_estimators_by_hand():
    ex = np.array([[0, 1], [1, 0], [0, 1], [0, 2], [0, 2]])
    assert LEARNERS["conditional"].direct(ex, 0, 2, 3) == ([0, 2, 2], 1)  # a tie goes to the smaller token
    assert LEARNERS["conditional"].direct(ex, 1, 2, 3) == ([1, 0, 0], 0)
    assert LEARNERS["conditional"].direct(ex[:0], 1, 2, 3) == ([0, 0, 0], 0)
    ex = np.array([[5, 1], [2, 0], [3, 1]])
    assert LEARNERS["threshold"].direct(ex, 3, 8) == (1, 3) and LEARNERS["threshold"].direct(ex, 2, 8) == (0, 3)
    assert LEARNERS["threshold"].direct(ex[1:2], 7, 8) == (0, 8)


@pytest.mark.parametrize("learner, m, V", [("conditional", 2, 3), ("threshold", 5, 2)])
@settings(max_examples=2, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2 ** 31), sizes=st.lists(st.integers(0, 10), min_size=2, max_size=5))
def test_three_way_agreement_in_a_batch(learner, m, V, seed, sizes):
    """One machine, several prompts of random sizes, one certified transformer run: each run equals the
    reference simulator step by step, and its answer the direct estimator's."""
    rng = np.random.default_rng(seed)
    sets = [random_dataset(learner, n, m, V, rng) for n in sizes]
    out = run_icl(learner, sets, m, V, engine="transformer")
    ref = run_icl(learner, sets, m, V, engine="reference")
    for a, b, d in zip(out, ref, sets):
        assert a.equals_reference and a.equals_direct and b.equals_direct
        assert (a.answer, a.extra, a.steps, a.prompt_length) == (b.answer, b.extra, b.steps, b.prompt_length)
        assert a.prompt_length == 2 * d.n + (3 if learner == "conditional" else 4)


def test_a_wrong_answer_would_be_seen():
    """equals_direct compares with the estimator: a machine whose answer is off is reported, not hidden."""
    lrn = LEARNERS["conditional"]
    d = Dataset(np.array([[0, 1], [0, 1], [0, 0]]), 0)
    good = run_icl(lrn, [d], 1, 2, engine="reference")[0]
    assert good.answer == [1, 2] and good.prediction == 1 and good.equals_direct
    from dataclasses import replace

    off = replace(lrn, direct=lambda ex, q, m, V: ([2, 1], 0))
    assert not run_icl(off, [d], 1, 2, engine="reference")[0].equals_direct


def test_a_malformed_prompt_stops_the_machine():
    lrn = LEARNERS["conditional"]
    spec = lrn.spec(2, 2)
    r = simulate(spec.machine, 1000, spec.encode(list("A?a0" + "0a")))  # a token where a context belongs
    assert r.reason == "undefined"
    with pytest.raises(ToolkitError, match="did not halt"):
        decode_with(lrn, spec, r, 2, 2)


def test_bad_datasets_are_one_line():
    with pytest.raises(ToolkitError, match=r"example 1 \(5, 0\): context 5 is outside 0..1 \(--m 2\)"):
        run_icl("conditional", [Dataset(np.array([[0, 1], [5, 0]]), 0)], 2, 2)
    with pytest.raises(ToolkitError, match=r"label 2 is outside 0..1"):
        run_icl("threshold", [Dataset(np.array([[0, 2]]), 0)], 4, 2)
    with pytest.raises(ToolkitError, match="query 3: outside 0..1"):
        run_icl("conditional", [Dataset(np.array([[0, 1]]), 3)], 2, 2)
    with pytest.raises(ToolkitError, match=r"examples 0 \(2, 1\) and 1 \(5, 0\): no threshold 1\[x >= t\] labels both"):
        run_icl("threshold", [Dataset(np.array([[2, 1], [5, 0], [1, 0]]), 0)], 8, 2, engine="reference")
    assert run_icl("threshold", [Dataset(np.array([[5, 1], [2, 0], [5, 1]]), 4)], 8, 2, engine="reference")[0].answer == 0
    with pytest.raises(PrecisionError, match="beyond the .* steps float16 certifies"):
        run_icl("conditional", [random_dataset("conditional", 40, 2, 2, np.random.default_rng(0))], 2, 2,
                dtype="float16")


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("learner", ["conditional", "threshold"])
def test_tmt_icl_json(capsys, learner):
    code, out, _ = _cli(capsys, "icl", learner, "--random", "20", "--seed", "1", "--json")
    d = json.loads(out)
    assert code == 0 and list(d) == KEYS
    assert d["learner"] == learner and len(d["examples"]) == 20 and d["engine"] == "transformer"
    assert d["equals_reference"] is True and d["equals_direct"] is True and d["prompt_length"] > 40
    code, out, _ = _cli(capsys, "icl", learner, "--random", "20", "--seed", "1", "--json", "--engine", "reference")
    r = json.loads(out)
    same = [k for k in KEYS if k not in ("engine", "equals_reference")]
    assert code == 0 and list(r) == KEYS and {k: r[k] for k in same} == {k: d[k] for k in same}
    assert r["equals_reference"] is None    # the run is the reference: nothing compared (null, not true)


def test_tmt_icl_exit_status_when_an_answer_disagrees(monkeypatch, capsys):
    """--json exits 1 like the text mode when the answer is not the direct estimator's."""
    from dataclasses import replace

    from tm_transformer.icl import learners

    good = learners.LEARNERS["conditional"]
    monkeypatch.setitem(learners.LEARNERS, "conditional", replace(good, direct=lambda ex, q, m, V: ([9, 9], 1)))
    for engine in ("reference", "transformer"):
        code, out, _ = _cli(capsys, "icl", "conditional", "--random", "6", "--engine", engine, "--json")
        d = json.loads(out)
        assert code == 1 and d["equals_direct"] is False and d["equals_reference"] is not False
        code, out, _ = _cli(capsys, "icl", "conditional", "--random", "6", "--engine", engine)
        assert code == 1 and "equals direct     NO" in out


def test_tmt_icl_reference_is_not_held_to_the_float32_envelope(capsys):
    """The envelope is the transformer's; the reference simulator has a step budget instead."""
    code, _, err = _cli(capsys, "icl", "conditional", "--random", "500")
    assert code == 2 and "beyond the 1,290,554 steps float32 certifies" in err
    code, out, _ = _cli(capsys, "icl", "conditional", "--random", "500", "--engine", "reference", "--json")
    d = json.loads(out)
    assert code == 0 and d["equals_direct"] is True and d["steps"] > 100_000
    code, _, err = _cli(capsys, "icl", "conditional", "--random", "100000", "--engine", "reference")
    assert code == 2 and "beyond the reference simulator's budget of 100,000,000 steps" in err and "float32" not in err


def test_tmt_icl_examples_file(tmp_path, capsys):
    f = tmp_path / "ex.json"
    f.write_text(json.dumps({"examples": [[0, 1], [1, 0], [0, 1], [0, 2]], "query": 0, "m": 2, "V": 3}))
    code, out, _ = _cli(capsys, "icl", "conditional", "--examples", str(f), "--engine", "reference", "--json")
    d = json.loads(out)
    assert code == 0 and d["answer"] == [0, 2, 1] and d["prediction"] == 1 and d["examples"][3] == [0, 2]
    code, out, _ = _cli(capsys, "icl", "conditional", "--examples", str(f), "--engine", "reference")
    assert code == 0 and "equals direct     yes" in out


@pytest.mark.parametrize("content, argv, message", [
    ('{"examples": [[0, 1], [5, 0]], "query": 0}', [], "example 1 (5, 0): context 5 is outside 0..1 (--m 2)"),
    ('{"examples": [[0, 1]], "query": 0}', ["--V", "1"], "--V 1: the conditional learner takes 2..8 tokens"),
    ('{"examples": [[0, 1], [1]], "query": 0}', [], "example 1 is [1], expected a pair [c, y]"),
    ('{"examples": [[0, 1]], "query": 0', [], "not valid JSON"),
    ('{"examples": [[0, true]], "query": 0}', [], "example 0: expected an integer, got true"),
    ('{"examples": [[0, 1]]}', [], "missing field 'query'"),
    ('{"examples": [[0, 1]], "query": 0, "k": 1}', [], "unknown field 'k'"),
    ('[[0, 1]]', [], "expected an object"),
    ('{"examples": [[100000000000000000000000000000, 1]], "query": 0}', [],
     "example 0: 10000000000000000000... (30 digits) is out of range"),
    ('{"examples": [[0, 1]], "query": 0, "query": 1}', [], "key 'query' is given twice"),
    ('{"examples": [[0, 1]], "query": 0, "m": 9}', [], "field 'm' = 9 in "),
    ('{"examples": [[0, 1], [0, 3]], "query": 0, "V": 3}', [], "token 3 is outside 0..2 (field 'V' = 3 in "),
    ('{"examples": [[0, 1], [0, 3]], "query": 0, "V": 3}', ["--V", "2"], "token 3 is outside 0..1 (--V 2)"),
])
def test_tmt_icl_bad_files_are_one_line(tmp_path, capsys, content, argv, message):
    f = tmp_path / "bad.json"
    f.write_text(content)
    code, out, err = _cli(capsys, "icl", "conditional", "--examples", str(f), "--engine", "reference", *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("argv, message", [
    (["icl", "conditional", "--random", "100000"], "beyond the"),
    (["icl", "conditional", "--random", "5", "--m", "9"], "--m 9: the conditional learner takes 1..8 contexts"),
    (["icl", "threshold", "--random", "5", "--V", "3"], "V = 2 (labels 0 and 1)"),
    (["icl", "conditional", "--random", "-3"], "expected a number of examples"),
    (["icl", "conditional"], "one of the arguments --examples --random is required"),
    (["icl", "conditional", "--examples", "/nonexistent/x.json"], "No such file"),
    (["icl", "nope", "--random", "3"], "invalid choice"),
])
def test_tmt_icl_bad_arguments_are_one_line(capsys, argv, message):
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_check7_statistics():
    """Check 7's pieces: the failure event decided exactly (a tie at eps is no failure); the bound is
    Weissman's; the two exact tests (one-sample binomial against the exact probability, Fisher's against the
    engine) reject a rate far off and keep an equal one, and their power grows with the prompts."""
    from tm_transformer.experiments.icl_check import power_binomial, power_fisher, _tv_fails, weissman_tail
    from tm_transformer.experiments.stats import binomial_p, fisher_p

    assert not _tv_fails([3, 3, 4], 10, (0.5, 0.3, 0.2), 0.2)      # TV = 0.2 exactly: a tie
    assert _tv_fails([2, 4, 4], 10, (0.5, 0.3, 0.2), 0.2)          # TV = 0.3
    assert weissman_tail(1, 3, 0.2) == 1.0 and abs(weissman_tail(100, 3, 0.2) - 6 * np.exp(-8)) < 1e-12
    assert fisher_p(0, 100, 7000, 20000) < 1e-6 and fisher_p(70, 100, 14000, 20000) > 0.5
    assert binomial_p(0, 100, 0.35) < 1e-6 and binomial_p(35, 100, 0.35) > 0.5
    # the old Poisson-rate test could not reject 16 failures of 16 against 0.7; both exact tests do
    assert fisher_p(16, 16, 14000, 20000) < 0.01 and binomial_p(16, 16, 0.7) < 0.01
    level = 0.01 / 8
    assert power_binomial(16, 0.7, level, 0.3) < power_binomial(100, 0.7, level, 0.3)
    assert power_binomial(100, 0.7, level, 0.3) > 0.99 and power_fisher(100, 14000, 20000, level, 0.3) > 0.99


@pytest.mark.parametrize("K", [24, 100])
def test_check7_tests_hold_their_level(K):
    """Size, exactly (no sampling: cannot flake): under H0 each test rejects with probability <= its level.
    One-sample binomial: summed over k ~ Bin(K, p). Fisher: conditional on every margin s = k1 + k2 (the
    hypergeometric law of k1), which bounds the unconditional size for any shared rate."""
    from scipy.stats import binom, hypergeom

    from tm_transformer.experiments.exact import contexts_failure
    from tm_transformer.experiments.icl_check import EPS, PROBS
    from tm_transformer.experiments.stats import binomial_p, fisher_p

    T, level = 20_000, 0.01 / 8
    for n in (2, 4, 8, 12):
        p = contexts_failure(n, np.asarray([PROBS]), EPS)
        ks = np.arange(K + 1)
        size = sum(binom.pmf(k, K, p) for k in ks if binomial_p(int(k), K, p) < level)
        assert size <= level, (n, size)
    for s in (100, 5_000, 14_000):   # margins: engine rates about 0.005, 0.25, 0.7
        law = hypergeom(K + T, s, K)
        size = sum(law.pmf(k) for k in range(min(K, s) + 1) if fisher_p(k, K, s - k, T) < level)
        assert size <= level, (s, size)


def test_check7_agreement_and_verdict():
    """Holm over both tests at every n: a point at its exact probability agrees, a point far off is rejected,
    and a rejected test makes check 7's verdict 'fails' (listed, with the test that rejected it)."""
    from tm_transformer.experiments.icl_check import _verdict, agreement

    def point(n, failures, exact, mc):
        return {"n": n, "V": 3, "datasets": 100, "failures": failures, "rate": failures / 100, "exact_probability": exact,
                "mc_failures": mc, "mc_trials": 20_000, "mc_rate": mc / 20_000}

    pts = [point(2, 70, 0.7, 14_000), point(8, 35, 0.346, 6_900)]
    agreement(pts, 0.01)
    assert all(p["agrees"] for p in pts)
    v = _verdict([], pts, "agrees", 100, 20_000)
    assert v.verdict == "holds" and v.failing == []
    pts.append(point(4, 30, 0.685, 13_700))          # 30/100 against 0.685: both tests reject
    agreement(pts, 0.01)
    assert [p["agrees"] for p in pts] == [True, True, False] and pts[2]["rejected_binomial"] and pts[2]["rejected_fisher"]
    v = _verdict([], pts, "rejected", 100, 20_000)
    assert v.verdict == "fails" and [f["n"] for f in v.failing] == [4]
    assert "rejected by exact binomial vs the exact probability and Fisher's exact vs the engine" in v.failing[0]["statement"]


TINY = dict(cost=[1, 8, 16], per_n=2, ns=[2, 4], K=4, mc_trials=2_000, threshold=[4], per_threshold=2)


def test_check7_verdict_and_exit_status(tmp_path, monkeypatch, capsys):
    """Check 7 on a tiny grid through `tmt experiment icl`: verdict 'inconclusive' (quick: underpowered), exit 0;
    with a wrong direct estimator the three-way comparison fails, verdicts.json says 'fails' with the
    prompts, the report shows it, and the command exits 1."""
    from dataclasses import replace

    from tm_transformer.experiments import icl_check
    from tm_transformer.icl import learners

    monkeypatch.setitem(icl_check.GRIDS, "quick", TINY)
    assert main(["experiment", "icl", "--out", str(tmp_path / "ok"), "--no-progress"]) == 0
    v = {x["claim"]: x for x in json.loads((tmp_path / "ok" / "verdicts.json").read_text())}["ICL"]
    assert v["verdict"] == "inconclusive" and v["note"].startswith("inconclusive (underpowered: not rejected, power")
    assert "ICL inconclusive (underpowered: not rejected, power" in capsys.readouterr()[0]
    assert "icl.csv" in v["evidence"]
    capsys.readouterr()
    good = learners.LEARNERS["conditional"]
    wrong = replace(good, direct=lambda ex, q, m, V: (lambda c, p: (c, (p + 1) % V))(*good.direct(ex, q, m, V)))
    monkeypatch.setitem(learners.LEARNERS, "conditional", wrong)
    assert main(["experiment", "icl", "--out", str(tmp_path / "bad"), "--no-progress"]) == 1
    out = capsys.readouterr()[0]
    v = {x["claim"]: x for x in json.loads((tmp_path / "bad" / "verdicts.json").read_text())}["ICL"]
    assert v["verdict"] == "fails" and len(v["failing"]) == 8 and "not the direct estimator's" in v["failing"][0]["statement"]
    assert "ICL fails" in out
    report = (tmp_path / "bad" / "report.md").read_text()
    assert "| ICL |" in report and "**fails**" in report and "equal to the reference simulator step by step and to the " \
        "direct estimator: NO (8 prompts differ)" in report


def test_check7_exact_failure_probability_by_enumeration():
    """Check 7's exact failure probability (experiments.exact.contexts_failure, m = 1) recomputed by an
    independent route: every length-n token sequence enumerated in rational arithmetic, the empirical
    distribution's TV to PROBS compared with EPS exactly. Also the values the closing note quotes."""
    import itertools
    from fractions import Fraction

    from tm_transformer.experiments.exact import contexts_failure
    from tm_transformer.experiments.icl_check import EPS, PROBS

    p = [Fraction(str(x)) for x in PROBS]
    eps = Fraction(str(EPS))
    quoted = {2: 0.700, 4: 0.685, 8: 0.346}
    for n in (1, 2, 3, 4, 6, 8):
        total = Fraction(0)
        for seq in itertools.product(range(len(p)), repeat=n):
            counts = [seq.count(v) for v in range(len(p))]
            tv = sum(abs(Fraction(c, n) - q) for c, q in zip(counts, p)) / 2
            if tv > eps:
                prob = Fraction(1)
                for v in seq:
                    prob *= p[v]
                total += prob
        got = contexts_failure(n, np.asarray([PROBS]), EPS)
        assert abs(float(got) - float(total)) < 1e-12, (n, float(got), float(total))
        if n in quoted:
            assert round(float(total), 3) == quoted[n], (n, float(total))


def test_a_rerun_of_check7_only_redraws(tmp_path, monkeypatch):
    """Check 7's measurements are a point of the store: a second run into the same folder reads them back
    (the transformer is not run again) and writes the same table; another seed measures again."""
    from tm_transformer.experiments import icl_check, report

    monkeypatch.setitem(icl_check.GRIDS, "quick", TINY)
    calls = []
    measure = icl_check._measure

    def counted(g, quick, seed, progress):
        calls.append(seed)
        return measure(g, quick, seed, progress)

    monkeypatch.setattr(icl_check, "_measure", counted)
    out = tmp_path / "res"
    first = report.run_checks(["icl"], out, True, 0, progress=False)
    table, verdicts = (out / "icl.csv").read_text(), (out / "verdicts.json").read_text()
    again = report.run_checks(["icl"], out, True, 0, progress=False)
    assert calls == [0] and (out / "icl.csv").read_text() == table and (out / "verdicts.json").read_text() == verdicts
    assert first["manifest"]["points"]["measured"] >= 1 and again["manifest"]["points"]["measured"] == 0
    report.run_checks(["icl"], out, True, 1, progress=False)
    assert calls == [0, 1]
