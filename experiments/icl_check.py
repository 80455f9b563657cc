"""Check 7: a learning procedure written as a Turing machine, run in context by the transformer.

* **Cost**: machine steps and prompt length against the number of examples n for both learners
  (:mod:`tm_transformer.icl.learners`), with the fitted growth (least squares on log-log, n >= 8).
  Steps are counted by the reference simulator over the whole grid; the transformer's equal them
  wherever it runs (checked below).
* **Three ways**: every prompt decoded by the transformer (one batched, certified run per learner) is
  checked against the reference simulator step by step and against the direct numpy estimator.
* **Error**: the conditional learner with one context (m = 1, V tokens, target ``PROBS``); the error of
  the in-context answer is TV(counts / n, p), failure = error > ``EPS`` (decided exactly, in rationals).
  The failure count k1 of K prompts per n *through the transformer* is tested two ways, each exact:

  - the one-sample exact binomial test of k1 ~ Bin(K, p_n) against the exact failure probability p_n
    (:func:`experiments.exact.contexts_failure`), :func:`experiments.stats.binomial_p`;
  - Fisher's exact test of k1 of K against the Monte-Carlo engine's count k2 of T trials for the same
    estimator (``contexts`` setting, m = 1): given the margins k1 is hypergeometric,
    :func:`experiments.stats.fisher_p`.

  Holm over all 2 len(ns) p-values at the fixed level ALPHA (family-wise error <= ALPHA). The power
  reported is the one-sample test's, exact, against a failure rate ``SHIFT`` off p_n, at the strictest
  Holm level ALPHA / (2 len(ns)): a lower bound on the power against one false null. When it is below
  ``MIN_POWER`` the verdict is "inconclusive (underpowered)" instead of "holds".
* **Verdict** (claim ``ICL`` in ``verdicts.json``): *fails* when a transformer run is not three-way
  equal or a test rejects; the failing points are listed; ``tmt reproduce`` / ``tmt experiment`` then
  exit 1 (a check of the toolkit itself, unlike the paper's claims C1-C4, whose *fails* is a finding).
  Drawn with the exact failure probability and Weissman's bound (2^V - 2) exp(-2 n eps^2) (the catalogue's
  ``weissman``, inverted), which is >= 1 (vacuous) for n <= 22 at V = 3, eps = 0.2.
"""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
from . import figures

PROBS = (0.5, 0.3, 0.2)
EPS = 0.2
SHIFT = 0.3  # the power of the agreement test is reported against a failure rate this far off
MIN_POWER = 0.8  # below it, "not rejected" is verdict inconclusive (underpowered), not agreement
# the grids (tests shrink them): cost grid and datasets per n (reference simulator); error grid ns, prompts
# per n through the transformer K, engine trials T; threshold prompts through the transformer
GRIDS = {
    "quick": dict(cost=[1, 2, 4, 8, 16, 32, 64], per_n=4, ns=[2, 4, 8, 12], K=32, mc_trials=20_000,
                  threshold=[4, 16, 64], per_threshold=4),
    "full": dict(cost=[1, 2, 4, 8, 16, 32, 64, 128, 256], per_n=16, ns=[2, 4, 8, 16, 24, 32], K=100,
                 mc_trials=200_000, threshold=[4, 16, 64, 256], per_threshold=4),
}


def _fit(ns, ys) -> tuple[float, float]:
    """(exponent b, coefficient a) of y ~ a n^b, least squares on log-log over n >= 8."""
    ns, ys = np.asarray(ns, float), np.asarray(ys, float)
    keep = ns >= 8
    b, loga = np.polyfit(np.log(ns[keep]), np.log(ys[keep]), 1)
    return float(b), float(math.exp(loga))


def _tv_fails(counts, n: int, probs, eps: float) -> bool:
    """TV(counts / n, probs) > eps, exactly (probabilities read as the decimals they are written as)."""
    p = [Fraction(str(x)) for x in probs]
    tv = sum(abs(Fraction(int(c), n) - q) for c, q in zip(counts, p)) / 2
    return tv > Fraction(str(eps))


def _alternative(prob: float, shift: float) -> float:
    """The failure rate ``shift`` away from ``prob``, towards the farther end of [0, 1]."""
    return min(1.0, prob + shift) if prob < 0.5 else max(0.0, prob - shift)


def power_binomial(K: int, prob: float, level: float, shift: float) -> float:
    """P(the one-sample exact binomial test of k1 ~ Bin(K, prob) rejects at ``level``) when the true rate
    is ``shift`` off ``prob``: exact, summed over k1 = 0..K."""
    from scipy.stats import binom

    from .stats import binomial_p

    pmf = binom.pmf(np.arange(K + 1), K, _alternative(prob, shift))
    return float(sum(pk for k1, pk in enumerate(pmf) if binomial_p(k1, K, prob) < level))


def power_fisher(K: int, k2: int, T: int, level: float, shift: float) -> float:
    """The same for Fisher's exact test against the engine's k2 of T, conditional on k2 (the engine's
    rate k2 / T moved by ``shift``)."""
    from scipy.stats import binom

    from .stats import fisher_p

    pmf = binom.pmf(np.arange(K + 1), K, _alternative(k2 / T, shift))
    return float(sum(pk for k1, pk in enumerate(pmf) if fisher_p(k1, K, k2, T) < level))


def agreement(points: list[dict], alpha: float) -> None:
    """Fill ``p_binomial``, ``p_fisher``, ``rejected_binomial``, ``rejected_fisher`` and ``agrees`` of each
    error point (keys ``failures``, ``datasets``, ``mc_failures``, ``mc_trials``, ``exact_probability``):
    the two exact tests per point, Holm over all of them at ``alpha``."""
    from .stats import binomial_p, fisher_p, holm

    for pt in points:
        pt["p_binomial"] = binomial_p(pt["failures"], pt["datasets"], pt["exact_probability"])
        pt["p_fisher"] = fisher_p(pt["failures"], pt["datasets"], pt["mc_failures"], pt["mc_trials"])
    rejected = holm([pt["p_binomial"] for pt in points] + [pt["p_fisher"] for pt in points], alpha)
    for pt, rb, rf in zip(points, rejected[:len(points)], rejected[len(points):]):
        pt["rejected_binomial"], pt["rejected_fisher"] = rb, rf
        pt["agrees"] = not (rb or rf)


def weissman_tail(n, V: int, eps: float):
    """P(TV(p_hat, p) >= eps) <= (2^V - 2) exp(-2 n eps^2), capped at 1."""
    return np.minimum(1.0, (2 ** V - 2) * np.exp(-2 * np.asarray(n, float) * eps ** 2))


def code_version() -> str:
    """A digest of the sources check 7's measurements can come from: the whole ``tm_transformer`` package
    (:func:`experiments.store.toolkit_sources`: the learners, the transformer, the simulators, ...), the
    Monte-Carlo engine and the exact probabilities (a stored measurement of older code is measured again)."""
    import tm_transformer

    from .store import digest_files, toolkit_sources

    here = Path(__file__).resolve().parent
    files = (toolkit_sources()
             + [here / f for f in ("icl_check.py", "check_result.py", "montecarlo.py", "sampling.py", "exact.py",
                                   "estimators.py", "stats.py", "store.py")]
             + sorted((here / "settings").glob("*.py")))
    return digest_files(files, root=Path(tm_transformer.__file__).resolve().parent.parent)


def check_icl(out: Path, quick: bool = True, seed: int = 0, progress: bool = True):
    """Check 7. Its measurements (runs through the transformer, engine counts, exact probabilities) are one
    point of the run's point store, keyed by quick, seed, the grid and :func:`code_version`; the tests, the
    verdict and the figure are recomputed from them, so a re-run with nothing changed only redraws."""
    import json

    from . import store
    from .check_result import CheckResult

    g = GRIDS["quick" if quick else "full"]

    def measure():  # stored as JSON: the same record whether measured now or read back
        return json.loads(json.dumps(_measure(g, quick, seed, progress), default=store._plain))

    m = store.memo("icl_check", {"quick": quick, "seed": seed, "grid": g, "code": code_version()}, measure)
    res = CheckResult("icl")
    return _report(res, out, m, g)


def _measure(g: dict, quick: bool, seed: int, progress: bool) -> dict:
    """Everything check 7 runs: cost rows (reference simulator), the transformer's runs (threshold rows,
    error points before testing) and the prompts not three-way equal."""
    from tm_transformer.icl import get_learner
    from tm_transformer.icl.run import Dataset, random_dataset, run_icl
    from tm_transformer.simulator import simulate

    from .check_result import _bar
    from .exact import contexts_failure
    from .montecarlo import count_failures
    from .stats import clopper_pearson

    rows: list[dict] = []
    rng = np.random.default_rng(seed)
    # ---- cost: steps and prompt length against n (reference simulator) --------------------------------
    sizes = {"conditional": (1, len(PROBS)), "threshold": (8, 2)}  # the configurations run by the transformer
    for name in _bar(list(sizes), "ICL cost", progress):
        learner, (m, V) = get_learner(name), sizes[name]
        spec = learner.spec(m, V)
        for n in g["cost"]:
            steps, lengths = [], []
            for _ in range(g["per_n"]):
                d = random_dataset(learner, n, m, V, rng)
                tape = spec.encode(learner.encode(d.examples, d.query, m, V))
                r = simulate(spec.machine, learner.steps_bound(n, m, V) + 1, tape)
                steps.append(r.steps)
                lengths.append(len(tape) + 1)
            rows.append({"kind": "cost", "learner": name, "m": m, "V": V, "n": n, "datasets": g["per_n"],
                         "mean_steps": float(np.mean(steps)), "max_steps": int(max(steps)),
                         "steps_bound": learner.steps_bound(n, m, V), "prompt_length": int(max(lengths))})

    # ---- error through the transformer, against the exact probability and the engine ------------------
    V = len(PROBS)
    ns, K, mc_trials = g["ns"], g["K"], g["mc_trials"]
    datasets = [Dataset(np.stack([np.zeros(n, np.int64), rng.choice(V, size=n, p=PROBS)], 1), 0)
                for n in ns for _ in range(K)]
    # quick: one batch (one compilation); full: a batch per n, so short prompts do not wait for long ones
    groups = [ns] if quick else [[n] for n in ns]
    runs = [r for grp in groups for r in run_icl("conditional", [d for d in datasets if d.n in grp], 1, V,
                                                  engine="transformer")]
    thr = get_learner("threshold")
    thr_sets = [random_dataset(thr, n, 8, 2, rng) for n in g["threshold"] for _ in range(g["per_threshold"])]
    thr_runs = run_icl(thr, thr_sets, 8, 2, engine="transformer")
    all_runs = runs + thr_runs
    for r in thr_runs:
        rows.append({"kind": "transformer", "learner": "threshold", "n": r.dataset.n, "steps": r.steps,
                     "prompt_length": r.prompt_length, "equals_reference": r.equals_reference,
                     "equals_direct": r.equals_direct})
    for n in _bar(ns, "ICL error", progress):
        mine = [r for r in runs if r.dataset.n == n]
        fails = sum(_tv_fails(r.answer, n, PROBS, EPS) for r in mine)
        mc = count_failures("contexts", n, mc_trials, seed, f"icl/contexts/{n}", probs=np.asarray([PROBS]),
                            eps=EPS, random_allocation=False)
        lo, hi = clopper_pearson(fails, K)
        k2 = mc["failures"]
        rows.append({"kind": "error", "learner": "conditional", "m": 1, "V": V, "probs": str(PROBS), "eps": EPS,
                     "n": n, "datasets": K, "failures": fails, "rate": fails / K, "ci_lo": lo, "ci_hi": hi,
                     "mean_steps": float(np.mean([r.steps for r in mine])), "max_steps": max(r.steps for r in mine),
                     "prompt_length": max(r.prompt_length for r in mine),
                     "equals_reference": all(r.equals_reference for r in mine),
                     "equals_direct": all(r.equals_direct for r in mine),
                     "mc_trials": mc_trials, "mc_failures": k2, "mc_rate": k2 / mc_trials,
                     "exact_probability": contexts_failure(n, np.asarray([PROBS]), EPS),
                     "weissman_bound": float(weissman_tail(n, V, EPS))})
    unequal = [{"learner": r.learner, "m": r.m, "V": r.V, "n": r.dataset.n, "equals_reference": r.equals_reference,
                "equals_direct": r.equals_direct, "answer": r.answer, "prediction": r.prediction}
               for r in all_runs if not (r.equals_reference and r.equals_direct)]
    return {"rows": rows, "unequal": unequal, "prompts": len(all_runs), "steps": sum(r.steps for r in all_runs),
            "largest_n": max(r.dataset.n for r in all_runs)}


def _report(res, out: Path, m: dict, g: dict):
    """Fits, the two exact tests per n, the verdict, the summary and the figure of check 7, from its
    measurements ``m`` (:func:`_measure`)."""
    from tm_transformer.bounds.known import get
    from tm_transformer.errors import ToolkitError

    from .stats import ALPHA

    V, ns, K, mc_trials = len(PROBS), g["ns"], g["K"], g["mc_trials"]
    cost = [dict(r) for r in m["rows"] if r["kind"] == "cost"]
    fits = {}
    for name in dict.fromkeys(r["learner"] for r in cost):
        res.rows += [r for r in cost if r["learner"] == name]
        for quantity in ("mean_steps", "prompt_length"):
            b, a = _fit([r["n"] for r in cost if r["learner"] == name], [r[quantity] for r in cost if r["learner"] == name])
            fits[(name, quantity)] = (b, a)
            res.rows.append({"kind": "fit", "learner": name, "quantity": quantity, "exponent": b, "coefficient": a,
                             "fitted": f"{quantity} ~ {a:.3g} n^{b:.2f}"})
    res.rows += [dict(r) for r in m["rows"] if r["kind"] == "transformer"]
    level = ALPHA / (2 * len(ns))  # the strictest Holm level: the power reported is a lower bound
    points = [dict(r) for r in m["rows"] if r["kind"] == "error"]
    for pt in points:
        pt[f"power_at_shift_{SHIFT}"] = power_binomial(K, pt["exact_probability"], level, SHIFT)
        pt[f"power_fisher_at_shift_{SHIFT}"] = power_fisher(K, pt["mc_failures"], mc_trials, level, SHIFT)
    agreement(points, ALPHA)
    res.rows += points
    # the bound drawn is the catalogue's: inverting it at delta = the tail gives back n
    n_check = get("weissman").evaluate(V=V, eps=EPS, delta=float((2 ** V - 2) * math.exp(-2 * 40 * EPS ** 2)))
    if abs(float(n_check) - 40) >= 1e-6:
        raise ToolkitError(f"check 7: the catalogue's weissman bound inverted at n = 40 gives n = {n_check}: "
                           "the bound drawn is not the catalogue's")
    unequal = m["unequal"]
    agree = all(pt["agrees"] for pt in points)
    powers = [pt[f"power_at_shift_{SHIFT}"] for pt in points]
    if not agree:
        verdict_text = "REJECTED at n = " + ", ".join(str(pt["n"]) for pt in points if not pt["agrees"])
    elif min(powers) < MIN_POWER:
        verdict_text = (f"inconclusive (underpowered: not rejected, power {min(powers):.2f} to {max(powers):.2f} "
                        f"against a rate off by {SHIFT}; run --full for the test)")
    else:
        verdict_text = f"agrees (no test rejects; power {min(powers):.2f} to {max(powers):.2f} against a rate off by {SHIFT})"
    (bc, ac), (bt, at) = fits[("conditional", "mean_steps")], fits[("threshold", "mean_steps")]
    res.summary = (f"steps: conditional ~ {ac:.3g} n^{bc:.2f}, threshold ~ {at:.3g} n^{bt:.2f}; prompt length "
                   f"~ n^{fits[('conditional', 'prompt_length')][0]:.2f}. {m['prompts']} prompts ({m['steps']:,} "
                   f"machine steps, largest n = {m['largest_n']}) decoded by the transformer, every step certified; "
                   f"equal to the reference simulator step by step and to the direct estimator: "
                   f"{'True' if not unequal else f'NO ({len(unequal)} prompts differ)'}. Failure rate P(TV > {EPS}) "
                   f"of the in-context answer (m = 1, p = {PROBS}) through the transformer ({K} prompts per n), tested "
                   f"against the exact probability (exact one-sample binomial test) and against the Monte-Carlo "
                   f"engine ({mc_trials:,} trials; Fisher's exact test), Holm over both tests at every n at level "
                   f"{ALPHA}: {verdict_text}")
    res.verdicts.append(_verdict(unequal, points, verdict_text, K, mc_trials))
    res.figures += _draw(res, out, fits, ns, V)
    return res


def _verdict(unequal: list, points: list[dict], verdict_text: str, K: int, mc_trials: int):
    """Check 7's verdict (claim ``ICL``): *fails* at any transformer run not three-way equal or any rejected test."""
    from .protocol import Verdict

    failing = [{"params": {"learner": r["learner"], "m": r["m"], "V": r["V"], "n": r["n"]}, "n": r["n"],
                "equals_reference": r["equals_reference"], "equals_direct": r["equals_direct"],
                "statement": f"{r['learner']} prompt of n = {r['n']}: the transformer's run "
                             + ("differs from the reference simulator's" if not r["equals_reference"] else
                                f"answers {r['answer']} (prediction {r['prediction']}), not the direct estimator's")}
               for r in unequal]
    for pt in points:
        if not pt["agrees"]:
            tests = [t for t, rej in (("exact binomial vs the exact probability", pt["rejected_binomial"]),
                                      ("Fisher's exact vs the engine", pt["rejected_fisher"])) if rej]
            failing.append({"params": {"learner": "conditional", "m": 1, "V": pt["V"], "n": pt["n"]}, "n": pt["n"],
                            "failures": pt["failures"], "trials": pt["datasets"], "rate": pt["rate"],
                            "exact_probability": pt["exact_probability"], "mc_rate": pt["mc_rate"],
                            "statement": f"n = {pt['n']}: {pt['failures']}/{pt['datasets']} failures through the "
                                         f"transformer, exact {pt['exact_probability']:.3g}, engine "
                                         f"{pt['mc_rate']:.3g}: rejected by " + " and ".join(tests)})
    ok = not failing
    underpowered = ok and verdict_text.startswith("inconclusive")  # not rejected is no agreement without power
    return Verdict(
        claim="ICL", reading="learners run in context by the transformer: three-way equal, failure rate as the "
                             "estimator's", verdict="inconclusive" if underpowered else "holds" if ok else "fails",
        constant=None,
        calibrated_constant=None, failing=failing, evidence=["icl.csv"], note=verdict_text,
        argument=[{"kind": "simulation", "role": "supports" if ok else "refutes",
                   "statement": f"every transformer run equal to the reference simulator and the direct estimator: "
                                f"{not unequal}; failure rate ({K} prompts per n) vs the exact probability and the "
                                f"engine ({mc_trials:,} trials): {verdict_text}"}],
        learners=["conditional", "threshold"], targets=[f"p = {PROBS}"])


def _draw(res, out: Path, fits: dict, ns, V: int) -> list[str]:
    """The figure ``icl`` (:func:`tm_transformer.plots.icl`; ``fits`` are the table's "fit" rows)."""
    from tm_transformer import plots

    ref = reference(V, [r["n"] for r in res.rows if r["kind"] == "error"])
    # the reference curve is weissman_tail of this module (a source of the key) at V and EPS
    return figures.save_drawn(out, "icl", lambda: plots.icl(res.rows, EPS, PROBS, **ref),
                              inputs=[res.rows, EPS, PROBS, V, ref["reference_label"]], sources=[Path(__file__)])


def reference(V: int, ns) -> dict:
    """The Weissman bound as :func:`tm_transformer.plots.icl`'s reference curve (vacuous, >= 1, for small n)."""
    vacuous = math.log(2 ** V - 2) / (2 * EPS ** 2)  # the bound is >= 1 up to this n
    label = "Weissman bound" + (f" (vacuous for $n \\leq$ {math.floor(vacuous)})" if ns and min(ns) <= vacuous else "")
    return {"reference": lambda n: weissman_tail(n, V, EPS), "reference_label": label}

