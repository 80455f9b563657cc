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
    assert code == 0 and {k: r[k] for k in KEYS if k != "engine"} == {k: d[k] for k in KEYS if k != "engine"}


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
    """Check 7's pieces: the failure event decided exactly (a tie at eps is no failure), the agreement test
    rejects a rate far off and keeps an equal one, its power grows with the prompts, the bound is Weissman's."""
    from experiments.icl_check import _power, _tv_fails, _two_sample_p, weissman_tail

    assert not _tv_fails([3, 3, 4], 10, (0.5, 0.3, 0.2), 0.2)      # TV = 0.2 exactly: a tie
    assert _tv_fails([2, 4, 4], 10, (0.5, 0.3, 0.2), 0.2)          # TV = 0.3
    assert _two_sample_p(0, 100, 7000, 20000) < 1e-6 and _two_sample_p(35, 100, 7000, 20000) > 0.5
    assert _power(16, 7000, 20000, 0.01, 0.3) < _power(100, 7000, 20000, 0.01, 0.3) and _power(100, 7000, 20000, 0.01, 0.3) > 0.8
    assert weissman_tail(1, 3, 0.2) == 1.0 and abs(weissman_tail(100, 3, 0.2) - 6 * np.exp(-8)) < 1e-12
