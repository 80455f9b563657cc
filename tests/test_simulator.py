import numpy as np
import pytest
from hypothesis import given, strategies as st

from tm_transformer import parse_machine, simulate
from tm_transformer.batched import run_batch
from tm_transformer.errors import ToolkitError
from tm_transformer.fast import run_fast

from .conftest import machines
from .data.published import BB5, BB5_CELLS_VISITED, BB5_UNDEFINED, CYCLERS, HALTING, SLOW_HALTING


@pytest.mark.parametrize("name,text,steps,sigma", HALTING)
def test_published_machines(name, text, steps, sigma):
    m = parse_machine(text)
    for result in (simulate(m, 10 ** 4), run_fast(m, 10 ** 4)):
        assert (result.steps, result.sigma, result.halted, result.reason) == (steps, sigma, True, "halted")


@pytest.mark.slow
@pytest.mark.parametrize("name,text,steps,sigma", SLOW_HALTING)
def test_published_slow_machines(name, text, steps, sigma):
    result = run_fast(parse_machine(text), 10 ** 8)
    assert (result.steps, result.sigma, result.halted) == (steps, sigma, True)
    if text == BB5:
        assert result.cells_visited == BB5_CELLS_VISITED


@pytest.mark.slow
def test_bb5_with_undefined_transition_both_readings():
    m = parse_machine(BB5_UNDEFINED)
    stop = run_fast(m, 10 ** 8)
    assert (stop.steps, stop.sigma, stop.reason) == (47_176_869, 4_097, "undefined")
    as_halt = run_fast(m.resolve_undefined("1RZ"), 10 ** 8)
    assert (as_halt.steps, as_halt.sigma) == (47_176_870, 4_098)


@pytest.mark.parametrize("text,start,period,offset", CYCLERS)
def test_translated_cyclers(text, start, period, offset):
    result = simulate(parse_machine(text), 10 ** 4, detect_cycler=True)
    assert result.reason == "cycler" and not result.halted
    assert (result.cycler.start, result.cycler.period, result.cycler.offset) == (start, period, offset)


@pytest.mark.parametrize("text,start,period,offset", CYCLERS)
def test_cycler_claim_is_true_on_the_trace(text, start, period, offset):
    """The detected cycle really repeats: states equal and heads shifted, far beyond detection."""
    t = simulate(parse_machine(text), 50 * period).trace
    assert np.array_equal(t.state[start + period:], t.state[start:-period])
    assert np.array_equal(t.head[start + period:], t.head[start:-period] + offset)


def test_step_limit_is_reported():
    result = simulate(parse_machine("1RB0RB_1LB1RA"), 100)
    assert (result.steps, result.halted, result.reason) == (100, False, "step_limit")


def test_bad_arguments_raise():
    m = parse_machine("1RB1LB_1LA1RZ")
    with pytest.raises(ToolkitError, match="steps must be a non-negative integer"):
        simulate(m, -1)
    with pytest.raises(ToolkitError, match="initial tape holds symbol 2: expected 0..1"):
        simulate(m, 5, [0, 2])


@given(machines(), st.integers(0, 300), st.lists(st.integers(0, 3), max_size=12))
def test_fast_path_equals_reference(machine, steps, tape):
    tape = [s % machine.n_symbols for s in tape]
    ref, fast = simulate(machine, steps, tape), run_fast(machine, steps, tape)
    assert ref.summary() == fast.summary()
    assert np.array_equal(ref.window(ref.min_head - 15, ref.max_head + 15), fast.window(ref.min_head - 15, ref.max_head + 15))


@given(st.lists(machines(), min_size=1, max_size=12), st.integers(0, 200), st.integers(0, 2 ** 32 - 1))
def test_batched_equals_reference(batch, steps, seed):
    rng = np.random.default_rng(seed)
    tapes = [rng.integers(0, m.n_symbols, size=rng.integers(0, 8)).tolist() for m in batch]
    result = run_batch(batch, steps, tapes, record_trace=True)
    for b, (m, tape) in enumerate(zip(batch, tapes)):
        ref = simulate(m, steps, tape)
        assert result.trace(b) == ref.trace
        assert (int(result.steps[b]), bool(result.halted[b]), int(result.head[b]), int(result.sigma[b])) == (
            ref.steps, ref.halted, ref.head, ref.sigma)


def test_initial_tape_is_read():
    # writes nothing new, walks right over the input and halts on the first blank
    m = parse_machine("1RZ1RA")
    result = simulate(m, 100, [1, 1, 1])
    assert (result.steps, result.head, result.sigma) == (4, 4, 4)
