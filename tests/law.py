"""A shared statistical check for the engine's samplers (not a test module)."""
from __future__ import annotations

import math

from tm_transformer.experiments.montecarlo import count_failures
from tm_transformer.experiments.stats import rates_differ


def assert_same_failure_law(setting: str, n: int, kw: dict, sampler: str, tag: str, trials: int = 20_000):
    """``sampler``'s failure count at n has the direct sampler's rate (the exact two-sample test at ALPHA
    does not reject), the case has power (the rate is away from 0 and 1), and the same test tells the two
    apart when ``sampler`` runs at a 1.5x larger n."""
    direct = count_failures(setting, n, trials, 11, tag, sampler="direct", **kw)
    other = count_failures(setting, n, trials, 12, tag, sampler=sampler, **kw)
    assert other["sampler"] == sampler and direct["sampler"] == "direct"
    assert 0.05 < direct["failures"] / trials < 0.95  # the case has power
    assert not rates_differ(direct["failures"], trials, other["failures"], trials)
    wrong = count_failures(setting, math.ceil(1.5 * n), trials, 12, tag, sampler=sampler, **kw)
    assert rates_differ(direct["failures"], trials, wrong["failures"], trials)
