"""One prepared script for a lent GPU (H100/H200): the transformer's certified machine-steps/s, and the
device's copy bandwidth as the roofline, written as JSON.

    PYTHONPATH=. python benchmarks/gpu.py --out $OUT/gpu.json            # the full sweep (~5 min)
    PYTHONPATH=. python benchmarks/gpu.py --smoke --out /tmp/gpu.json    # tiny sizes, any machine

Sweep: T in (1024, 4096), B in (1024, 2048, 4096, 8192), float32, summaries only (no (B, T) trace
buffers); per point the packed layout (live prefix, and fixed-shape blocks: static trip counts over each
doubling segment's cache), the dense layout and, at B = 1024, the naive full-cache decode (one chunk as
long as the cache) as the baseline run in the same process. Every run is certified step by
step; a run that fails its certificate raises and is recorded as an error, not as a speed. Uses only
what the lent machine has (jax, numpy); matmuls at "highest" precision (TF32 is not exact). Target from
the issue: >= 5e7 certified machine-steps/s at T = 4096, B = 4096.

Evicting cache (the default decode of ``tmt run``: a slot per cell id, blocks skipped when their score
bound cannot win): BB(5) in bfloat16 and float32, a prefix of ``--evict-steps`` steps each (one machine:
the unbatched while loop) with its projection to the 47,176,870 steps of the full run, or the whole run to
the halt with ``--bb5-halt`` (the GPU target is <= 5 minutes; the prefix's projection says whether a
10-minute call can hold it); and a batch of random machines under vmap (T = 4096, B = 1024), beside the
full cache at the same size. Not yet run on a GPU: the per-step while loop launches a few dozen kernels
per step, so expect the one-machine rate to be launch-bound.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
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


def evict_points(steps, smoke, halt=False):
    import time

    from tm_transformer import parse_machine

    rows = []
    m = parse_machine(BB5)
    for dtype in ("bfloat16", "float32"):
        n = None if halt else steps
        row = {"variant": "evict BB(5) to the halt" if halt else "evict BB(5) prefix", "steps": n, "dtype": dtype,
               "B": 1}
        try:
            kw = dict(dtype=dtype, layout="dense", cache="evict", head_range=2 ** 15 - 1, trace=False)
            if halt:  # one run (compilation included): the wall time a user sees
                t0 = time.perf_counter()
                out = run(m, None, **kw)
                s = time.perf_counter() - t0
                done = int(out.steps[0])
                rows.append(row | {"seconds": s, "steps_per_s": done / s, "halted_steps": done,
                                   "sigma": int(out.sigma[0]), "slots": int(out.slots[0])})
            else:
                s = best_time(lambda: run(m, steps, **kw), repeat=1)
                rows.append(row | {"seconds": s, "steps_per_s": steps / s,
                                   "bb5_projected_minutes_lower_bound": BB5_STEPS / (steps / s) / 60})
        except Exception as exc:
            rows.append(row | {"error": f"{type(exc).__name__}: {exc}"[:300]})
        print(json.dumps(rows[-1]), flush=True)
    T, B = (256, 8) if smoke else (4096, 1024)
    rng = np.random.default_rng(0)
    machines = [random_machine(rng, 5, 2, p_halt=0.0) for _ in range(B)]
    row = {"variant": "evict batch", "T": T, "B": B, "dtype": "float32"}
    try:
        s = best_time(lambda: run(machines, T, head_range=T + 1, layout="dense", cache="evict", trace=False), repeat=2)
        rows.append(row | {"seconds": s, "steps_per_s": T * B / s})
    except Exception as exc:
        rows.append(row | {"error": f"{type(exc).__name__}: {exc}"[:300]})
    print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="gpu.json")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (a CPU check of the script)")
    p.add_argument("--evict-steps", type=int, default=None,
                   help="BB(5) prefix for the evicting-cache point (default 200,000; 20,000 with --smoke): it runs "
                        "twice (compile, then timed), so a lent device's 10-minute call is not lost to it")
    p.add_argument("--bb5-halt", action="store_true",
                   help="run BB(5) to its halt (bfloat16, then float32) instead of a prefix")
    args = p.parse_args(argv)
    Ts, Bs = ((64, 128), (8, 16)) if args.smoke else ((1024, 4096), (1024, 2048, 4096, 8192))
    out = {"device": str(jax.devices()[0].device_kind), "backend": jax.default_backend(), "jax": jax.__version__,
           "python": platform.python_version(), "points": []}
    out["copy_bytes_per_s"] = copy_bandwidth(1 << 24 if args.smoke else 1 << 30)
    for T in Ts:
        for B in Bs:
            for layout, fixed in (("packed", False), ("packed", True), ("dense", False)):
                out["points"].append(point(T, B, layout, chunk=128 if args.smoke else 512, fixed_shape=fixed))
                print(json.dumps(out["points"][-1]), flush=True)
            if B == Bs[0]:
                out["points"].append(point(T, B, "dense", chunk=-(-(T + 1) // 8) * 8) | {"layout": "baseline"})
                print(json.dumps(out["points"][-1]), flush=True)
    evict_steps = args.evict_steps or (20_000 if args.smoke else 200_000)
    out["evict"] = evict_points(evict_steps, args.smoke, args.bb5_halt)
    # roofline: the packed decode reads on average half the live cache a step, 3 bytes a token
    for pt in out["points"]:
        if "steps_per_s" in pt and pt["layout"] == "packed":
            pt["cache_bytes_per_s"] = pt["steps_per_s"] * (pt["T"] / 2) * 3
            pt["roofline_fraction"] = pt["cache_bytes_per_s"] / out["copy_bytes_per_s"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
