"""What an n* search returns (:class:`NStar`), its definition, and the exact n* of a failure curve.

Shared by the n* search (:mod:`experiments.nstar`) and the settings' exact enumerations
(:mod:`experiments.settings`); imports nothing of either.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

DEFINITION = "smallest n with P(error > eps) <= delta for every n' >= n up to the horizon"


@dataclass
class NStar:
    n_star: int
    n_star_lo: int
    n_star_hi: int | None
    exact: bool
    definition: str
    target: str
    learner: str
    trials: int           # certificate trials per scanned n (0 when exact)
    horizon: int
    first_crossing: int   # the smallest n with failure <= delta (what a search reports)
    failure_at_n_star: float
    scan: str = ""        # which n' were checked
    trials_at_n_star: int = 0  # trials behind failure_at_n_star: trials, or trials / LOOK_FRACTION where the
                               # certificate's first look decided n* (0 when exact)
    sampler: str = ""     # the sampler the certificate's counts used ("exact" when exact; "" if not recorded)

    def as_dict(self) -> dict:
        return asdict(self)


def from_curve(ns: np.ndarray, fail: np.ndarray, delta: float) -> tuple[int, int, float]:
    """(n*, first crossing, failure at n*) from a failure curve over consecutive ns ending at the horizon."""
    bad = np.nonzero(fail > delta)[0]
    if bad.size and bad[-1] == len(ns) - 1:
        raise ValueError(f"failure is still above delta={delta:g} at the horizon n = {int(ns[-1])}")
    i = int(bad[-1]) + 1 if bad.size else 0
    first = int(ns[np.nonzero(fail <= delta)[0][0]])
    return int(ns[i]), first, float(fail[i])
