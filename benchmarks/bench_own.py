"""Your own setting's trials per second: a user-written Kolmogorov-Smirnov setting (examples/ks.py) through the
engine (:mod:`experiments.user_setting`) against a numpy loop doing the same, in one process.

    python benchmarks/bench_own.py [--n 36] [--trials 200000] [--loop-trials 20000] [--json]

* ``engine, plain`` -- ``count_failures(ks, n, ...)``: the contract's plain form ``f(key, n)``, jit + vmap
  over trials, timed after compilation (best of 3);
* ``engine, padded`` -- the padded form ``ks_padded(key, n, n_max)`` (n_max = the power of two >= n);
* ``numpy loop`` -- one trial per Python iteration: ``rng.random(n)``, sort, the statistic, compare.

Also the cost of a compilation (the first count at a new n, plain form), which is what an n* search pays
per scanned n in the plain form and per power of two in the padded form. Settings: on a CPU one host device
per core (as ``tmt nstar``; ``TMT_HOST_DEVICES=1`` for one). The engine's counts go through no point store.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np

from tm_transformer.experiments.devices import use_every_core

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ks.py"


def _example():
    spec = importlib.util.spec_from_file_location("example_ks", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def numpy_loop(trials: int, n: int, eps: float, rng) -> int:
    fails = 0
    i = np.arange(1, n + 1)
    for _ in range(trials):
        u = np.sort(rng.random(n))
        fails += max((i / n - u).max(), (u - (i - 1) / n).max()) > eps
    return fails


def best(fn, repeat: int = 3) -> float:
    out = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=36)
    ap.add_argument("--eps", type=float, default=0.2)
    ap.add_argument("--trials", type=int, default=200_000)
    ap.add_argument("--loop-trials", type=int, default=20_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    use_every_core()
    import jax

    from tm_transformer.experiments import user_setting

    ks = _example()
    out = {"n": args.n, "eps": args.eps, "devices": jax.device_count(), "backend": jax.default_backend()}
    for name, f in (("plain", ks.ks), ("padded", ks.ks_padded)):
        t0 = time.perf_counter()
        user_setting.count_failures(f, args.n, 64, 0, eps=args.eps)
        out[f"first_count_s_{name}"] = time.perf_counter() - t0  # compilation + 64 trials
        seeds = iter(range(1, 100))
        s = best(lambda: user_setting.count_failures(f, args.n, args.trials, next(seeds), eps=args.eps))
        out[f"engine_{name}_trials_per_s"] = args.trials / s
    rng = np.random.default_rng(0)
    s = best(lambda: numpy_loop(args.loop_trials, args.n, args.eps, rng))
    out["numpy_loop_trials_per_s"] = args.loop_trials / s
    out["ratio_plain"] = out["engine_plain_trials_per_s"] / out["numpy_loop_trials_per_s"]
    out["ratio_padded"] = out["engine_padded_trials_per_s"] / out["numpy_loop_trials_per_s"]
    if args.json:
        print(json.dumps(out))
        return
    print(f"KS statistic of n = {args.n} uniforms, failure: D_n > {args.eps}; {out['devices']} {out['backend']} device(s)")
    for k, label in (("engine_plain", "engine, plain"), ("engine_padded", "engine, padded"), ("numpy_loop", "numpy loop")):
        print(f"  {label:16s} {out[k + '_trials_per_s']:12,.0f} trials/s")
    print(f"  ratio engine / numpy loop: plain {out['ratio_plain']:.1f}x, padded {out['ratio_padded']:.1f}x")
    print(f"  first count at a new n (compilation): plain {out['first_count_s_plain']:.2f} s, "
          f"padded {out['first_count_s_padded']:.2f} s")


if __name__ == "__main__":
    main()
