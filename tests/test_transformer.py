"""The compiled transformer against the reference simulator (a shared table of cases, as in tracr)."""
import jax
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tm_transformer import PrecisionError, parse_machine, simulate
from tm_transformer.transformer import model
from tm_transformer.transformer.compile import compile_machine
from tm_transformer.transformer.decode import run
from tm_transformer.transformer.envelope import envelope, min_beta, steps_exact
from tm_transformer.transformer.frontier import probe_steps, runs_exact, steps_frontier, envelope_steps

from .conftest import machines
from .data.published import BB5, HALTING, SLOW_HALTING


def assert_same_run(machine, steps, tape, result):
    ref = simulate(machine, steps, tape)
    assert result.trace == ref.trace, f"first difference at step {ref.trace.first_difference(result.trace)}"
    assert result.summary() == ref.summary()
    lo, hi = ref.min_head - 3, ref.max_head + 3
    np.testing.assert_array_equal(result.window(lo, hi), ref.window(lo, hi))


@pytest.mark.parametrize("layout", ["dense", "packed"])
@pytest.mark.parametrize("name,text,steps,sigma", HALTING)
def test_published_machines_exact(name, text, steps, sigma, layout):
    m = parse_machine(text)
    result = run(m, 10 ** 3, layout=layout).results[0]
    assert (result.steps, result.sigma, result.halted) == (steps, sigma, True)
    assert_same_run(m, 10 ** 3, (), result)


@pytest.mark.slow
@pytest.mark.parametrize("cache,steps", [("evict", 10 ** 5), ("full", 20_000)])
def test_long_published_machines_exact_in_float32(cache, steps):
    """BB(2,4) and BB(5), batched, certified and equal to the reference step by step: 10^5 steps with the
    evicting cache (O(T cells)); 2 10^4 with the full cache, whose O(T^2) attention makes 10^5 steps cost
    ~13 CPU-min (check 6 of a full run measures that)."""
    ms = [parse_machine(text) for _, text, _, _ in SLOW_HALTING]
    out = run(ms, steps, head_range=1000, dtype="float32", cache=cache)
    for m, result in zip(ms, out.results):
        assert_same_run(m, steps, (), result)


@pytest.mark.slow
def test_dense_float32_scores_exact_on_a_long_run():
    m = parse_machine(BB5)
    assert_same_run(m, 20_000, (), run(m, 20_000, head_range=1000, layout="dense").results[0])


@pytest.mark.slow
@settings(max_examples=25)
@given(st.lists(machines(max_states=6, max_symbols=4), min_size=1, max_size=6), st.integers(0, 2000),
       st.integers(0, 2 ** 32 - 1), st.sampled_from(["dense", "packed"]))
def test_random_machines_batched_equal_reference(batch, steps, seed, layout):
    rng = np.random.default_rng(seed)
    tapes = [rng.integers(0, m.n_symbols, size=rng.integers(0, 10)).tolist() for m in batch]
    out = run(batch, steps, tapes, head_range=steps + 10, layout=layout)
    for m, tape, result in zip(batch, tapes, out.results):
        assert_same_run(m, steps, tape, result)


@pytest.mark.slow
@settings(max_examples=5)
@given(st.lists(machines(max_states=4, max_symbols=3), min_size=2, max_size=4), st.integers(1, 300))
def test_batched_run_equals_single_runs(batch, steps):
    together = run(batch, steps, head_range=steps + 1).results
    for m, r in zip(batch, together):
        alone = run(m, steps, head_range=steps + 1).results[0]
        assert alone.trace == r.trace and alone.summary() == r.summary()


@pytest.mark.slow
@settings(max_examples=10)
@given(machines(max_states=5, max_symbols=3), st.integers(1, 500), st.sampled_from(["dense", "packed"]))
def test_softmax_at_the_tight_beta_equals_hardmax(machine, steps, layout):
    """At the a-priori bound from the integer score gaps (about ln 4, whatever the length) every step
    certifies and the run is the hardmax run."""
    env = envelope("float32", steps, steps + 1, 1.0)
    beta = env.beta_needed
    assert beta < 1.39 or steps < 20  # about ln 4 = 1.386 once M is not tiny
    soft = run(machine, steps, beta=beta, head_range=steps + 1, layout=layout)
    hard = run(machine, steps, head_range=steps + 1, layout=layout).results[0]
    assert soft.results[0].trace == hard.trace
    assert soft.min_top_weight[0] >= 0.75


def test_softmax_well_below_the_tight_beta_raises():
    m = parse_machine("1RB0LA_1LA1RB")  # revisits cells: many keys close to the top
    beta = min_beta(202, 201)
    with pytest.raises(PrecisionError, match="softmax beta"):  # a priori
        run(m, 200, beta=beta / 3, head_range=201)
    with pytest.raises(PrecisionError, match="softmax attention kept only"):  # at run time
        run(m, 200, beta=beta / 3, head_range=201, check_envelope=False)
    run(m, 200, beta=beta, head_range=201)  # at the bound: certified


def test_tight_beta_bound_is_the_series_bound():
    from tm_transformer.transformer.envelope import softmax_weight_off_top

    for N, M in ((2, 2), (501, 501), (10 ** 6, 10 ** 6)):
        b = min_beta(N, M)
        assert softmax_weight_off_top(b, N, M) <= 1 / 3 < softmax_weight_off_top(b - 1e-6, N, M)
    assert abs(min_beta(10 ** 6) - np.log(4)) < 1e-6


@pytest.mark.slow
@settings(max_examples=10)
@given(machines(max_states=5, max_symbols=3), st.integers(1, 10 ** 6))
def test_scan_and_while_loop_agree(machine, seed):
    a = run(machine, 200, head_range=201, until_halt=True).results[0]
    b = run(machine, 200, head_range=201, until_halt=False).results[0]
    assert a.trace == b.trace and a.summary() == b.summary()


def test_hopeless_runs_are_refused_before_they_start():
    m = parse_machine("1RB1LB_1LA1RZ")
    R = 1000
    limit = steps_exact(8, R)  # bfloat16
    run(m, limit, head_range=R, dtype="bfloat16")  # inside the a-priori envelope
    with pytest.raises(PrecisionError, match="hopeless in bfloat16"):
        run(m, 100, head_range=R, dtype="bfloat16")


def test_certified_past_the_envelope_when_the_machine_halts_early():
    """float16, head range 16 (D = 6): the envelope allows 291 steps; weights for 320 steps (M = 321)
    still certify a run that halts at step 107 (largest partial sum M D + 106 <= 2^11), and a longer run
    raises at the first step the certificate cannot cover, with that step named."""
    bb4 = parse_machine("1RB1LB_1LA0LC_1RZ1LD_1RD0RA")
    assert steps_exact(11, 16) == 291
    out = run(bb4, 320, head_range=16, dtype="float16")
    assert (out.steps[0], out.sigma[0], bool(out.halted[0])) == (107, 13, True)
    # independent closed form: the match term M D plus the largest recency a key holds (step 106's token)
    assert out.max_partial_sum[0] == 321 * 6 + 106 <= 2 ** 11
    assert_same_run(bb4, 320, (), out.results[0])
    with pytest.raises(PrecisionError, match=r"not certified at step 12\d: a score's absolute products"):
        run(parse_machine("1RB1RB_1LA1LA"), 320, head_range=16, dtype="float16")


def test_head_leaving_the_range_is_detected():
    m = parse_machine("1RA1RA")  # runs right forever
    with pytest.raises(PrecisionError, match="head left the range"):
        run(m, 50, head_range=10)


def test_softmax_too_cold_is_detected_at_run_time():
    m = parse_machine("1RB0LA_1LA1RB")
    with pytest.raises(PrecisionError, match="softmax attention kept only"):
        run(m, 200, beta=0.3, head_range=201, check_envelope=False, layout="dense")


@pytest.mark.slow
def test_envelope_is_conservative_against_the_worst_case_probe():
    """The analytic envelope never promises more than the dtype delivers; for float32 it is tight."""
    for dtype in ("bfloat16", "float16"):
        for R in (4, 100):
            assert steps_frontier(dtype, R) > steps_exact({"bfloat16": 8, "float16": 11}[dtype], R)
    assert probe_steps("float32", 10 ** 5, 1000)
    assert probe_steps("float32", steps_exact(24, 1000), 1000)
    assert not probe_steps("float32", 4 * steps_exact(24, 1000), 1000)  # the probe can fail


def test_real_runs_fail_just_past_the_low_precision_envelope():
    T = envelope_steps("bfloat16")
    assert runs_exact("bfloat16", T)
    assert not runs_exact("bfloat16", 2 * T)


def test_an_uncertified_low_precision_run_goes_wrong_and_the_certificate_says_where():
    """The issue's case: dense bfloat16 past the envelope with the a-priori check off. Uncertified, the
    trace is wrong; certified, the run raises at a step no later than the first wrong one."""
    m = parse_machine(BB5)
    ref = simulate(m, 400)
    loose = run(m, 400, head_range=1000, dtype="bfloat16", layout="dense", check_envelope=False, certify=False)
    wrong_at = ref.trace.first_difference(loose.results[0].trace)
    assert wrong_at is not None
    with pytest.raises(PrecisionError, match=r"not certified (at step 1|in the prompt)"):
        run(m, 400, head_range=1000, dtype="bfloat16", layout="dense", check_envelope=False)


def test_float64_run_matches_reference():
    m = parse_machine(BB5)
    assert_same_run(m, 3000, (), run(m, 3000, dtype="float64", layout="dense", head_range=3000).results[0])


def test_float64_runs_past_the_float32_envelope_are_allowed():
    env32 = envelope("float32", 5 * 10 ** 6, 10)
    env64 = envelope("float64", 5 * 10 ** 6, 10)
    assert not env32.exact and env64.exact


def test_model_pieces_have_documented_shapes():
    cm = compile_machine(parse_machine("1RB1LB_1LA1RZ"), 10, 8)
    L = cm.layout
    params = jax.tree.map(np.asarray, cm.params)
    tok = {"state": 0, "head": 8, "write_pos": L.cell_none, "symbol": 0, "recency": 3}
    x = model.embed(params, {k: np.int32(v) for k, v in tok.items()})
    assert x.shape == (L.d_model,)
    q, k, v = model.qkv(params["layers"][0], x)
    assert q.shape == (1, L.D + 1) and k.shape == (1, L.D + 1) and v.shape == (1, L.k)
    assert "b2" not in params["layers"][0]["mlp"]  # every weight array is used


def test_bad_arguments():
    m = parse_machine("1RB1LB_1LA1RZ")
    with pytest.raises(PrecisionError, match="dtype"):
        run(m, 10, dtype="float8")
    with pytest.raises(Exception, match="layout"):
        run(m, 10, layout="sparse")
    with pytest.raises(Exception, match="steps must be a non-negative integer"):
        run(m, -1)


def test_packed_cache_with_a_head_range_beyond_int16():
    m = parse_machine("1RB1LB_1LA0LC_1RZ1LD_1RD0RA")
    assert_same_run(m, 200, (), run(m, 200, head_range=20_000, layout="packed").results[0])


@pytest.mark.parametrize("threshold", [0.3, 2.71, 5.9, 6.1, 40.0])
def test_beta_frontier_with_a_guess_finds_the_same_frontier(monkeypatch, threshold):
    """The bisection bracketed by a guess (check 6 passes the a-priori bound) finds the smallest exact beta
    to within tol, as the full bracket does, whether runs at the guess are exact or not (a fake, monotone
    exactness predicate stands in for the runs)."""
    from tm_transformer.transformer import frontier

    calls = []
    monkeypatch.setattr(frontier, "runs_exact", lambda dtype, T, R, n, seed, beta: calls.append(beta) or beta >= threshold)
    for guess in (None, 6.0):
        calls.clear()
        got = frontier.beta_frontier(100, 108, tol=0.1, guess=guess)
        assert threshold <= got <= threshold + 0.1, (guess, got)
        if guess is not None and threshold <= guess:
            assert max(calls) == guess  # never above the guess
