"""Verdicts that do not depend on the protocol's knobs.

For a claim "n = C f(params) suffices", the constant a point *needs* is C_needed = n* / f, with the
interval [n*_lo / f, n*_hi / f] from n*'s interval (a point of an exact n* has a zero-width interval).
Along each direction the claim speaks of (delta, eps, V, m, l, d) the trend of C_needed is fitted as a
power of the direction's coordinate g (ln(1/delta), 1/eps, or the size itself): C_needed ~ g^s.
``grows`` when even the least favourable ends of the intervals give s > 1/2 between the easiest and
the hardest point (C_needed grows at least like sqrt(g)); bounded growth towards a limit (Hoeffding's
z^2 / (4 ln(1/delta)) -> 1/2) stays well below that on any grid.

The verdict itself is decided by one rule for every claim, :func:`experiments.decision.decide`: the
symbolic arguments of :mod:`experiments.claims`, these trends and the consistency checks.
"""
from __future__ import annotations

import math

from .decision import decide

COORDINATE = {"delta": ("ln(1/delta)", lambda x: math.log(1 / x)), "eps": ("1/eps", lambda x: 1 / x),
              "V": ("V", float), "m": ("m", float), "l": ("l", float), "d": ("d", float)}
GROWTH_EXPONENT = 0.5


def needed_rows(rows: list[dict], params: list[str]) -> list[dict]:
    out = []
    for r in rows:
        f = r["claim_f"]
        hi = r.get("n_star_hi") if r.get("n_star_hi_certified", True) else None
        out.append({"params": {k: r[k] for k in params if k in r}, "target": r.get("target", ""),
                    "learner": r.get("learner", ""), "n_star": r["n_star"], "n_star_lo": r["n_star_lo"],
                    "n_star_hi": hi, "exact": bool(r.get("exact", False)), "claim_f": f,
                    "C_needed": r["n_star"] / f, "interval": [r["n_star_lo"] / f, (hi / f) if hi is not None else None]})
    return out


def trend(needed: list[dict], direction: str) -> list[dict]:
    """One entry per group of rows that differ only in ``direction`` (at least two values)."""
    name, g = COORDINATE[direction]
    groups: dict = {}
    for r in needed:
        if direction not in r["params"]:
            continue
        key = tuple(sorted((k, v) for k, v in r["params"].items() if k != direction))
        groups.setdefault(key, []).append(r)
    out = []
    for key, pts in groups.items():
        pts = sorted(pts, key=lambda r: g(r["params"][direction]))
        if len({r["params"][direction] for r in pts}) < 2:
            continue
        a, b = pts[0], pts[-1]
        span = math.log(g(b["params"][direction]) / g(a["params"][direction]))
        if span <= 0:
            continue
        s = math.log(b["C_needed"] / a["C_needed"]) / span
        lo_end = b["interval"][0]
        hi_start = a["interval"][1] if a["interval"][1] is not None else a["C_needed"]
        s_lo = math.log(lo_end / hi_start) / span if lo_end > 0 and hi_start > 0 else -math.inf
        s_hi = (math.log(b["interval"][1] / a["interval"][0]) / span
                if b["interval"][1] is not None and a["interval"][0] > 0 else math.inf)
        out.append({"direction": direction, "fixed": dict(key), "coordinate": name,
                    "values": [r["params"][direction] for r in pts], "C_needed": [r["C_needed"] for r in pts],
                    "exponent": s, "exponent_interval": [s_lo, s_hi], "grows": bool(s_lo > GROWTH_EXPONENT),
                    "fitted_rate": f"C_needed ~ {name}^{s:.2f} (exponent interval {s_lo:.2f} to {s_hi:.2f})",
                    "targets": sorted({r["target"] for r in pts}), "learners": sorted({r["learner"] for r in pts})})
    return out


def compose(v, needed: list[dict], directions: list[str], arguments: list[dict], learners: list, targets: list,
            simulation: list[dict] | None = None) -> None:
    """Fill the constant-free fields of verdict ``v`` and decide it by :func:`experiments.decision.decide`
    from the arguments, the consistency checks among ``simulation`` and the trends of ``needed``."""
    v.protocol_verdict = v.verdict
    v.needed_constant = needed
    v.trend = [t for d in directions for t in trend(needed, d)]
    v.argument = list(arguments) + list(simulation or [])
    v.learners, v.targets = list(learners), list(targets)
    decision = decide(v.argument, v.trend)
    v.verdict, v.decided_by = decision.verdict, decision.decided_by
    if v.verdict == "holds":
        # the largest constant needed, at the conservative end of each interval
        v.constant = max([r["interval"][1] if r["interval"][1] is not None else r["C_needed"] for r in needed] + [0.0]) \
            or v.constant
    v.note = (v.note + " | " if v.note else "") + " | ".join(decision.reasons)
