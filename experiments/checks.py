"""The checks of docs/CLAIMS.md 1-6: each measures, decides and draws.

Every check returns a :class:`CheckResult`: tidy rows (one per measured grid point), test rows (one per
point where the calibrated claim is tested), verdicts, and the figure files it wrote. Grids come in a
quick and a full size; the quick one is meant to reach the same verdicts in a few minutes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np

from tm_transformer.bounds import get
from tm_transformer.bounds.compare import compare

from . import figures
from .montecarlo import constant_cost, count_failures, has_reduction
from .protocol import KAPPA, decide, test_n
from .stats import search_n_star


@dataclass
class CheckResult:
    name: str
    rows: list = field(default_factory=list)
    tests: list = field(default_factory=list)
    verdicts: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    summary: str = ""


def trials_for(delta: float, quick: bool, cheap: bool = False) -> int:
    """Enough trials that a failure rate near delta is seen (about 30/delta quick, 100/delta full), within
    a budget; ``cheap`` settings (a few random words a trial whatever n) get a 50x larger one, enough to
    certify n* down to delta = 1e-5."""
    cap = (60_000 if quick else 400_000) * (50 if cheap else 1)
    return int(min(cap, max(1_000, math.ceil((30 if quick else 100) / delta))))


def _bar(items, desc, progress):
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, disable=None)  # silent when not on a terminal


def _hi(ns) -> int:
    """The conservative n* (CP upper bound), or the point estimate where the trials cannot certify it
    (rows say which in ``n_star_hi_certified``)."""
    return ns.n_hi if ns.n_hi is not None else ns.n


def _measure(setting, kw, delta, n0, trials, seed, tag, conservative_key="failures"):
    """n* by search; the failure count used is ``conservative_key`` (for the perceptron the upper count)."""
    def failures(n):
        r = count_failures(setting, n, trials, seed, tag, **kw)
        k = r["failures"] + (r.get("unconverged", 0) if conservative_key == "upper" else 0)
        return k, r["trials"]
    return search_n_star(failures, delta, n0=n0)


# ---- 1: symbolic ------------------------------------------------------------------------------------
SYMBOLIC_PAIRS = [
    ("C1", "union_contexts", "V", {"C": 1}), ("C1", "union_contexts", "m", {"C": 1}),
    ("C2", "seq_union", "l", {"C": 1}), ("C2", "tv_sequences", "l", {"C": 1, "V": 2, "eps": 0.1, "delta": 0.05}),
    ("C3", "halfspace_optimal", "delta", {"C": 1}), ("C3", "behw", "delta", {"C": 1, "d": 10, "eps": 0.1}),
    ("C4", "hoeffding", "delta", {"C": 1}), ("C4", "hoeffding", "eps", {"C": 1}),
]


def check_symbolic(out: Path, quick: bool = True, seed: int = 0, progress: bool = True) -> CheckResult:
    res = CheckResult("symbolic")
    for a, b, along, fixed in _bar(SYMBOLIC_PAIRS, "symbolic", progress):
        c = compare(get(a), get(b), along, **fixed)
        d = c.as_dict()
        res.rows.append({"a": a, "b": b, "along": along, "fixed": str(fixed), "ratio": d["ratio"], "limit": d["limit"],
                         "limit_point": d["limit_point"], "limit_value": d["limit_value"]})
    fig, axes = figures.new(3, width=2.6)
    V = np.arange(2, 200)
    for m, col in zip((1, 10, 100), figures.COLOURS):
        r = get("C1").evaluate(C=1, m=m, V=V, eps=0.1, delta=0.05) / get("union_contexts").evaluate(m=m, V=V, eps=0.1, delta=0.05)
        axes[0].plot(V, r, color=col, label=f"m={m}")
        axes[0].axhline(2 * math.log(m / 0.05) / math.log(2), color=col, ls=":", lw=0.8)
    axes[0].set(xlabel="V", ylabel="C1 (C=1) / union bound", title="C1 vs union bound (dotted: limit)")
    axes[0].legend()
    l = np.arange(1, 13)
    axes[1].semilogy(l, get("C2").evaluate(C=1, l=l, V=2, eps=0.1, delta=0.05) / get("tv_sequences").evaluate(l=l, V=2, eps=0.1, delta=0.05, relaxed=True), label="C2 / TV over V^l")
    axes[1].semilogy(l, get("C2").evaluate(C=1, l=l, V=2, eps=0.1, delta=0.05) / get("seq_union").evaluate(l=l, V=2, eps=0.1, delta=0.05, relaxed=True), label="C2 / per-sequence")
    axes[1].set(xlabel="l (V=2)", title="C2: TV needs V^l")
    axes[1].legend()
    delta = np.geomspace(1e-12, 0.5, 100)
    axes[2].semilogx(delta, get("C3").evaluate(C=1, d=10, eps=0.1) / get("halfspace_optimal").evaluate(C=1, d=10, eps=0.1, delta=delta), label="C3 / (d+ln 1/delta)/eps")
    axes[2].semilogx(delta, get("C4").evaluate(C=0.5, eps=0.1, delta=delta) / get("hoeffding").evaluate(eps=0.1, delta=delta), label="C4 (C=1/2) / Hoeffding")
    axes[2].set(xlabel="delta", title="C3 -> 0, C4 -> 1 as delta -> 0")
    axes[2].legend()
    res.figures += figures.save(fig, out, "symbolic_ratios")
    res.summary = "; ".join(f"{r['a']}/{r['b']} along {r['along']} -> {r['limit']}" for r in res.rows)
    return res


# ---- 2: next-token estimation over m contexts (C1) -----------------------------------------------------
def _probs(target: str, m: int, V: int, rng) -> np.ndarray:
    if target == "uniform":
        return np.full((m, V), 1.0 / V)
    if target == "dirichlet":
        return rng.dirichlet(np.ones(V), size=m)
    raise ValueError(f"target {target!r}: expected 'uniform' or 'dirichlet'")


def check_contexts(out: Path, quick: bool = True, seed: int = 0, progress: bool = True, target: str = "uniform",
                   random_allocation: bool = False) -> CheckResult:
    grid = dict(V=[2, 8] if quick else [2, 4, 8, 16, 32], m=[1, 4] if quick else [1, 4, 16],
                eps=[0.2] if quick else [0.2, 0.1], delta=[0.1, 0.01] if quick else [0.1, 0.01, 0.001])
    res = CheckResult("contexts")
    rng = np.random.default_rng(seed)
    points = list(product(*grid.values()))
    for V, m, eps, delta in _bar(points, "C1 contexts", progress):
        probs = _probs(target, m, V, rng)
        tag = f"contexts/{target}/{random_allocation}/{V}/{m}/{eps}/{delta}"
        kw = dict(probs=probs, eps=eps, random_allocation=random_allocation)
        T = trials_for(delta, quick)
        n0 = max(1, int(get("weissman").evaluate(V=V, eps=eps, delta=delta) / 8))
        ns = _measure("contexts", kw, delta, n0, T, seed, tag)
        f = get("C1").evaluate(C=1, m=m, V=V, eps=eps, delta=delta)
        res.rows.append({"V": V, "m": m, "eps": eps, "delta": delta, "target": target,
                         "sampler": "reduced" if has_reduction("contexts", kw) else "direct", "trials": T,
                         "n_star": m * ns.n, "n_star_lo": m * ns.n_lo, "n_star_hi": m * _hi(ns), "n_star_hi_certified": ns.n_hi is not None, "claim_f": f,
                         "C_req": m * _hi(ns) / f, "union_bound": get("union_contexts").evaluate(m=m, V=V, eps=eps, delta=delta),
                         "calibration": V == grid["V"][0] and m == grid["m"][0] and eps == max(grid["eps"]) and delta == max(grid["delta"]),
                         "_kw": kw, "_tag": tag})
    _test_points(res, "contexts", quick, seed, per=lambda r: r["m"])
    v = decide("C1", "max over the m contexts of TV(in-context, fine-tuned next-token distribution)", res.rows, res.tests,
               note=f"induction-head estimator, {target} targets, contexts "
                    f"{'drawn at random' if random_allocation else 'allocated evenly'}")
    res.verdicts.append(v)
    res.figures += _plot_nstar(res, out, "contexts_nstar", x="V", series="m", claim="C1", ref="union_bound",
                               title="C1: n* vs V")
    return res


def _test_points(res: CheckResult, setting: str, quick: bool, seed: int, per=lambda r: 1):
    c_cal = max(r["C_req"] for r in res.rows if r["calibration"])
    for r in res.rows:
        if r["calibration"]:
            continue
        n_total = test_n(c_cal, r["claim_f"])
        n_setting = max(1, n_total // per(r))  # contexts: n per context
        T = trials_for(r["delta"], quick, constant_cost(setting, r["_kw"]))
        c = count_failures(setting, n_setting, T, seed + 1, r["_tag"] + "/test", **r["_kw"])
        res.tests.append({"params": {k: r[k] for k in r if k in ("V", "m", "l", "d", "eps", "delta", "reading")},
                          "n": n_setting * per(r), "failures": c["failures"], "trials": T, "delta": r["delta"],
                          "unconverged": c.get("unconverged", 0)})


def _plot_nstar(res, out, name, x, series, claim, ref, title, reading=None):
    rows = [r for r in res.rows if reading is None or r.get("reading") == reading]
    v = res.verdicts[-1]
    fig, axes = figures.new(2, width=3.8, height=3.0)
    keys = sorted({(r[series], r["eps"], r["delta"]) for r in rows})
    for i, key in enumerate(keys):
        pts = sorted((r for r in rows if (r[series], r["eps"], r["delta"]) == key), key=lambda r: r[x])
        xs = [r[x] for r in pts]
        col = figures.COLOURS[i % len(figures.COLOURS)]
        axes[0].errorbar(xs, [r["n_star"] for r in pts], yerr=[[r["n_star"] - r["n_star_lo"] for r in pts],
                         [r["n_star_hi"] - r["n_star"] for r in pts]], fmt="o", color=col,
                         label=f"n*, {series}={key[0]}, eps={key[1]}, delta={key[2]}")
        axes[0].plot(xs, [v.constant * r["claim_f"] for r in pts], "-", color=col, lw=0.8)
        axes[0].plot(xs, [r[ref] for r in pts], ":", color=col, lw=0.8)
        axes[1].plot(xs, [r["n_star"] / r["claim_f"] for r in pts], "o-", color=col)
    xs_all = [r[x] for r in rows]
    xscale = "log" if max(xs_all) / min(xs_all) >= 20 else "linear"
    axes[0].set(xscale=xscale, yscale="log", xlabel=x, ylabel="examples",
                title=f"{title}\nline: {claim} at C={v.constant:.3g}; dotted: {ref}")
    axes[0].legend(fontsize=5)
    axes[1].axhline(v.calibrated_constant * KAPPA, color="grey", ls="--", lw=0.8, label=f"{KAPPA} x calibrated C")
    axes[1].set(xscale=xscale, yscale="log", xlabel=x, ylabel=f"n* / f_{claim}  (constant needed)",
                title=f"{claim} ({v.reading[:40]}): {v.verdict}")
    axes[1].legend()
    return figures.save(fig, out, name)


# ---- 3: length-l outputs (C2) -------------------------------------------------------------------------
def check_sequences(out: Path, quick: bool = True, seed: int = 0, progress: bool = True) -> CheckResult:
    V = 2
    grid = dict(l=[1, 2, 4, 8] if quick else [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], eps=[0.2] if quick else [0.2, 0.1],
                delta=[0.1] if quick else [0.1, 0.01])
    res = CheckResult("sequences")
    for reading in ("tv", "linf"):
        rows = []
        for l, eps, delta in _bar(list(product(*grid.values())), f"C2 {reading}", progress):
            W = V ** l
            probs = np.full(W, 1.0 / W)  # uniform over sequences: the hardest case for TV
            tag = f"sequences/{reading}/{l}/{eps}/{delta}"
            kw = dict(probs=probs, eps=eps, reading=reading)
            T = trials_for(delta, quick)
            ns = _measure("sequences", kw, delta, 4, T, seed, tag)
            f = get("C2").evaluate(C=1, l=l, V=V, eps=eps, delta=delta)
            rows.append({"reading": reading, "V": V, "l": l, "eps": eps, "delta": delta,
                         "sampler": "reduced" if has_reduction("sequences", kw) else "direct", "trials": T, "n_star": ns.n,
                         "n_star_lo": ns.n_lo, "n_star_hi": _hi(ns), "n_star_hi_certified": ns.n_hi is not None, "claim_f": f, "C_req": _hi(ns) / f,
                         "tv_bound": get("tv_sequences").evaluate(l=l, V=V, eps=eps, delta=delta),
                         "seq_union_bound": get("seq_union").evaluate(l=l, V=V, eps=eps, delta=delta),
                         "calibration": l == grid["l"][0] and eps == max(grid["eps"]) and delta == max(grid["delta"]),
                         "_kw": kw, "_tag": tag})
        sub = CheckResult("sequences", rows=rows)
        _test_points(sub, "sequences", quick, seed)
        label = "TV over length-l outputs" if reading == "tv" else "per-sequence probability error (L-infinity) over length-l outputs"
        v = decide("C2", label, rows, sub.tests, note=f"empirical sequence distribution, uniform over V^l, V={V}")
        res.rows += rows
        res.tests += sub.tests
        res.verdicts.append(v)
        res.figures += _plot_nstar(res, out, f"sequences_nstar_{reading}", x="l", series="V", claim="C2",
                                   ref="tv_bound" if reading == "tv" else "seq_union_bound",
                                   title=f"C2 ({reading}): n* vs l", reading=reading)
    return res


# ---- 4: halfspaces (C3) -------------------------------------------------------------------------------
_LEARNER_NOTES = {
    "consistent": "consistent learner: the version-space midpoint for d = 2, the perceptron to zero training error above",
    "perceptron": "consistent learner: the perceptron run to zero training error",
    "midpoint": "consistent learner: the version-space midpoint (d = 2)",
    "gd": "one gradient step from w = 0 (a linear-attention head; not a consistent learner, needs about d/eps^2)",
}

def check_halfspaces(out: Path, quick: bool = True, seed: int = 0, progress: bool = True,
                     learner: str = "consistent", noise: float = 0.0) -> CheckResult:
    grid = dict(d=[2] if quick else [2, 4], eps=[0.2, 0.1] if quick else [0.2, 0.1],
                delta=[0.1, 0.01, 0.001, 0.0001, 0.00001])
    res = CheckResult("halfspaces")
    for d, eps, delta in _bar(list(product(*grid.values())), "C3 halfspaces", progress):
        tag = f"halfspace/{learner}/{d}/{eps}/{delta}" + (f"/noise={noise}" if noise else "")
        kw = dict(d=d, eps=eps, learner=learner, noise=noise)
        T = trials_for(delta, quick, constant_cost("halfspace", kw))
        # calibration uses the conservative count (unconverged trials as failures)
        ns = _measure("halfspace", kw, delta, max(2, d), T, seed, tag, conservative_key="upper")
        f = get("C3").evaluate(C=1, d=d, eps=eps)
        res.rows.append({"d": d, "eps": eps, "delta": delta, "learner": learner, "noise": noise,
                         "sampler": "reduced" if has_reduction("halfspace", kw) else "direct", "trials": T, "n_star": ns.n,
                         "n_star_lo": ns.n_lo, "n_star_hi": _hi(ns), "n_star_hi_certified": ns.n_hi is not None, "claim_f": f, "C_req": _hi(ns) / f,
                         "optimal_rate": get("halfspace_optimal").evaluate(C=1, d=d, eps=eps, delta=delta),
                         "behw_bound": get("behw").evaluate(d=d, eps=eps, delta=delta),
                         "calibration": d == grid["d"][0] and eps == max(grid["eps"]) and delta == max(grid["delta"]),
                         "_kw": kw, "_tag": tag})
    # the calibrated claim tested at every point; failures count only converged trials (a refutation
    # must not lean on the learner's cap)
    _test_points(res, "halfspace", quick, seed)
    reading = ("0-1 disagreement with the target halfspace (realizable, Gaussian inputs)" if not noise else
               f"0-1 disagreement with the target halfspace (excess error; labels flipped at rate {noise}, Gaussian inputs)")
    v = decide("C3", reading, res.rows, res.tests,
               note=_LEARNER_NOTES[learner] + f"; {sum(t['unconverged'] for t in res.tests)} perceptron test trials "
                                               f"hit the epoch cap and count as successes")
    res.verdicts.append(v)
    res.figures += _plot_nstar(res, out, "halfspaces_nstar", x="delta", series="d", claim="C3", ref="optimal_rate",
                               title="C3: n* vs delta")
    fig, axes = figures.new(1, width=3.6)
    for i, (d, eps) in enumerate(product(grid["d"], grid["eps"])):
        pts = sorted((t for t in res.tests if t["params"]["d"] == d and t["params"]["eps"] == eps), key=lambda t: t["delta"])
        if not pts:
            continue
        xs = [t["delta"] for t in pts]
        axes[0].errorbar(xs, [t["rate"] for t in pts], yerr=[[t["rate"] - t["ci_lo"] for t in pts],
                         [t["ci_hi"] - t["rate"] for t in pts]], fmt="o-", color=figures.COLOURS[i], label=f"d={d}, eps={eps}")
    xs = np.geomspace(min(grid["delta"]) / 2, 1, 10)
    axes[0].plot(xs, xs, "k--", lw=0.8, label="failure = delta")
    axes[0].set(xscale="log", yscale="log", xlabel="delta", ylabel=f"P(error > eps) at n = {KAPPA:g} C d/eps",
                title=f"C3 with the calibrated constant: {v.verdict}")
    axes[0].legend()
    res.figures += figures.save(fig, out, "halfspaces_failure_vs_delta")
    return res


# ---- 5: fixed context (C4) ----------------------------------------------------------------------------
def check_coin(out: Path, quick: bool = True, seed: int = 0, progress: bool = True, p: float = 0.5) -> CheckResult:
    grid = dict(eps=[0.2, 0.1] if quick else [0.2, 0.1, 0.05, 0.025], delta=[0.1, 0.01, 0.001] if quick else [0.1, 0.01, 0.001, 0.0001])
    res = CheckResult("coin")
    for eps, delta in _bar(list(product(*grid.values())), "C4 coin", progress):
        tag = f"coin/{p}/{eps}/{delta}"
        kw = dict(p=p, eps=eps)
        T = trials_for(delta, quick, cheap=True)
        ns = _measure("coin", kw, delta, 4, T, seed, tag)
        f = get("C4").evaluate(C=1, eps=eps, delta=delta)
        res.rows.append({"p": p, "eps": eps, "delta": delta, "sampler": "reduced", "trials": T, "n_star": ns.n, "n_star_lo": ns.n_lo,
                         "n_star_hi": _hi(ns), "n_star_hi_certified": ns.n_hi is not None, "claim_f": f, "C_req": _hi(ns) / f,
                         "hoeffding_bound": get("hoeffding").evaluate(eps=eps, delta=delta),
                         "calibration": eps == max(grid["eps"]) and delta == max(grid["delta"]), "_kw": kw, "_tag": tag,
                         "series": 1})
    _test_points(res, "coin", quick, seed)
    v = decide("C4", "error of one estimated probability |p_hat - p|", res.rows, res.tests,
               note=f"empirical frequency (one attention head), p = {p} (the worst case)")
    res.verdicts.append(v)
    res.figures += _plot_nstar(res, out, "coin_nstar", x="delta", series="series", claim="C4", ref="hoeffding_bound",
                               title="C4: n* vs delta")
    return res


# ---- 6: the Turing-machine transformer ----------------------------------------------------------------
def check_transformer(out: Path, quick: bool = True, seed: int = 0, progress: bool = True) -> CheckResult:
    from tm_transformer import parse_machine, simulate
    from tm_transformer.transformer.decode import run
    from tm_transformer.transformer.envelope import MANTISSA_BITS, min_beta, steps_exact
    from tm_transformer.transformer.frontier import beta_frontier, envelope_steps, real_steps_frontier, steps_frontier

    res = CheckResult("transformer")
    published = ["1RB1LB_1LA1RZ", "1RB1RZ_1LB0RC_1LC1LA", "1RB1RZ_0RC1RB_1LC1LA", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA",
                 "1RB2LB1RZ_2LA2RB1LB", "1RB2LA1RA1RA_1LB1LA3RB1RZ", "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA"]
    T = 2_000 if quick else 100_000
    machines = [parse_machine(s) for s in published]
    runs = run(machines, T, head_range=1000).results
    for s, m, r in zip(published, machines, runs):
        ref = simulate(m, T)
        res.rows.append({"kind": "exactness", "machine": s, "steps": r.steps, "exact": bool(r.trace == ref.trace),
                         "dtype": "float32"})
    for dtype in _bar(["bfloat16", "float16", "float32", "float64"], "TM frontier", progress):
        row = {"kind": "frontier", "dtype": dtype, "mantissa_bits": MANTISSA_BITS[dtype]}
        for R in (4, 100, 1000):
            row[f"envelope_R{R}"] = steps_exact(MANTISSA_BITS[dtype], R)
            row[f"probe_R{R}"] = steps_frontier(dtype, R) if dtype != "float64" else None
        if dtype in ("bfloat16", "float16"):
            row["envelope_free_range"] = envelope_steps(dtype)
            row["real_free_range"] = real_steps_frontier(dtype, limit=512, n_machines=8, seed=seed)
        res.rows.append(row)
    Ns = [10, 100] if quick else [10, 100, 1000, 3000]
    for N in _bar(Ns, "softmax beta", progress):
        res.rows.append({"kind": "beta", "steps": N, "envelope_beta": min_beta(N + 1),
                         "real_beta": beta_frontier(N, N + 8, n_machines=4, seed=seed, tol=0.1)})
    exact = all(r["exact"] for r in res.rows if r["kind"] == "exactness")
    sound = all((r.get(f"probe_R{R}") is None or r[f"probe_R{R}"] > r[f"envelope_R{R}"]) for r in res.rows
                if r["kind"] == "frontier" for R in (4, 100, 1000)) and all(
        r["real_free_range"] > r["envelope_free_range"] for r in res.rows if r["kind"] == "frontier" and "real_free_range" in r)
    res.summary = (f"published machines exact for {T} steps in float32: {exact}; envelope never exceeds the measured "
                   f"frontier: {sound}")
    fig, axes = figures.new(2, width=3.3)
    fr = [r for r in res.rows if r["kind"] == "frontier"]
    Rs = np.array([4, 100, 1000])
    for i, r in enumerate(fr):
        col = figures.COLOURS[i]
        axes[0].plot(Rs, [r[f"envelope_R{R}"] for R in Rs], "-", color=col, label=f"{r['dtype']} envelope")
        if r["probe_R4"] is not None:
            axes[0].plot(Rs, [r[f"probe_R{R}"] for R in Rs], "o", color=col, label=f"{r['dtype']} measured (worst case)")
        if "real_free_range" in r:
            axes[0].plot([r["real_free_range"]], [r["real_free_range"]], "x", color=col, ms=7,
                         label=f"{r['dtype']} real runs (R = T + 8)")
    axes[0].set(xscale="log", yscale="log", xlabel="head range R", ylabel="steps exact", title="precision frontier per dtype")
    axes[0].legend(fontsize=5)
    br = [r for r in res.rows if r["kind"] == "beta"]
    axes[1].plot([r["steps"] for r in br], [r["envelope_beta"] for r in br], "-", color=figures.COLOURS[0], label="envelope ln(4N)")
    axes[1].plot([r["steps"] for r in br], [r["real_beta"] for r in br], "o", color=figures.COLOURS[1], label="measured (real runs)")
    axes[1].set(xscale="log", xlabel="steps", ylabel="smallest exact softmax beta", title="softmax temperature frontier")
    axes[1].legend()
    res.figures += figures.save(fig, out, "transformer_frontier")
    return res


CHECKS = {"symbolic": check_symbolic, "contexts": check_contexts, "sequences": check_sequences,
          "halfspaces": check_halfspaces, "coin": check_coin, "transformer": check_transformer}
