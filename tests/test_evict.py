"""The evicting cache (--cache evict): an exact rewrite of hardmax attention, certified in the run's dtype."""
import copy
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tm_transformer import PrecisionError, ToolkitError, parse_machine, simulate
from tm_transformer.cli import main
from tm_transformer.transformer import evict
from tm_transformer.transformer.compile import compile_machine
from tm_transformer.transformer.decode import run
from tm_transformer.transformer.envelope import MANTISSA_BITS, position_bits, steps_exact
from tm_transformer.transformer.weights import Weights

from .conftest import machines
from .data.published import BB5, HALTING, SLOW_HALTING


def expected_slots(result, processed_steps, tape, pad):
    """The evicting cache's exact slot count: one key per cell id -- the initial tape cells and the cells
    written by steps 1..S-1 (the token of step S is not processed: the run ended at the halt or the step
    limit; after an undefined transition the run ends one position later, so steps 1..S) -- plus one for
    the ``none`` id that the padding and the start token share (the start token, newer, replaces the
    padding), when either was processed."""
    written = result.steps if result.reason == "undefined" else max(result.steps - 1, 0)
    cells = set(range(len(tape))) | {int(h) for h in result.trace.head[:written]}
    none = 1 if processed_steps >= 1 or pad > 0 else 0
    return len(cells) + none


def same_as_reference(machine, steps, tape, result):
    ref = simulate(machine, steps, tape)
    assert result.trace == ref.trace, f"first difference at step {ref.trace.first_difference(result.trace)}"
    assert result.summary() == ref.summary()


@pytest.mark.slow
@settings(max_examples=6)
@given(st.lists(machines(max_states=5, max_symbols=3), min_size=1, max_size=3), st.integers(0, 2 ** 32 - 1),
       st.sampled_from(["float16", "bfloat16", "float32"]), st.sampled_from(["dense", "packed"]))
def test_evicted_and_full_caches_give_identical_traces(batch, seed, dtype, layout):
    """Where both certify (the full cache inside its a-priori envelope), the two caches give the same
    trace bit for bit, and both the reference simulator's; one machine runs unbatched, several under vmap."""
    rng = np.random.default_rng(seed)
    R = 64  # covers every head position of these runs
    steps = int(rng.integers(0, min(steps_exact(MANTISSA_BITS[dtype], R), 56) + 1))
    tapes = [rng.integers(0, m.n_symbols, size=rng.integers(0, 6)).tolist() for m in batch]
    full = run(batch, steps, tapes, dtype=dtype, head_range=R, layout=layout, cache="full").results
    ev = run(batch, steps, tapes, dtype=dtype, head_range=R, layout=layout, cache="evict", chunk=128)
    for m, tape, a, b in zip(batch, tapes, full, ev.results):
        assert a.trace == b.trace and a.summary() == b.summary()
        same_as_reference(m, steps, tape, b)
    # exactly one key per cell written (initial tape included), plus the start token and the padding:
    # a cache that stopped evicting would hold one key per position
    longest = max(len(t) for t in tapes)
    want = [expected_slots(r, steps, t, longest - len(t)) for r, t in zip(ev.results, tapes)]
    assert ev.slots.tolist() == want


@pytest.mark.parametrize("name,text,steps,sigma", HALTING)
def test_published_machines_run_to_their_halt_in_bfloat16(name, text, steps, sigma):
    m = parse_machine(text)
    out = run(m, None, dtype="bfloat16", cache="evict", head_range=200)
    result = out.results[0]
    assert (result.steps, result.sigma, result.halted) == (steps, sigma, True)
    same_as_reference(m, steps + 1, (), result)
    assert int(out.slots[0]) == expected_slots(result, steps, (), 0)
    if name in ("BB(4)", "BB(2,3)"):  # the referee's counts
        assert int(out.slots[0]) == {"BB(4)": 14, "BB(2,3)": 10}[name]
    assert out.limit > 10 ** 6  # the full cache's bfloat16 envelope is 20 steps


def test_broken_dominance_is_refused_and_the_full_cache_still_runs():
    m = parse_machine(HALTING[0][1])
    cm = compile_machine(m, 50, 20)
    params = copy.deepcopy(cm.params)
    L = cm.layout
    params["layers"][0]["attn"]["wq"][0, L.index("one"), L.D] = -1.0  # the query's recency weight, wrong sign
    with pytest.raises(ToolkitError, match="does not dominate"):
        evict.dominance(params)
    broken = Weights(params, L.n, L.k, L.R, cm.M, str(m))
    with pytest.raises(ToolkitError, match="does not dominate"):
        run(m, 10, weights=broken, cache="evict")
    run(m, 10, weights=broken, cache="full")  # not refused: the full cache makes no dominance claim
    # a key column reading the written symbol: keys of one cell differ outside the recency
    params = copy.deepcopy(cm.params)
    params["layers"][0]["attn"]["wk"][0, L.index("value"), 0] = 1.0
    with pytest.raises(ToolkitError, match="use --cache full"):
        evict.dominance(params)


def _negated_recency(cm):
    """The compiled weights with the query's recency weight and the key's recency slope both negated:
    the same scores, so the same attention; dominance holds (their product is still positive)."""
    L, p = cm.layout, copy.deepcopy(cm.params)
    p["layers"][0]["attn"]["wq"][0, L.index("one"), L.D] = -1.0
    p["layers"][0]["attn"]["wk"][0, L.index("recency"), L.D] *= -1.0
    return p


def test_eviction_follows_the_sign_of_the_query_recency_weight():
    """Referee D1: with q_c < 0 and a negative key slope a newer key of a cell has the *smaller* recency
    column; eviction must still drop the older key (same slot count as the stock weights) and give the
    full cache's trace. With the start key edited to equal cell 0's key outside the recency, the start
    key (which beats every cell-0 key) is never evicted by one: evict still equals full."""
    m = parse_machine("1RB0LB_1LA0RA")  # never halts, revisits cells
    T = 40
    cm = compile_machine(m, 2 * T + 1, 30)  # M = 2T + 2, what the evicting cache compiles with
    L = cm.layout
    p = _negated_recency(cm)
    evict.dominance(p)
    stock = run(m, T, weights=Weights.from_compiled(cm), cache="evict", layout="dense")
    neg = run(m, T, weights=Weights(p, L.n, L.k, L.R, cm.M, str(m)), cache="evict", layout="dense")
    full = run(m, T, weights=Weights(p, L.n, L.k, L.R, cm.M, str(m)), cache="full", layout="dense")
    assert int(neg.slots[0]) == int(stock.slots[0]) == expected_slots(stock.results[0], T, (), 0)
    assert neg.results[0].trace == full.results[0].trace == stock.results[0].trace
    same_as_reference(m, T, (), neg.results[0])
    p["embed"]["write_pos"][L.cell_none] = p["embed"]["write_pos"][L.R]  # start key = cell 0's outside recency
    w = Weights(p, L.n, L.k, L.R, cm.M, str(m))
    evict.dominance(p)
    a = run(m, 12, weights=w, cache="full", layout="dense").results[0]
    b = run(m, 12, weights=w, cache="evict", layout="dense").results[0]
    assert a.trace == b.trace and a.summary() == b.summary()
    # the query's recency weight rounded to 0 in the run's dtype: no strict dominance there
    p = copy.deepcopy(cm.params)
    p["layers"][0]["attn"]["wq"][0, L.index("one"), L.D] = 1e-30
    evict.dominance(p, "float32")
    with pytest.raises(ToolkitError, match="zero or subnormal in float16"):
        evict.dominance(p, "float16")


@pytest.mark.slow
def test_bb5_bfloat16_prefix_with_identical_key_ties_equals_the_reference():
    """BB(5)'s first 30,000 steps in bfloat16, past cell -256 (where format 1's residual-scalar head stopped,
    at step 19,950): the head is carried as +-1 bits, exact at any distance. From recency 256 on,
    consecutive keys of one cell are the same bf16 vector (referee D2), and the evicting cache's newest-wins
    rule keeps the right one; the trace equals the reference simulator's step by step."""
    import jax.numpy as jnp
    m = parse_machine(BB5)
    T = 30_000
    out = run(m, T, dtype="bfloat16", cache="evict", head_range=1000)
    r = out.results[0]
    same_as_reference(m, T, (), r)
    assert r.trace.head.min() == -297  # beyond the 2^8 integers bfloat16 holds (format 1 stopped at -256)
    # identical-key ties really occur: some cell is rewritten at two step numbers > 256 that round to the
    # same bfloat16 recency (the key's recency column is recency * scale, scale a power of two)
    steps = np.arange(1, T + 1)
    late = steps > 256
    heads, recs = r.trace.head[late], steps[late].astype(np.float32)
    rounded = np.asarray(jnp.asarray(recs, jnp.bfloat16).astype(jnp.float32))
    pairs = set()
    ties = 0
    for h, x, y in zip(heads, recs, rounded):
        ties += (int(h), float(y)) in pairs
        pairs.add((int(h), float(y)))
    assert ties > 0 and np.any(rounded != recs)
    assert int(out.slots[0]) == expected_slots(r, T, (), 0)


def test_the_gap_certificate_fails_when_the_scale_is_too_small():
    """Weights compiled for T steps have M = T + 1: near the end the default key sits within T of the
    other cells, inside the float16 rounding bound, and the run stops with the step and the reason."""
    m = parse_machine("1RA1RA")  # a new cell every step
    w = Weights.from_compiled(compile_machine(m, 300, 400))
    with pytest.raises(PrecisionError, match=r"machine 0 .* at step \d+: .*twice the rounding bound"):
        run(m, 300, weights=w, dtype="float16", cache="evict")
    out = run(m, 200, weights=w, dtype="float32", cache="evict")  # float32's bound is far smaller
    assert int(out.steps[0]) == 200


def test_softmax_and_unknown_caches_are_refused():
    m = parse_machine(HALTING[0][1])
    with pytest.raises(ToolkitError, match="hardmax attention only"):
        run(m, 5, beta=2.0, cache="evict")
    with pytest.raises(ToolkitError, match="cache 'lru'"):
        run(m, 5, cache="lru")


def test_error_bound_and_limit():
    # bf16 operands, f32 sums of 17 terms, one rounding to bf16
    c = evict.error_coefficient("bfloat16", 17)
    assert 2 ** -8 < c < 2 ** -8 * 1.001
    assert evict.evict_limit("bfloat16", 2 ** 15 - 1) >= 47_176_870  # BB(5) fits the scale
    assert evict.evict_limit("float16", 1000) < 2000  # float16 overflows beyond M (2D - 1) ~ 65504
    M = evict.scale_for(10 ** 6, position_bits(1000))
    assert M >= 2 * (10 ** 6 + 1) and M & (M - 1) == 0
    info = evict.a_priori("bfloat16", 10 ** 6, 1000, M)
    assert info["attention_ok"] and info["head_exact"]  # the head is +-1 bits: no dtype limits it
    assert evict.evict_envelope("bfloat16", 2 ** 15 - 1) == evict.evict_limit("bfloat16", 2 ** 15 - 1)


def test_cli_cache_flag(capsys):
    text = HALTING[3][1]
    assert main(["run", text, "--engine", "transformer", "--dtype", "bfloat16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["steps"], out["sigma"], out["cache"], out["layout"]) == (107, 13, "evict", "dense")
    assert main(["run", text, "--engine", "transformer", "--dtype", "float32", "--cache", "full", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["steps"], out["cache"], out["layout"]) == (107, "full", "packed")
    assert main(["run", text, "--engine", "transformer", "--softmax", "2", "--cache", "evict"]) != 0
    assert "hardmax attention only" in capsys.readouterr().err
    # --steps: up to the evicting cache's cap with evict, 10^7 with the full cache
    assert main(["run", text, "--engine", "transformer", "--steps", str(10 ** 7 + 1), "--cache", "full"]) != 0
    assert "at most 10,000,000 steps" in capsys.readouterr().err
    cap = evict.evict_limit("float32", 10 ** 5 + 0)
    assert cap > 10 ** 7
    assert main(["run", text, "--engine", "transformer", "--steps", str(cap + 1)]) != 0
    assert f"at most {cap:,} steps (the evicting cache's cap" in capsys.readouterr().err


@pytest.mark.slow
def test_bb24_to_its_halt_in_bfloat16_with_the_evicting_cache():
    """BB(2,4) (3.9M steps, the head to cell 2,034) in bfloat16: beyond the 2^8 integers bfloat16 holds,
    which the head, carried as +-1 bits, never needs."""
    _, text, steps, sigma = SLOW_HALTING[0]
    m = parse_machine(text)
    out = run(m, None, dtype="bfloat16", cache="evict", layout="dense", head_range=4096, trace=False)
    assert (int(out.steps[0]), int(out.sigma[0]), bool(out.halted[0])) == (steps, sigma, True)


def test_measured_evicting_cache_frontier_matches_its_envelope_in_float16():
    """Check 6's evict measurement: random runs at the float16 evicting-cache envelope certify (and equal
    the reference, asserted inside), and runs far past it do not (the start key's recency M (D - 1) beyond
    float16's 65,504). The envelope is conservative: measured, these runs certify up to T = 2,047."""
    from tm_transformer.transformer.evict import evict_envelope
    from tm_transformer.transformer.frontier import runs_certified

    T = evict_envelope("float16", 1024 + 8)
    assert 100 < T < 1024
    assert runs_certified("float16", T, None, n_machines=2, seed=0, cache="evict")
    assert not runs_certified("float16", 8 * T, None, n_machines=2, seed=0, cache="evict")
