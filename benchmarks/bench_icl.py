"""Certified machine-steps/s of the transformer running the in-context learners, against the reference
simulator on the same prompts in the same process (ratio), and the largest prompt run.

    python benchmarks/bench_icl.py [--n 8 16 32 64] [--batch 16] [--largest 128]

Each row: one batched transformer run (one machine, ``--batch`` random prompts of n examples), timed
after a first run that compiles; every step certified and every run checked equal to the reference.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from tm_transformer.icl.learners import LEARNERS
from tm_transformer.icl.run import plan, random_dataset
from tm_transformer.simulator import simulate
from tm_transformer.transformer import run


def measure(learner: str, m: int, V: int, n: int, batch: int, seed: int = 0) -> dict:
    lrn = LEARNERS[learner]
    rng = np.random.default_rng(seed)
    sets = [random_dataset(lrn, n, m, V, rng) for _ in range(batch)]
    p = plan(lrn, sets, m, V)
    machine = lrn.spec(m, V).machine
    t = time.perf_counter()
    refs = [simulate(machine, p.steps_bound + 1, tape) for tape in p.tapes]
    t_ref = time.perf_counter() - t
    timings = []
    for _ in range(2):  # the first compiles
        t = time.perf_counter()
        out = run([machine] * batch, None, p.tapes, head_range=p.head_range, trace=False)
        timings.append(time.perf_counter() - t)
    steps = int(out.steps.sum())
    assert all(int(s) == r.steps for s, r in zip(out.steps, refs))
    return {"learner": learner, "m": m, "V": V, "n": n, "batch": batch, "max_steps": int(out.steps.max()),
            "prompt_length": max(len(t) for t in p.tapes) + 1, "compile_s": timings[0] - timings[1],
            "transformer_steps_per_s": steps / timings[1], "reference_steps_per_s": steps / t_ref,
            "ratio": (steps / timings[1]) / (steps / t_ref)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--largest", type=int, default=0, help="also one prompt of this many examples, batch 1")
    args = ap.parse_args()
    rows = [measure("conditional", 2, 2, n, args.batch) for n in args.n]
    rows += [measure("threshold", 8, 2, n, args.batch) for n in args.n]
    if args.largest:
        rows.append(measure("conditional", 2, 2, args.largest, 1))
    print("| learner | n | batch | steps (max) | prompt | transformer steps/s | reference steps/s | transformer / reference |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['learner']} (m={r['m']}, V={r['V']}) | {r['n']} | {r['batch']} | {r['max_steps']:,} | "
              f"{r['prompt_length']} | {r['transformer_steps_per_s']:,.0f} | {r['reference_steps_per_s']:,.0f} | "
              f"{r['ratio']:.3g} |")


if __name__ == "__main__":
    main()
