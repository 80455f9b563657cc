"""Monte-Carlo trials per second: the JAX engine against plain numpy loops over trials, in one process.

    python benchmarks/bench_montecarlo.py [--trials 20000] [--loop-trials 2000] [--json]
    python benchmarks/bench_montecarlo.py --scaling 1,2,4,8 [--figure benchmarks/weak_scaling]

Two baselines, both one trial per Python iteration with numpy's Generator:

* ``prompt loop`` -- the plain loop: draw the trial's prompt (its examples), compute the estimator;
* ``statistic loop`` -- the strongest loop: draw the same sufficient statistic the engine draws (numpy's
  C binomial / multinomial, the two extreme uniforms of the plane midpoint, the half-normal sum of the
  gradient step), so that the ratio measures the engine, not the reduction.

The engine runs each setting as ``tmt reproduce`` does (``sampler="auto"``: the exact reduction where
one exists; on a CPU one host device per core, ``TMT_HOST_DEVICES=1`` for one), timed after compilation, best of 3; ``direct engine`` is the same engine drawing whole
prompts with jax.random (``sampler="direct"``), which isolates what the reductions add; settings whose trials cost a few words whatever n get
50x more trials, as in the checks. Loops run fewer trials and are scaled per trial.

``--scaling K1,K2,...``: weak scaling over host devices. For each K a fresh process runs the engine with
``XLA_FLAGS=--xla_force_host_platform_device_count=K`` (trials split over the K devices by the engine's
mesh) and K times the trials, and reports trials/s per setting; ``--figure PATH`` draws throughput
against K (PATH.pdf and PATH.png). On a GPU, K = 1 is the device itself.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tm_transformer.experiments.devices import use_every_core
from tm_transformer.experiments.montecarlo import constant_cost, count_failures
from tm_transformer.transformer.bench import best_time


def _angle_error(w_hat, w):
    cos = w_hat @ w / (np.linalg.norm(w_hat) * np.linalg.norm(w))
    return np.arccos(np.clip(cos, -1, 1)) / np.pi


# ---- prompt loops ------------------------------------------------------------------------------------
def prompt_midpoint(trials, n, eps, rng):
    """d = 2, the version-space midpoint from the examples."""
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
        fails += _angle_error(np.array([np.cos(theta), np.sin(theta)]), w) > eps
    return fails


def prompt_gd(trials, n, d, eps, rng):
    fails = 0
    for _ in range(trials):
        w = rng.normal(size=d)
        X = rng.normal(size=(n, d))
        y = np.where(X @ w >= 0, 1.0, -1.0)
        fails += _angle_error((y[:, None] * X).sum(0), w) > eps
    return fails


def prompt_contexts(trials, n_c, probs, eps, rng):
    m, V = probs.shape
    fails = 0
    for _ in range(trials):
        counts = np.stack([np.bincount(rng.choice(V, size=n_c, p=p), minlength=V) for p in probs])
        fails += 0.5 * np.abs(counts / n_c - probs).sum(1).max() > eps
    return fails


def prompt_sequences(trials, n, probs, eps, rng):
    fails = 0
    for _ in range(trials):
        counts = np.bincount(rng.choice(len(probs), size=n, p=probs), minlength=len(probs))
        fails += 0.5 * np.abs(counts / n - probs).sum() > eps
    return fails


def prompt_coin(trials, n, p, eps, rng):
    fails = 0
    for _ in range(trials):
        fails += abs((rng.random(n) < p).mean() - p) > eps
    return fails


# ---- statistic loops ---------------------------------------------------------------------------------
def statistic_midpoint(trials, n, eps, rng):
    fails = 0
    for _ in range(trials):
        v1, v2 = rng.random(2)
        top_gap = -np.expm1(np.log1p(-v1) / n)
        u_min = (1 - top_gap) * -np.expm1(np.log1p(-v2) / (n - 1))
        fails += abs(u_min - top_gap) / 2 > eps
    return fails


def statistic_gd(trials, n, d, eps, rng):
    fails = 0
    for _ in range(trials):
        S = np.abs(rng.normal(size=n)).sum()
        H = np.sqrt(n * (rng.normal(size=d - 1) ** 2).sum())
        fails += np.arctan2(H, S) / np.pi > eps
    return fails


def statistic_contexts(trials, n_c, probs, eps, rng):
    fails = 0
    for _ in range(trials):
        counts = np.stack([rng.multinomial(n_c, p) for p in probs])
        fails += 0.5 * np.abs(counts / n_c - probs).sum(1).max() > eps
    return fails


def statistic_sequences(trials, n, probs, eps, rng):
    fails = 0
    for _ in range(trials):
        fails += 0.5 * np.abs(rng.multinomial(n, probs) / n - probs).sum() > eps
    return fails


def statistic_coin(trials, n, p, eps, rng):
    fails = 0
    for _ in range(trials):
        fails += abs(rng.binomial(n, p) / n - p) > eps
    return fails


def time_loop(fn, trials, *args):
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    fn(trials, *args, rng)
    return trials / (time.perf_counter() - t0)


def cases():
    ctx = np.full((8, 16), 1 / 16)
    seq = np.full(256, 1 / 256)
    return [  # name, engine (setting, n, kw), loop arguments, prompt loop, statistic loop
        ("halfspace midpoint (C3, d=2, n=64)", ("halfspace", 64, dict(d=2, eps=0.05)), (64, 0.05),
         prompt_midpoint, statistic_midpoint),
        ("halfspace one GD step (d=8, n=64)", ("halfspace", 64, dict(d=8, eps=0.05, learner="gd")), (64, 8, 0.05),
         prompt_gd, statistic_gd),
        ("coin (C4, n=1000)", ("coin", 1000, dict(p=0.5, eps=0.03)), (1000, 0.5, 0.03), prompt_coin, statistic_coin),
        ("contexts (C1, m=8, V=16, 200 each)", ("contexts", 200, dict(probs=ctx, eps=0.15)), (200, ctx, 0.15),
         prompt_contexts, statistic_contexts),
        ("sequences (C2, V=2, l=8, n=2000)", ("sequences", 2000, dict(probs=seq, eps=0.2, reading="tv")),
         (2000, seq, 0.2), prompt_sequences, statistic_sequences),
    ]


def engine_rates(trials: int) -> dict:
    """Engine trials/s per setting (as ``tmt reproduce`` runs it), in this process."""
    import jax

    out = {}
    for name, (setting, n, kw), *_ in cases():
        T = trials * (50 if constant_cost(setting, kw) else 1)
        out[name] = T / best_time(lambda: count_failures(setting, n, T, 0, "bench", **kw))
    return {"devices": jax.device_count(), "backend": jax.default_backend(), "rates": out}


def scaling(counts: list[int], trials: int) -> list[dict]:
    """Weak scaling: a fresh process per device count K, K x ``trials`` trials."""
    rows = []
    for k in counts:
        env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={k}"}
        res = subprocess.run([sys.executable, __file__, "--engine-only", "--trials", str(trials * k), "--json"],
                             capture_output=True, text=True, env=env, check=True)
        rows.append({"requested_devices": k, "trials_per_setting": trials * k, **json.loads(res.stdout.splitlines()[-1])})
    return rows


def draw(rows: list[dict], path: str) -> list[str]:
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    from tm_transformer import figstyle

    with figstyle.context():
        fig = Figure(figsize=(figstyle.TWO_COLUMN, 2.8))
        ax, rel = fig.subplots(1, 2)
        ks = [r["devices"] for r in rows]
        for i, name in enumerate(rows[0]["rates"]):
            col = figstyle.COLOURS[i % len(figstyle.COLOURS)]
            rates = [r["rates"][name] for r in rows]
            ax.plot(ks, rates, "o-", color=col, label=name)
            rel.plot(ks, [x / rates[0] for x in rates], "o-", color=col)
        rel.plot(ks, ks, "k--", lw=0.8, label="ideal (K x)")
        ax.set(xscale="log", yscale="log", xlabel="host devices K", ylabel="engine trials/s",
               title=f"weak scaling ({rows[0]['trials_per_setting']:,} trials per device)")
        rel.set(xscale="log", xlabel="host devices K", ylabel="throughput / throughput at K = 1", ylim=(0, max(ks) + 0.5))
        for a in (ax, rel):
            a.set_xticks(ks, [str(k) for k in ks])
            a.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=5)
        rel.legend(fontsize=6)
        fig.tight_layout()
        files = []
        for ext in ("pdf", "png"):
            fig.savefig(f"{path}.{ext}", dpi=200)
            files.append(f"{path}.{ext}")
    return files


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20_000, help="engine trials (x50 where a trial costs O(1))")
    ap.add_argument("--loop-trials", type=int, default=2_000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--engine-only", action="store_true", help="engine trials/s only (the scaling runs' child)")
    ap.add_argument("--scaling", help="weak scaling over host devices, e.g. 1,2,4,8")
    ap.add_argument("--figure", help="with --scaling: draw PATH.pdf and PATH.png")
    args = ap.parse_args(argv)
    if not args.scaling:
        use_every_core()  # as tmt reproduce does: one host device per core (TMT_HOST_DEVICES=1: one device)
    if args.engine_only:
        print(json.dumps(engine_rates(args.trials)))
        return
    if args.scaling:
        rows = scaling([int(k) for k in args.scaling.split(",")], args.trials)
        if args.json:
            print(json.dumps(rows))
        else:
            names = list(rows[0]["rates"])
            print(f"{'setting':38s} " + " ".join(f"{'K=' + str(r['devices']):>10s}" for r in rows) + "   (trials/s)")
            for name in names:
                print(f"{name:38s} " + " ".join(f"{r['rates'][name]:10.3g}" for r in rows) + "   x" +
                      f"{rows[-1]['rates'][name] / rows[0]['rates'][name]:.2f} at K={rows[-1]['devices']}")
        if args.figure:
            Path(f"{args.figure}.json").write_text(json.dumps(rows, indent=1) + "\n")
            print("wrote", ", ".join(draw(rows, args.figure) + [f"{args.figure}.json"]))
        return
    out = {}
    for name, (setting, n, kw), loop_args, prompt, statistic in cases():
        T = args.trials * (50 if constant_cost(setting, kw) else 1)
        sampler = count_failures(setting, n, T, 0, "bench", **kw)["sampler"]
        engine = T / best_time(lambda: count_failures(setting, n, T, 0, "bench", **kw))
        direct = args.trials / best_time(lambda: count_failures(setting, n, args.trials, 0, "bench", sampler="direct", **kw))
        p = time_loop(prompt, args.loop_trials, *loop_args)
        s = time_loop(statistic, args.loop_trials, *loop_args)
        out[name] = {"engine_sampler": sampler,
                     "engine_trials_per_s": engine, "direct_engine_trials_per_s": direct, "prompt_loop_trials_per_s": p, "statistic_loop_trials_per_s": s,
                     "speedup_vs_prompt_loop": engine / p, "speedup_vs_statistic_loop": engine / s}
    if args.json:
        print(json.dumps(out))
        return
    import jax

    print(f"engine on {jax.device_count()} {jax.default_backend()} device(s); loops: one Python thread")
    print(f"{'setting':38s} {'engine/s':>10s} {'direct eng./s':>13s} {'prompt loop/s':>14s} {'x':>7s} "
          f"{'stat. loop/s':>13s} {'x':>7s}")
    for name, r in out.items():
        print(f"{name:38s} {r['engine_trials_per_s']:10.3g} {r['direct_engine_trials_per_s']:13.3g} "
              f"{r['prompt_loop_trials_per_s']:14.3g} "
              f"{r['speedup_vs_prompt_loop']:7.1f} {r['statistic_loop_trials_per_s']:13.3g} "
              f"{r['speedup_vs_statistic_loop']:7.1f}   [{r['engine_sampler']}]")


if __name__ == "__main__":
    main()
