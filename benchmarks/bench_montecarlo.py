"""Monte-Carlo trials per second: the vmapped JAX engine against a plain numpy loop over trials.

    python benchmarks/bench_montecarlo.py [--trials 20000] [--json]

Setting: m = 8 contexts, V = 16 tokens, 200 examples per context, error = max TV over contexts (the C1
check). Both sides draw multinomial counts and compute the same error; the engine is timed after
compilation, best of 3; the numpy loop on a subset of trials, scaled per trial.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from experiments.montecarlo import count_failures


def numpy_loop(trials: int, n_c: int, probs: np.ndarray, eps: float, seed: int) -> int:
    rng = np.random.default_rng(seed)
    fails = 0
    for _ in range(trials):
        counts = np.stack([rng.multinomial(n_c, p) for p in probs])
        tv = 0.5 * np.abs(counts / n_c - probs).sum(1).max()
        fails += tv > eps
    return fails


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    m, V, n_c, eps = 8, 16, 200, 0.15
    probs = np.full((m, V), 1 / V)
    count_failures("contexts", n_c, args.trials, 0, "bench", probs=probs, eps=eps)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        count_failures("contexts", n_c, args.trials, 0, "bench", probs=probs, eps=eps)
        best = min(best, time.perf_counter() - t0)
    engine = args.trials / best
    sub = max(200, args.trials // 20)
    t0 = time.perf_counter()
    numpy_loop(sub, n_c, probs, eps, 0)
    loop = sub / (time.perf_counter() - t0)
    out = {"trials": args.trials, "engine_trials_per_s": engine, "numpy_loop_trials_per_s": loop,
           "speedup": engine / loop}
    print(json.dumps(out) if args.json else "\n".join(f"{k:26s} {v:,.4g}" for k, v in out.items()))


if __name__ == "__main__":
    main()
