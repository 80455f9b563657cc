"""Machine-steps per second: the batched JAX simulator against the single-machine simulators.

    python benchmarks/bench_simulators.py [--machines 10000] [--steps 1000] [--json]

Machines are random 5-state 2-symbol machines with no halt transitions, so every machine runs every
step. Times are best-of-3 after a warm-up (compilation excluded); ratios are against the reference
simulator and the compiled fast path run in the same process on a sample of the same machines.
"""
from __future__ import annotations

import argparse
import json
import numpy as np

from tm_transformer.batched import run_batch
from tm_transformer.fast import run_fast
from tm_transformer.machine import random_machine
from tm_transformer.simulator import simulate
from tm_transformer.transformer.bench import best_time as best_of


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    machines = [random_machine(rng, 5, 2, p_halt=0.0) for _ in range(args.machines)]
    sample = machines[:50]
    work = args.machines * args.steps
    batched = work / best_of(lambda: run_batch(machines, args.steps))
    reference = len(sample) * args.steps / best_of(lambda: [simulate(m, args.steps) for m in sample], 1)
    fast = len(sample) * args.steps / best_of(lambda: [run_fast(m, args.steps) for m in sample], 1)
    out = {"machines": args.machines, "steps": args.steps, "batched_steps_per_s": batched,
           "reference_steps_per_s": reference, "fast_path_steps_per_s_short_runs": fast,
           "batched_over_reference": batched / reference, "batched_over_fast_path": batched / fast}
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:36s} {value:,.3g}" if isinstance(value, float) else f"{key:36s} {value}")


if __name__ == "__main__":
    main()
