import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings, strategies as st

settings.register_profile("toolkit", derandomize=True, database=None, deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "toolkit"))

from tm_transformer.machine import HALT, LEFT, RIGHT, Transition, TuringMachine  # noqa: E402


@st.composite
def machines(draw, max_states=6, max_symbols=4, allow_undefined=True, max_halts=None):
    """Random machines: up to ``max_states`` x ``max_symbols``, any transitions."""
    n = draw(st.integers(1, max_states))
    k = draw(st.integers(2, max_symbols))
    rows = []
    for _ in range(n):
        row = []
        for _ in range(k):
            if allow_undefined and draw(st.integers(0, 19)) == 0:
                row.append(None)
                continue
            nxt = draw(st.integers(-1, n - 1)) if draw(st.integers(0, 9)) == 0 else draw(st.integers(0, n - 1))
            row.append(Transition(draw(st.integers(0, k - 1)), draw(st.sampled_from([LEFT, RIGHT])),
                                  HALT if nxt < 0 else nxt))
        rows.append(tuple(row))
    return TuringMachine(tuple(rows))


def rng_from(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(autouse=True)
def _one_process_unless_asked(monkeypatch):
    """CLI runs inside tests measure in this process (tests monkeypatch it); tests of the worker processes
    ask for them with --jobs (experiments.parallel)."""
    monkeypatch.setenv("TMT_JOBS", "1")
