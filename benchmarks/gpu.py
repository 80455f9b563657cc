"""One prepared script for a lent GPU (H100/H200): the transformer's certified machine-steps/s, and the
device's copy bandwidth as the roofline, written as JSON.

    PYTHONPATH=. python benchmarks/gpu.py --out $OUT/gpu.json            # the sweep, time-boxed to 7 min
    PYTHONPATH=. python benchmarks/gpu.py --smoke --out /tmp/gpu.json    # tiny sizes, any machine
    PYTHONPATH=. python benchmarks/gpu.py --smoke --budget 30 --out /tmp/gpu.json   # a CPU check of the time box

**Time box.** A lent device's 10-minute call must not be lost to one long phase: the whole script has a
wall-clock budget (``--budget``, default 420 s), each phase a share of it (the sweep until 60 %, the
evicting cache until 90 %), a point that would start past its phase's deadline is written as
``{"skipped": "budget"}`` instead, and the JSON file is rewritten after every point, so a run cut short
still leaves every finished point on disk.

Sweep: T in (1024, 4096), B in (1024, 2048, 4096, 8192), float32, summaries only (no (B, T) trace
buffers); per point the packed layout (live prefix, and fixed-shape blocks: static trip counts over each
doubling segment's cache), the dense layout and, at B = 1024, the naive full-cache decode (one chunk as
long as the cache) as the baseline run in the same process. Every run is certified step by
step; a run that fails its certificate raises and is recorded as an error, not as a speed. Uses only
what the lent machine has (jax, numpy); matmuls at "highest" precision (TF32 is not exact). Target from
the issue: >= 5e7 certified machine-steps/s at T = 4096, B = 4096.

Evicting cache (``--cache evict``): a BB(5) prefix of ``--evict-steps`` steps (default 200,000; float32,
dense slots, one machine: the unbatched while loop, timed once with its compilation), with its projection to the 47,176,870 steps of the full run, and a
batch of random machines with per-machine slots (vmap). Not yet run on a GPU: on an accelerator the
per-step while loop launches a few kernels per step, so expect the one-machine rate to be launch-bound.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")
jax.config.update("jax_compilation_cache_dir", os.environ.get("TMT_JAX_CACHE", "/tmp/tmt-jax-cache"))

import numpy as np  # noqa: E402

from tm_transformer.machine import random_machine  # noqa: E402
from tm_transformer.transformer.bench import best_time, copy_bandwidth  # noqa: E402
from tm_transformer.transformer.decode import run  # noqa: E402


def point(T, B, layout, chunk, seed=0, fixed_shape=False):
    rng = np.random.default_rng(seed)
    machines = [random_machine(rng, 5, 2, p_halt=0.0) for _ in range(B)]
    row = {"T": T, "B": B, "layout": layout, "chunk": chunk, "fixed_shape": fixed_shape}
    try:
        s = best_time(lambda: run(machines, T, head_range=T + 1, layout=layout, chunk=chunk, trace=False,
                                  fixed_shape=fixed_shape), repeat=2)
        return row | {"seconds": s, "steps_per_s": T * B / s}
    except Exception as exc:  # recorded, never reported as a speed
        return row | {"error": f"{type(exc).__name__}: {exc}"[:300]}


BB5 = "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA"
BB5_STEPS = 47_176_870


class Budget:
    """The script's wall-clock budget: ``left(share)`` is the time before the phase deadline at ``share`` of it."""

    def __init__(self, seconds: float):
        self.seconds, self.t0 = float(seconds), time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def allows(self, share: float) -> bool:
        return self.elapsed() < share * self.seconds


def evict_bb5(steps):
    from tm_transformer import parse_machine

    m = parse_machine(BB5)
    row = {"variant": "evict BB(5) prefix", "steps": steps, "dtype": "float32", "B": 1}
    try:  # one timed run, compilation included (a warm-up would run the whole prefix twice)
        t0 = time.perf_counter()
        run(m, steps, dtype="float32", layout="dense", cache="evict", head_range=2 ** 15 - 1, trace=False)
        s = time.perf_counter() - t0
        return row | {"seconds_with_compilation": s, "steps_per_s": steps / s,
                      "bb5_projected_minutes_upper_bound": BB5_STEPS / (steps / s) / 60}
    except Exception as exc:
        return row | {"error": f"{type(exc).__name__}: {exc}"[:300]}


def evict_batch(smoke):
    T, B = (256, 8) if smoke else (4096, 1024)
    rng = np.random.default_rng(0)
    machines = [random_machine(rng, 5, 2, p_halt=0.0) for _ in range(B)]
    row = {"variant": "evict batch", "T": T, "B": B, "dtype": "float32"}
    try:
        s = best_time(lambda: run(machines, T, head_range=T + 1, layout="dense", cache="evict", trace=False), repeat=2)
        return row | {"seconds": s, "steps_per_s": T * B / s}
    except Exception as exc:
        return row | {"error": f"{type(exc).__name__}: {exc}"[:300]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu.json")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (a CPU check of the script)")
    p.add_argument("--evict-steps", type=int, default=None,
                   help="BB(5) prefix for the evicting-cache point (default 200,000; 20,000 with --smoke)")
    p.add_argument("--budget", type=float, default=420.0,
                   help="wall-clock seconds for the whole script (default 420: a 10-minute device call with room "
                        "for start-up and the copy back); points past their phase's share are skipped")
    args = p.parse_args(argv)
    if not args.budget >= 0:
        raise SystemExit(f"--budget {args.budget}: expected a non-negative number of seconds")
    budget = Budget(args.budget)
    Ts, Bs = ((64, 128), (8, 16)) if args.smoke else ((1024, 4096), (1024, 2048, 4096, 8192))
    out = {"device": str(jax.devices()[0].device_kind), "backend": jax.default_backend(), "jax": jax.__version__,
           "python": platform.python_version(), "budget_s": args.budget, "points": [], "evict": []}
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)

    def save(row=None):  # every finished point goes to disk at once
        if row is not None:
            print(json.dumps(row), flush=True)
        out["elapsed_s"] = budget.elapsed()
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(out, indent=1))
        tmp.replace(path)

    def timed(rows, share, make, **label):
        rows.append(make() if budget.allows(share) else {**label, "skipped": "budget"})
        save(rows[-1])

    if budget.allows(0.1):
        out["copy_bytes_per_s"] = copy_bandwidth(1 << 24 if args.smoke else 1 << 30)
    save()
    # the target point first, then the rest of the sweep
    order = sorted(((T, B) for T in Ts for B in Bs), key=lambda tb: (tb != (Ts[-1], Bs[-2]), tb))
    for T, B in order:
        for layout, fixed in (("packed", False), ("packed", True), ("dense", False)):
            timed(out["points"], 0.6, lambda: point(T, B, layout, chunk=128 if args.smoke else 512, fixed_shape=fixed),
                  T=T, B=B, layout=layout, fixed_shape=fixed)
        if B == Bs[0]:
            timed(out["points"], 0.6, lambda: point(T, B, "dense", chunk=-(-(T + 1) // 8) * 8) | {"layout": "baseline"},
                  T=T, B=B, layout="baseline")
    evict_steps = args.evict_steps or (20_000 if args.smoke else 200_000)
    timed(out["evict"], 0.75, lambda: evict_bb5(evict_steps), variant="evict BB(5) prefix", steps=evict_steps)
    timed(out["evict"], 0.9, lambda: evict_batch(args.smoke), variant="evict batch")
    # roofline: the packed decode reads on average half the live cache a step, 3 bytes a token
    for pt in out["points"]:
        if "steps_per_s" in pt and pt["layout"] == "packed" and "copy_bytes_per_s" in out:
            pt["cache_bytes_per_s"] = pt["steps_per_s"] * (pt["T"] / 2) * 3
            pt["roofline_fraction"] = pt["cache_bytes_per_s"] / out["copy_bytes_per_s"]
    save()
    print(f"wrote {args.out} ({budget.elapsed():.0f} s of a {args.budget:.0f} s budget)")


if __name__ == "__main__":
    main()
