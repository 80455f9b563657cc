"""Check a claim given as data (:class:`experiments.claims.Claim`), the paper's or a user's, end to end.

For every point of the claim's grid: n* of its setting (exact where it can be enumerated, else a certified
simulation; the largest over the setting's target family), C_needed = n* / form, the trend along each
direction, the symbolic arguments -- then the one decision rule (:mod:`experiments.decision`). The
result is a :class:`experiments.protocol.Verdict` whose ``as_dict()`` has the keys of every entry of
``verdicts.json``::

    from tm_transformer.experiments import check_claim
    from tm_transformer.experiments.claims import find
    v = check_claim(find("C4"), grid={"eps": [0.2, 0.1], "delta": [0.1, 0.01]})
    v.verdict, v.decided_by
"""
from __future__ import annotations

from itertools import product
from typing import Any

from tm_transformer.errors import ToolkitError

from .claims import Claim
from .nstar import SETTINGS, nstar
from .protocol import Verdict
from .verdicts import compose, needed_rows

_WORST_CASE = {"coin", "contexts", "sequences"}  # settings with a target family to take the worst of


def measure(claim: Claim, grid: dict, trials: int | None = None, seed: int = 0, learner: str | None = None,
            max_points: int | None = None) -> list[dict]:
    """One row per grid point: the params, n* (with its interval, target and learner) and the claim's
    form at C = 1 (``claim_f``)."""
    rows = []
    for values in product(*grid.values()):
        params = dict(zip(grid, values))
        kw: dict[str, Any] = {"learner": learner} if learner else {}
        ns = nstar(claim.setting, params, worst_case=claim.setting in _WORST_CASE, trials=trials, seed=seed,
                   max_points=max_points, **kw)
        rows.append({**params, "target": ns.target, "learner": ns.learner, "n_star": ns.n_star,
                     "n_star_lo": ns.n_star_lo, "n_star_hi": ns.n_star_hi, "exact": ns.exact,
                     "claim_f": claim.f(**params)})
    return rows


def check_claim(claim: Claim, grid: dict | None = None, consistency: list[dict] | None = None,
                trials: int | None = None, seed: int = 0, learner: str | None = None,
                max_points: int | None = None) -> Verdict:
    """The verdict on ``claim`` over ``grid`` (default: the claim's own), decided by
    :func:`experiments.decision.decide` from its arguments, the measured trends, the check that n* sits
    above every lower bound that binds the measured targets (:meth:`Claim.lower_consistency`) and
    ``consistency`` (extra checks, each ``{"role": "consistency", "ok": bool, "statement": str}``: e.g.
    your simulation against an exact value)."""
    grid = dict(grid if grid is not None else claim.grid)
    if claim.setting not in SETTINGS:
        raise ToolkitError(f"claim {claim.name!r}: setting {claim.setting!r}: expected one of {', '.join(SETTINGS)}")
    if not grid:
        raise ToolkitError(f"claim {claim.name!r}: grid: expected {{variable: [values]}} with at least eps and delta")
    for k, vals in grid.items():
        if not isinstance(vals, (list, tuple)) or not vals:
            raise ToolkitError(f"claim {claim.name!r}: grid[{k!r}]: expected a non-empty list of values")
    missing = {"eps", "delta"} - set(grid)
    if missing:
        raise ToolkitError(f"claim {claim.name!r}: grid: missing {', '.join(sorted(missing))}")
    odd = [d for d in claim.directions if d not in ("delta", "eps", "V", "m", "l", "d")]
    if odd:
        raise ToolkitError(f"claim {claim.name!r}: directions {odd}: expected among delta, eps, V, m, l, d")
    rows = measure(claim, grid, trials, seed, learner, max_points)
    v = Verdict(claim.name, claim.reading, "", None, 0.0,
                note=f"setting {claim.setting}; n* the largest over the setting's target family"
                     if claim.setting in _WORST_CASE else f"setting {claim.setting}")
    v.reading_key = claim.key
    checks = claim.lower_consistency(rows) + list(consistency or [])
    compose(v, needed_rows(rows, [k for k in grid if k != "reading"]), list(claim.directions), claim.arguments(),
            sorted({r["learner"] for r in rows}), sorted({r["target"] for r in rows}), checks)
    return v
