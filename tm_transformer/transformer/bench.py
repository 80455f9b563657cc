"""``tmt bench transformer``: machine-steps per second of the transformer, against baselines run in
the same process.

* ``baseline``: the straightforward decoder -- dense float cache, every step reads the whole cache
  (one chunk as long as the cache), summaries only;
* ``dense``: dense cache, live prefix only (chunked online attention);
* ``packed``: 3-byte packed cache of token ids, keys and values rebuilt from the weights per chunk, live
  prefix only (the full cache's default layout);
* ``evict``: the evicting cache, the default of ``tmt run`` (one key per cell in the slot of its cell id,
  blocks of slots skipped when their score bound cannot win, dense slots), the batch under ``vmap``;
* ``evict_single``: the same cache on one machine (machine 0 of the batch, no ``vmap``; rate per machine).

Every variant computes each step from the weights and certifies it (:mod:`.decode`).

``naive``: the naive decoder of the shared baselines (``--naive FILE``, by default
``../shared/baselines/naive_decode.py`` beside the checkout), loaded from its file and run in the same
process on the same T and B (one attention head over the whole cache every step, softmax, no certificate;
its cost does not depend on the machine). It is not part of the project: when the file is missing the
ratios against it are left out, and said so.

Random 5-state 2-symbol machines with no halt transitions, so every machine runs every step. Each
variant is compiled and run once before it is timed; the best of ``repeat`` runs counts. On a GPU the
achieved bandwidth of the packed decode (bytes of live cache read per second) is printed against a
device copy measured in the same run, as a roofline fraction.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ToolkitError
from ..machine import random_machine
from .decode import run, x64_if
from .evict import block_size

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


VARIANTS = ("baseline", "dense", "packed", "evict", "evict_single")
NAIVE_MACHINE = "1RB1LC_0LC1RD_1LA0RE_0RB1LE_0LD1RA"


def default_naive_path() -> Path | None:
    """``../shared/baselines/naive_decode.py`` beside the checkout (or the working directory), if there."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        path = root.parent / "shared" / "baselines" / "naive_decode.py"
        if path.is_file():
            return path
    return None


def load_naive(path: Path):
    """The naive decoder's module, executed from its file; raises :class:`ToolkitError` when the file is
    not such a decoder (it needs the baseline's ``build`` and ``make_run``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("naive_decode", path)
    if spec is None or spec.loader is None:
        raise ToolkitError(f"--naive {path}: not a Python file")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not (hasattr(mod, "build") and hasattr(mod, "make_run")):
        raise ToolkitError(f"--naive {path}: expected the baseline's build() and make_run()")
    return mod


def naive_decoder(mod, steps: int, batch: int, dtype: str):
    """A no-argument function running the naive decoder module ``mod`` (:func:`load_naive`) on ``batch``
    copies of its default machine for ``steps`` steps, jitted and vmapped as its own ``main`` does."""
    dt = jnp.dtype(dtype)
    with x64_if(dtype == "float64"):  # as its own main does for float64
        params, n_states, n_symbols = mod.build(NAIVE_MACHINE, steps, dt)
        fn = jax.jit(jax.vmap(mod.make_run(n_states, n_symbols, steps, 40.0, dt)))
        batched = jax.tree.map(lambda x: jnp.broadcast_to(x, (batch,) + x.shape), params)

    def call():
        with x64_if(dtype == "float64"):
            return jax.block_until_ready(fn(batched))
    return call


def bench_transformer(steps: int, batch: int, dtype: str = "float32", seed: int = 0, repeat: int = 2,
                      variants=VARIANTS, chunk: int = 128,
                      trace: bool = True, naive: Path | str | None = "auto") -> dict:
    """Machine-steps per second of each variant (and of the naive decoder when ``naive`` names its file,
    or ``"auto"`` finds it), with each variant's ratio to the naive decoder (``*_over_naive``), to the
    full cache's packed decode (``*_over_full``) and to ``baseline`` (``*_over_baseline``), all measured in
    this process. ``steps_per_s`` is the evicting cache's (the default decode) when it ran."""
    rng = np.random.default_rng(seed)
    machines = [random_machine(rng, 5, 2, p_halt=0.0) for _ in range(batch)]
    head_range = steps + 1
    cache_len = steps + 1
    settings = {"baseline": dict(layout="dense", chunk=-(-cache_len // 8) * 8),
                "dense": dict(layout="dense", chunk=chunk), "packed": dict(layout="packed", chunk=chunk),
                "evict": dict(layout="dense", cache="evict"), "evict_single": dict(layout="dense", cache="evict")}
    for name in variants:
        if name not in settings:
            raise ToolkitError(f"variant {name!r}: expected one of {', '.join(settings)}")
    note = None
    if naive == "auto":
        naive = default_naive_path()
    if naive and dtype not in ("float32", "float64"):
        note = f"the naive decoder runs float32 or float64, not {dtype}: no ratios against it"
        naive = None
    out: dict[str, Any] = {"steps": steps, "batch": batch, "dtype": dtype,
                           "device": str(jax.devices()[0].device_kind), "backend": jax.default_backend(),
                           "jax": jax.__version__, "chunk": chunk, "evict_block": block_size(2 * head_range + 2),
                           "trace": trace, "naive": str(naive) if naive else None, "note": note}
    if naive:
        mod = load_naive(Path(naive))
        seconds = best_time(naive_decoder(mod, steps, batch, dtype), repeat)
        out["naive_steps_per_s"] = steps * batch / seconds
        out["naive_seconds"] = seconds
        if "evict_single" in variants:  # the like-for-like rate for one machine
            seconds = best_time(naive_decoder(mod, steps, 1, dtype), repeat)
            out["naive_single_steps_per_s"] = steps / seconds
    for name in variants:
        kw: dict[str, Any] = dict(dtype=dtype, head_range=head_range, trace=trace and name != "baseline",
                                  **settings[name])
        group = machines[:1] if name == "evict_single" else machines
        seconds = best_time(lambda: run(group, steps, **kw), repeat)
        out[f"{name}_steps_per_s"] = steps * len(group) / seconds
        out[f"{name}_seconds"] = seconds
    main = next((v for v in ("evict", "packed") if v in variants), variants[-1])
    out["default"] = main
    out["steps_per_s"] = out[f"{main}_steps_per_s"]
    for ref, key in (("baseline", "baseline"), ("packed", "full"), ("naive", "naive")):
        if f"{ref}_steps_per_s" in out:
            for name in variants:
                # one machine against the naive decoder on one machine; the rest against the batches
                against = "naive_single" if (name, ref) == ("evict_single", "naive") else ref
                out[f"{name}_over_{key}"] = out[f"{name}_steps_per_s"] / out[f"{against}_steps_per_s"]
    if jax.default_backend() == "gpu" and "packed" in variants:
        # live prefix read per step: on average half the cache (+ a partial chunk), 3 bytes a token
        live = (steps / 2 + chunk / 2) * BYTES_PER_STEP["packed"]
        out["packed_bytes_per_s"] = live * out["packed_steps_per_s"]
        out["copy_bytes_per_s"] = copy_bandwidth()
        out["roofline_fraction"] = out["packed_bytes_per_s"] / out["copy_bytes_per_s"]
    return out
