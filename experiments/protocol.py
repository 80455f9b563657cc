"""From measurements to a verdict, the same way for every claim.

A claim says n = C f(params) examples suffice for some universal constant C. On a grid of params:

1. measure the empirical requirement n*(g) (smallest n with failure rate <= delta; see
   :func:`experiments.stats.search_n_star`) and the constant it needs, C_req(g) = n*_hi(g) / f(g), using
   the conservative end n*_hi of its confidence range;
2. calibrate C_cal = max C_req over the *calibration points*: every swept variable at its easy end
   (smallest V, m, l, d; largest eps, delta);
3. test every other point at n = ceil(KAPPA * C_cal * f(g)) with fresh trials: the claim fails there when
   the exact one-sided binomial test rejects "failure probability <= delta", with Holm's correction over
   the check's test points (family-wise level ALPHA);
4. verdict: ``fails`` with the failing points and their failure rates, or ``holds`` over the grid with
   the smallest constant C = max C_req(g) (and how loose the claim is: C f / n*).

A true claim cannot be refuted this way except by chance (probability <= ALPHA per test point, and the
KAPPA margin makes even that unlikely); a claim that misses a growing factor (ln(1/delta), V^l) fails as
soon as that factor grows past KAPPA along the grid. KAPPA and ALPHA are the protocol's only knobs; the
report states both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .stats import ALPHA, clopper_pearson, holm, p_exceeds

# Test the calibrated constant with this safety factor. A constant that is bounded but not yet at its
# supremum at the easy end must not read as a failure: Hoeffding-type requirements grow by at most
# about 2.2x from delta = 0.1 to delta -> 0 (z^2 / (4 ln(1/delta)) -> 1/2), so KAPPA = 3 leaves room;
# a missing factor that grows without bound (ln(1/delta), V^l) passes 3 on the grids used.
KAPPA = 3.0


@dataclass
class Verdict:
    claim: str
    reading: str
    verdict: str                     # 'holds' | 'fails' | 'inconclusive'
    constant: float | None           # smallest C over the grid (holds) / calibrated C (fails)
    calibrated_constant: float | None  # None where nothing is calibrated (check 7)
    failing: list = field(default_factory=list)   # [{params, n, failures, trials, rate, ci}]
    evidence: list = field(default_factory=list)  # file names
    note: str = ""
    # constant-free evidence (issue 10): n* / claim-form per point, its trend per direction, the arguments
    needed_constant: list = field(default_factory=list)
    trend: list = field(default_factory=list)
    argument: list = field(default_factory=list)
    learners: list = field(default_factory=list)
    targets: list = field(default_factory=list)
    protocol_verdict: str = ""       # what the calibrated KAPPA test alone says
    decided_by: str = ""             # the argument that decided the verdict (experiments.decision)
    reading_key: str = ""            # the reading's short id (experiments.claims)
    extra: dict = field(default_factory=dict)  # reading-specific tables (C3: the delta below which it fails)

    def as_dict(self) -> dict:
        return {"claim": self.claim, "reading": self.reading, "verdict": self.verdict, "constant": self.constant,
                "calibrated_constant": self.calibrated_constant, "kappa": KAPPA, "alpha": ALPHA,
                "failing": self.failing, "evidence": self.evidence, "note": self.note,
                "needed_constant": self.needed_constant, "trend": self.trend, "argument": self.argument,
                "learners": self.learners, "targets": self.targets, "protocol_verdict": self.protocol_verdict,
                "decided_by": self.decided_by, "reading_key": self.reading_key, **self.extra}


def decide(claim: str, reading: str, rows: list[dict], tests: list[dict], note: str = "") -> Verdict:
    """``rows``: measured points with 'C_req' and 'calibration' flags; ``tests``: test points with
    'n', 'failures', 'trials', 'delta' (failures already the conservative count for a refutation)."""
    c_cal = max(r["C_req"] for r in rows if r["calibration"])
    failing = []
    # Holm over the check's simulated test points: the family-wise error of "fails" is <= ALPHA; a point
    # with an exact failure probability ('exact_probability') is decided without statistics
    simulated = [t for t in tests if t.get("exact_probability") is None]
    for t, rejects in zip(simulated, holm([p_exceeds(t["failures"], t["trials"], t["delta"]) for t in simulated])):
        t["rejects"] = rejects
        lo, hi = clopper_pearson(t["failures"], t["trials"])
        t["rate"], t["ci_lo"], t["ci_hi"] = t["failures"] / t["trials"], lo, hi
    for t in tests:
        if t.get("exact_probability") is not None:
            t["rejects"] = bool(t["exact_probability"] > t["delta"])
            t["rate"] = t["ci_lo"] = t["ci_hi"] = t["exact_probability"]
    for t in tests:
        lo, hi = t["ci_lo"], t["ci_hi"]
        if t["rejects"]:
            failing.append({"params": t["params"], "n": t["n"], "failures": t["failures"], "trials": t["trials"],
                            "rate": t["rate"], "ci": [lo, hi], "delta": t["delta"],
                            "exact": t.get("exact_probability") is not None})
    if failing:
        return Verdict(claim, reading, "fails", c_cal, c_cal, failing, note=note)
    return Verdict(claim, reading, "holds", max(r["C_req"] for r in rows), c_cal, note=note)


def test_n(c_cal: float, f: float) -> int:
    return max(1, math.ceil(KAPPA * c_cal * f))
