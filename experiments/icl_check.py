"""Check 7: a learning procedure written as a Turing machine, run in context by the transformer.

* **Cost**: machine steps and prompt length against the number of examples n for both learners
  (:mod:`tm_transformer.icl.learners`), with the fitted growth (least squares on log-log, n >= 8).
  Steps are counted by the reference simulator over the whole grid; the transformer's equal them
  wherever it runs (checked below).
* **Three ways**: every prompt decoded by the transformer (one batched, certified run per learner) is
  checked against the reference simulator step by step and against the direct numpy estimator.
* **Error**: the conditional learner with one context (m = 1, V tokens, target ``PROBS``); the error of
  the in-context answer is TV(counts / n, p), failure = error > ``EPS`` (decided exactly, in rationals).
  Failure rates measured *through the transformer* on K random prompts per n are compared with the
  Monte-Carlo engine's rate for the same estimator (``contexts`` setting, m = 1) by the exact two-sample
  test :func:`experiments.stats.rates_differ` (Holm-corrected over the n's at level ALPHA), and drawn
  with the exact failure probability and Weissman's bound (2^V - 2) exp(-2 n eps^2) (the catalogue's
  ``weissman``, inverted).
"""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from . import figures

PROBS = (0.5, 0.3, 0.2)
EPS = 0.2
SHIFT = 0.3  # the power of the agreement test is reported against a failure rate this far off


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


def _two_sample_p(k1: int, K: int, k2: int, T: int) -> float:
    """Exact two-sample test of one shared rate (conditional on k1 + k2, k1 is binomial), as stats.rates_differ."""
    return 1.0 if k1 + k2 == 0 else float(binomtest(k1, k1 + k2, K / (K + T)).pvalue)


def _power(K: int, k2: int, T: int, alpha: float, shift: float) -> float:
    """The probability that the test rejects at level ``alpha`` when the transformer's failure rate is the
    engine's k2 / T moved by ``shift`` (towards the farther end of [0, 1]): exact, summed over k1 = 0..K."""
    from scipy.stats import binom

    rate = k2 / T
    alt = min(1.0, rate + shift) if rate < 0.5 else max(0.0, rate - shift)
    pmf = binom.pmf(np.arange(K + 1), K, alt)
    return float(sum(pk for k1, pk in enumerate(pmf) if _two_sample_p(k1, K, k2, T) < alpha))


def weissman_tail(n, V: int, eps: float):
    """P(TV(p_hat, p) >= eps) <= (2^V - 2) exp(-2 n eps^2), capped at 1."""
    return np.minimum(1.0, (2 ** V - 2) * np.exp(-2 * np.asarray(n, float) * eps ** 2))


def check_icl(out: Path, quick: bool = True, seed: int = 0, progress: bool = True):
    from tm_transformer.bounds import get
    from tm_transformer.icl import get_learner
    from tm_transformer.icl.run import Dataset, random_dataset, run_icl
    from tm_transformer.simulator import simulate

    from .checks import CheckResult, _bar
    from .exact import contexts_failure
    from .montecarlo import count_failures
    from .stats import ALPHA, clopper_pearson, holm

    res = CheckResult("icl")
    rng = np.random.default_rng(seed)
    # ---- cost: steps and prompt length against n (reference simulator) --------------------------------
    sizes = {"conditional": (1, len(PROBS)), "threshold": (8, 2)}  # the configurations run by the transformer
    grid = [1, 2, 4, 8, 16, 32, 64] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    per_n = 4 if quick else 16
    fits = {}
    for name in _bar(list(sizes), "ICL cost", progress):
        learner, (m, V) = get_learner(name), sizes[name]
        spec = learner.spec(m, V)
        for n in grid:
            steps, lengths = [], []
            for _ in range(per_n):
                d = random_dataset(learner, n, m, V, rng)
                tape = spec.encode(learner.encode(d.examples, d.query, m, V))
                r = simulate(spec.machine, learner.steps_bound(n, m, V) + 1, tape)
                steps.append(r.steps)
                lengths.append(len(tape) + 1)
            res.rows.append({"kind": "cost", "learner": name, "m": m, "V": V, "n": n, "datasets": per_n,
                             "mean_steps": float(np.mean(steps)), "max_steps": int(max(steps)),
                             "steps_bound": learner.steps_bound(n, m, V), "prompt_length": int(max(lengths))})
        cost = [r for r in res.rows if r["kind"] == "cost" and r["learner"] == name]
        for quantity in ("mean_steps", "prompt_length"):
            b, a = _fit([r["n"] for r in cost], [r[quantity] for r in cost])
            fits[(name, quantity)] = (b, a)
            res.rows.append({"kind": "fit", "learner": name, "quantity": quantity, "exponent": b, "coefficient": a,
                             "fitted": f"{quantity} ~ {a:.3g} n^{b:.2f}"})

    # ---- error through the transformer, against the Monte-Carlo engine and the bound ------------------
    V = len(PROBS)
    ns = [2, 4, 8, 12] if quick else [2, 4, 8, 16, 24, 32]
    K = 16 if quick else 100  # prompts per n through the transformer (one batch: cost ~ K len(ns) steps^2)
    mc_trials = 20_000 if quick else 200_000
    datasets = [Dataset(np.stack([np.zeros(n, np.int64), rng.choice(V, size=n, p=PROBS)], 1), 0)
                for n in ns for _ in range(K)]
    # quick: one batch (one compilation); full: a batch per n, so short prompts do not wait for long ones
    groups = [ns] if quick else [[n] for n in ns]
    runs = [r for g in groups for r in run_icl("conditional", [d for d in datasets if d.n in g], 1, V,
                                                engine="transformer")]
    thr = get_learner("threshold")
    thr_sets = [random_dataset(thr, n, 8, 2, rng) for n in ([4, 16, 64] if quick else [4, 16, 64, 256]) for _ in range(4)]
    thr_runs = run_icl(thr, thr_sets, 8, 2, engine="transformer")
    all_runs = runs + thr_runs
    three_way = all(r.equals_reference and r.equals_direct for r in all_runs)
    for r in thr_runs:
        res.rows.append({"kind": "transformer", "learner": "threshold", "n": r.dataset.n, "steps": r.steps,
                         "prompt_length": r.prompt_length, "equals_reference": r.equals_reference,
                         "equals_direct": r.equals_direct})
    points = []
    for n in _bar(ns, "ICL error", progress):
        mine = [r for r in runs if r.dataset.n == n]
        fails = sum(_tv_fails(r.answer, n, PROBS, EPS) for r in mine)
        mc = count_failures("contexts", n, mc_trials, seed, f"icl/contexts/{n}", probs=np.asarray([PROBS]),
                            eps=EPS, random_allocation=False)
        lo, hi = clopper_pearson(fails, K)
        k1, k2 = fails, mc["failures"]
        p = _two_sample_p(k1, K, k2, mc_trials)
        power = _power(K, k2, mc_trials, ALPHA / len(ns), SHIFT)
        points.append({"kind": "error", "learner": "conditional", "m": 1, "V": V, "probs": str(PROBS), "eps": EPS,
                       "n": n, "datasets": K, "failures": fails, "rate": fails / K, "ci_lo": lo, "ci_hi": hi,
                       "mean_steps": float(np.mean([r.steps for r in mine])), "max_steps": max(r.steps for r in mine),
                       "prompt_length": max(r.prompt_length for r in mine),
                       "equals_reference": all(r.equals_reference for r in mine),
                       "equals_direct": all(r.equals_direct for r in mine),
                       "mc_trials": mc_trials, "mc_failures": k2, "mc_rate": k2 / mc_trials,
                       "exact_probability": contexts_failure(n, np.asarray([PROBS]), EPS),
                       "weissman_bound": float(weissman_tail(n, V, EPS)), "p_value": p,
                       f"power_at_shift_{SHIFT}": power})
    rejected = holm([pt["p_value"] for pt in points], ALPHA)
    for pt, rej in zip(points, rejected):
        pt["agrees"] = not rej
    res.rows += points
    # the bound drawn is the catalogue's: inverting it at delta = the tail gives back n
    n_check = get("weissman").evaluate(V=V, eps=EPS, delta=float((2 ** V - 2) * math.exp(-2 * 40 * EPS ** 2)))
    assert abs(float(n_check) - 40) < 1e-6, n_check
    agree = all(pt["agrees"] for pt in points)
    largest = max(r.dataset.n for r in all_runs)
    steps_through = sum(r.steps for r in all_runs)
    (bc, ac), (bt, at) = fits[("conditional", "mean_steps")], fits[("threshold", "mean_steps")]
    res.summary = (f"steps: conditional ~ {ac:.3g} n^{bc:.2f}, threshold ~ {at:.3g} n^{bt:.2f}; prompt length "
                   f"~ n^{fits[('conditional', 'prompt_length')][0]:.2f}. {len(all_runs)} prompts ({steps_through:,} "
                   f"machine steps, largest n = {largest}) decoded by the transformer, every step certified; equal "
                   f"to the reference simulator step by step and to the direct estimator: {three_way}. Failure "
                   f"rate P(TV > {EPS}) of the in-context answer (m = 1, p = {PROBS}) through the transformer agrees "
                   f"with the Monte-Carlo engine at every n (exact two-sample binomial tests, Holm at {ALPHA}): {agree} "
                   f"(power against a rate off by {SHIFT}: {min(pt[f'power_at_shift_{SHIFT}'] for pt in points):.2f} "
                   f"to {max(pt[f'power_at_shift_{SHIFT}'] for pt in points):.2f} with {K} prompts per n)")
    res.figures += _draw(res, out, fits, ns, V)
    return res


def _draw(res, out: Path, fits: dict, ns, V: int) -> list[str]:
    cost = [r for r in res.rows if r["kind"] == "cost"]
    err = [r for r in res.rows if r["kind"] == "error"]
    fig, axes = figures.new(3, width=3.2, height=2.8)
    for i, name in enumerate(sorted({r["learner"] for r in cost})):
        col = figures.COLOURS[i]
        pts = sorted((r for r in cost if r["learner"] == name), key=lambda r: r["n"])
        xs = np.array([r["n"] for r in pts], float)
        b, a = fits[(name, "mean_steps")]
        tag = f"{name} (m={pts[0]['m']}, V={pts[0]['V']})"
        axes[0].plot(xs, [r["mean_steps"] for r in pts], "o", color=col, ms=3, label=tag)
        axes[0].plot(xs, a * xs ** b, "-", color=col, lw=0.8, label=f"fit {a:.2g} n^{b:.2f}")
        axes[0].plot(xs, [r["steps_bound"] for r in pts], ":", color=col, lw=0.8, label="a-priori bound")
        b, a = fits[(name, "prompt_length")]
        axes[1].plot(xs, [r["prompt_length"] for r in pts], "o", color=col, ms=3, label=tag)
        axes[1].plot(xs, a * xs ** b, "-", color=col, lw=0.8, label=f"fit {a:.2g} n^{b:.2f}")
    tr = [r for r in res.rows if r["kind"] == "transformer"] + [
        {"n": r["n"], "steps": r["max_steps"]} for r in err]
    axes[0].plot([r["n"] for r in tr], [r["steps"] for r in tr], "x", color="k", ms=4, label="run by the transformer")
    axes[0].set(xscale="log", yscale="log", xlabel="examples n", ylabel="machine steps", title="cost of in-context learning")
    axes[0].legend(fontsize=5)
    axes[1].set(xscale="log", yscale="log", xlabel="examples n", ylabel="prompt tokens", title="prompt length")
    axes[1].legend(fontsize=5)
    xs = [r["n"] for r in err]
    axes[2].errorbar(xs, [r["rate"] for r in err], yerr=[[r["rate"] - r["ci_lo"] for r in err],
                     [r["ci_hi"] - r["rate"] for r in err]], fmt="o", color=figures.COLOURS[0], ms=3,
                     label=f"transformer ({err[0]['datasets']}/n, 99% CI)")
    axes[2].plot(xs, [r["mc_rate"] for r in err], "-", color=figures.COLOURS[1], label="Monte-Carlo")
    axes[2].plot(xs, [r["exact_probability"] for r in err], ":", color=figures.COLOURS[2], label="exact")
    grid = np.linspace(min(xs), max(xs), 100)
    axes[2].plot(grid, weissman_tail(grid, V, EPS), "k--", lw=0.8, label="Weissman")
    axes[2].set_xscale("log", base=2)
    axes[2].set_xticks(xs, [str(x) for x in xs])
    axes[2].set(xlabel="examples n", ylabel=f"P(TV > {EPS})", ylim=(-0.02, 1.1),
                title=f"error of the in-context answer (p = {PROBS})")
    axes[2].legend(fontsize=5, loc="best")
    return figures.save(fig, out, "icl")
