"""One decision rule for every claim: *holds*, *fails* or *inconclusive*, each with the argument that decided it.

The evidence (all of it computed, none of it assumed):

* **symbolic** (:mod:`experiments.claims`): refutations -- a proven lower bound for every estimator whose
  ratio to the claim's form diverges along a direction -- and supports -- a proven upper bound, achieved
  by an estimator, under the claim's form with a stated constant;
* **trends** (:func:`experiments.verdicts.trend`): the measured constant C_needed = n* / form along each
  direction, ``grows`` when even the least favourable ends of the certified intervals give an exponent
  above 1/2;
* **consistency checks**: the Monte-Carlo engine against exact failure probabilities, the measured n*
  under the proven upper bound its estimator achieves and above the proven lower bounds that bind the
  measured targets (``ok`` each; an entry without ``ok`` counts as failed).

The rule, in order:

1. a consistency check failed                        -> inconclusive (the measurements cannot be trusted);
2. a refutation and a support both                   -> inconclusive (the bounds contradict each other);
3. a refutation                                      -> fails (the proof decides; the trend along its
   direction is reported), unless C_needed measurably shrinks along it -> inconclusive;
4. a support and no direction where C_needed grows   -> holds;  a growing direction -> inconclusive;
5. no proven bound decides                            -> inconclusive (the trend is reported).

Nothing depends on the claim's name: the same function decides the paper's claims and a user's.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Decision:
    verdict: str                 # 'holds' | 'fails' | 'inconclusive'
    decided_by: str              # the argument that decided it, one sentence
    reasons: list = field(default_factory=list)


def _trend_text(t: dict) -> str:
    return f"along {t['direction']} ({t['fixed']}): {t['fitted_rate']}, {'grows' if t['grows'] else 'bounded'}"


def _shrinks(t: dict) -> bool:
    """C_needed falls along the direction even at the most favourable ends of its intervals."""
    return t.get("exponent_interval", [0.0, 0.0])[1] < 0


def decide(arguments: list[dict], trends: list[dict]) -> Decision:
    """The verdict from the evidence (see the module docstring)."""
    checks = [a for a in arguments if a.get("role") == "consistency"]
    broken = [a for a in checks if not a.get("ok", False)]
    refutes = [a for a in arguments if a.get("kind") == "symbolic" and a.get("role") == "refutes" and a.get("diverges")]
    supports = [a for a in arguments if a.get("kind") == "symbolic" and a.get("role") == "supports"
                and a.get("holds_with_constant")]
    grows = [t for t in trends if t["grows"]]
    reasons = [a["statement"] for a in broken + refutes[:1] + supports[:1]] + [_trend_text(t) for t in (grows or trends)[:2]]
    if broken:
        return Decision("inconclusive", "a consistency check failed: " + "; ".join(a["statement"] for a in broken), reasons)
    if refutes and supports:
        return Decision("inconclusive", f"the bounds contradict each other: {refutes[0]['statement']}, yet "
                                        f"{supports[0]['statement']}", reasons)
    if refutes:
        # a proof for every estimator decides, unless the measurements contradict it: C_needed shrinking
        # significantly (exponent interval below 0) along the direction where the proof says it diverges
        against = [t for a in refutes for t in trends if t["direction"] == a["direction"] and _shrinks(t)]
        if against:
            return Decision("inconclusive", f"{refutes[0]['statement']}, but the measured C_needed shrinks "
                                            f"{_trend_text(against[0])}: the bound or the simulation is wrong", reasons)
        for a in refutes:
            up = [t for t in trends if t["direction"] == a["direction"] and t["grows"]]
            if up:
                return Decision("fails", f"{a['statement']}; measured: C_needed {_trend_text(up[0])}", reasons)
        a = refutes[0]
        along = [t for t in trends if t["direction"] == a["direction"]]
        if not along:
            return Decision("fails", f"{a['statement']} (the proof alone: C_needed was not measured along "
                                     f"{a['direction']})", reasons)
        return Decision("fails", f"{a['statement']} (the proof decides; on this grid the measured C_needed "
                                 f"{_trend_text(along[0])}, a growth slower than the grid resolves)", reasons)
    if supports:
        if grows:
            return Decision("inconclusive", f"{supports[0]['statement']}, but the measured C_needed grows "
                                            f"{_trend_text(grows[0])}: a bound or the simulation is wrong", reasons)
        measured = ", ".join(sorted({t["direction"] for t in trends}))
        return Decision("holds", supports[0]["statement"] + (f"; measured: C_needed bounded along {measured}"
                                                            if measured else " (symbolic argument alone)"), reasons)
    if grows:
        return Decision("inconclusive", "no proven bound decides; the measured C_needed grows "
                                        f"{_trend_text(grows[0])} (which suggests the claim fails)", reasons)
    return Decision("inconclusive", "no proven bound decides" + (f"; the measured C_needed is bounded ({_trend_text(trends[0])})"
                                                               if trends else ""), reasons)
