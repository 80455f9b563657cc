"""Monte-Carlo trials per second: the vmapped JAX engine against a plain numpy loop over trials, run in
the same process, for the settings of the checks.

    python benchmarks/bench_montecarlo.py [--trials 20000] [--json]

Each numpy loop draws the same kind of sample and computes the same error as the engine, one trial per
Python iteration; it runs on a subset of the trials and is scaled per trial. The engine is timed after
compilation, best of 3.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from experiments.montecarlo import count_failures
from tm_transformer.transformer.bench import best_time


def loop_halfspace(trials, n, eps, rng):
    """d = 2, the version-space midpoint (the consistent learner of the C3 check)."""
    fails = 0
    for _ in range(trials):
        w = rng.normal(size=2)
        X = rng.normal(size=(n, 2))
        y = np.where(X @ w >= 0, 1.0, -1.0)
        z = y[:, None] * X
        alpha = np.sort(np.arctan2(z[:, 1], z[:, 0]))
        gaps = np.diff(np.append(alpha, alpha[0] + 2 * np.pi))
        start = alpha[(np.argmax(gaps) + 1) % n]
        rel = np.mod(alpha - start, 2 * np.pi)
        theta = start + (rel.max() - np.pi / 2 + rel.min() + np.pi / 2) / 2
        w_hat = np.array([np.cos(theta), np.sin(theta)])
        err = np.arccos(np.clip(w_hat @ w / np.linalg.norm(w), -1, 1)) / np.pi
        fails += err > eps
    return fails


def loop_gd(trials, n, d, eps, rng):
    """One gradient step (the linear-attention learner)."""
    fails = 0
    for _ in range(trials):
        w = rng.normal(size=d)
        X = rng.normal(size=(n, d))
        y = np.where(X @ w >= 0, 1.0, -1.0)
        w_hat = (y[:, None] * X).sum(0)
        cos = w_hat @ w / (np.linalg.norm(w_hat) * np.linalg.norm(w))
        fails += np.arccos(np.clip(cos, -1, 1)) / np.pi > eps
    return fails


def loop_contexts(trials, n_c, probs, eps, rng):
    fails = 0
    for _ in range(trials):
        counts = np.stack([rng.multinomial(n_c, p) for p in probs])
        fails += 0.5 * np.abs(counts / n_c - probs).sum(1).max() > eps
    return fails


def loop_coin(trials, n, p, eps, rng):
    fails = 0
    for _ in range(trials):
        fails += abs(rng.binomial(n, p) / n - p) > eps
    return fails


def time_engine(setting, n, trials, **kw):
    return trials / best_time(lambda: count_failures(setting, n, trials, 0, "bench", **kw))


def time_loop(fn, trials, *args):
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    fn(trials, *args, rng)
    return trials / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    T, sub = args.trials, max(500, args.trials // 10)
    probs = np.full((8, 16), 1 / 16)
    rows = {
        "halfspace (C3, d=2, n=64)": (time_engine("halfspace", 64, T, d=2, eps=0.05),
                                      time_loop(loop_halfspace, sub, 64, 0.05)),
        "halfspace, one GD step (d=8, n=64)": (time_engine("halfspace", 64, T, d=8, eps=0.05, learner="gd"),
                                               time_loop(loop_gd, sub, 64, 8, 0.05)),
        "contexts (C1, m=8, V=16, 200/context)": (time_engine("contexts", 200, T, probs=probs, eps=0.15),
                                                  time_loop(loop_contexts, sub, 200, probs, 0.15)),
        "coin (C4, n=1000)": (time_engine("coin", 1000, T, p=0.5, eps=0.03), time_loop(loop_coin, sub, 1000, 0.5, 0.03)),
    }
    out = {name: {"engine_trials_per_s": e, "numpy_loop_trials_per_s": l, "speedup": e / l} for name, (e, l) in rows.items()}
    if args.json:
        print(json.dumps(out))
    else:
        for name, r in out.items():
            print(f"{name:40s} engine {r['engine_trials_per_s']:10.3g}/s  numpy loop {r['numpy_loop_trials_per_s']:10.3g}/s  "
                  f"speedup {r['speedup']:6.1f}x")


if __name__ == "__main__":
    main()
