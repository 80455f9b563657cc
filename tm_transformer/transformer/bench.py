"""``tmt bench transformer``: machine-steps per second of the transformer, against baselines run in
the same process.

* ``baseline``: the straightforward decoder -- dense float cache, every step reads the whole cache
  (one chunk as long as the cache), summaries only;
* ``dense``: dense cache, live prefix only (chunked online attention);
* ``packed``: 3-byte packed cache of token ids, keys and values rebuilt from the weights per chunk, live
  prefix only (the default engine).

Every variant computes each step from the weights and certifies it (:mod:`.decode`).

Random 5-state 2-symbol machines with no halt transitions, so every machine runs every step. Each
variant is compiled and run once before it is timed; the best of ``repeat`` runs counts. On a GPU the
achieved bandwidth of the packed decode (bytes of live cache read per second) is printed against a
device copy measured in the same run, as a roofline fraction.
"""
from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..machine import random_machine
from .decode import run

BYTES_PER_STEP = {"packed": 3}


def best_time(fn, repeat: int = 3) -> float:
    """Seconds of the fastest of ``repeat`` calls, after one warm-up call (compilation)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def copy_bandwidth(n_bytes: int = 1 << 30) -> float:
    """Bytes per second of a device-to-device copy (read + write counted)."""
    x = jnp.zeros(n_bytes // 4, jnp.float32)
    f = jax.jit(lambda a: a + 1)
    f(x).block_until_ready()
    t = best_time(lambda: f(x).block_until_ready(), 5)
    return 2 * x.nbytes / t


def bench_transformer(steps: int, batch: int, dtype: str = "float32", seed: int = 0, repeat: int = 2,
                      variants=("baseline", "dense", "packed"), chunk: int = 128, trace: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    machines = [random_machine(rng, 5, 2, p_halt=0.0) for _ in range(batch)]
    head_range = steps + 1
    cache_len = steps + 1
    settings = {"baseline": dict(layout="dense", chunk=-(-cache_len // 8) * 8),
                "dense": dict(layout="dense", chunk=chunk), "packed": dict(layout="packed", chunk=chunk)}
    out = {"steps": steps, "batch": batch, "dtype": dtype, "device": str(jax.devices()[0].device_kind),
           "backend": jax.default_backend(), "jax": jax.__version__, "chunk": chunk, "trace": trace}
    for name in variants:
        if name not in settings:
            raise ValueError(f"variant {name!r}: expected one of {', '.join(settings)}")
        kw: dict[str, Any] = dict(dtype=dtype, head_range=head_range, trace=trace and name != "baseline",
                                  **settings[name])
        seconds = best_time(lambda: run(machines, steps, **kw), repeat)
        out[f"{name}_steps_per_s"] = steps * batch / seconds
        out[f"{name}_seconds"] = seconds
    main = "packed" if "packed" in variants else variants[-1]
    out["steps_per_s"] = out[f"{main}_steps_per_s"]
    if "baseline" in variants:
        for name in variants:
            out[f"{name}_over_baseline"] = out[f"{name}_steps_per_s"] / out["baseline_steps_per_s"]
    if jax.default_backend() == "gpu" and "packed" in variants:
        # live prefix read per step: on average half the cache (+ a partial chunk), 3 bytes a token
        live = (steps / 2 + chunk / 2) * BYTES_PER_STEP["packed"]
        out["packed_bytes_per_s"] = live * out["packed_steps_per_s"]
        out["copy_bytes_per_s"] = copy_bandwidth()
        out["roofline_fraction"] = out["packed_bytes_per_s"] / out["copy_bytes_per_s"]
    return out
