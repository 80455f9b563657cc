"""Check 6: the compiled transformer runs published machines exactly, and where each dtype stops being exact.

The envelope is drawn for both caches: the full cache (every key; exact while every score is an integer
below 2^p) and the evicting cache (one key per cell; exact while the score gaps, of order M, beat the
rounding bound -- see tm_transformer/transformer/evict.py; the head is read out as +-1 bits, exact in every
dtype, so it no longer caps bfloat16: the dashed bfloat16 line reaches the int32 recency cap, 67M steps).

Per dtype three numbers at a free head range (R = T + 8): the a-priori envelope, the certified frontier
(the first T at which real runs no longer certify every step) and the first real failure (the first T
at which uncertified runs differ from the reference). Sound means envelope < certified frontier <= first
real failure: the envelope never promises more than the certificate delivers, and the certificate never
passes a wrong run (a certified run that differs from the reference raises inside the measurement).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tm_transformer import plots

from . import figures


def code_version() -> str:
    """A digest of the sources the check's measurements can come from: the whole ``tm_transformer`` package
    (:func:`experiments.store.toolkit_sources`) and this file (a stored measurement of older code is
    measured again)."""
    import tm_transformer

    from .store import digest_files, toolkit_sources

    here = Path(__file__).resolve().parent
    files = toolkit_sources() + [here / f for f in ("transformer_check.py", "check_result.py")]
    return digest_files(files, root=Path(tm_transformer.__file__).resolve().parent.parent)


def check_transformer(out: Path, quick: bool = True, seed: int = 0, progress: bool = True):
    """Check 6. Its measurements are one point of the run's point store (keyed by quick, seed and
    :func:`code_version`): a re-run with nothing changed only redraws."""
    import json

    from . import store
    from .check_result import CheckResult

    def measure():  # stored as JSON: the same rows whether measured now or read back
        return json.loads(json.dumps(_measure(quick, seed, progress), default=store._plain))

    res = CheckResult("transformer")
    res.rows = store.memo("transformer_check", {"quick": quick, "seed": seed, "code": code_version()}, measure)
    return _report(res, out)


def _measure(quick: bool, seed: int, progress: bool) -> list[dict]:
    from tm_transformer import parse_machine, simulate
    from tm_transformer.transformer.decode import run
    from tm_transformer.transformer.envelope import MANTISSA_BITS, min_beta, steps_exact
    from tm_transformer.transformer.evict import evict_envelope
    from tm_transformer.transformer.frontier import (beta_frontier, certified_steps_frontier, envelope_steps,
                                                     real_steps_frontier, runs_certified, steps_frontier)

    from .check_result import CheckResult, _bar

    res = CheckResult("transformer")  # its rows only
    published = ["1RB1LB_1LA1RZ", "1RB1RZ_1LB0RC_1LC1LA", "1RB1RZ_0RC1RB_1LC1LA", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA",
                 "1RB2LB1RZ_2LA2RB1LB", "1RB2LA1RA1RA_1LB1LA3RB1RZ", "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA"]
    # both caches, certified (a run raises on any uncertified step) and compared with the reference step by
    # step; the full cache costs O(T^2) (100,000 steps: ~13 CPU-min), the evicting cache O(T * cells)
    machines = [parse_machine(s) for s in published]
    for cache, T in (("full", 2_000 if quick else 20_000), ("evict", 10_000 if quick else 100_000)):
        runs = run(machines, T, head_range=1000, cache=cache).results
        for s, m, r in zip(published, machines, runs):
            ref = simulate(m, T)
            res.rows.append({"kind": "exactness", "machine": s, "steps": r.steps, "exact": bool(r.trace == ref.trace),
                             "certified": True, "dtype": "float32", "cache": cache, "step_limit": T})
    limit = 512 if quick else 4096
    for dtype in _bar(["bfloat16", "float16", "float32", "float64"], "TM frontier", progress):
        row = {"kind": "frontier", "dtype": dtype, "mantissa_bits": MANTISSA_BITS[dtype]}
        for R in (4, 100, 1000):
            row[f"envelope_R{R}"] = steps_exact(MANTISSA_BITS[dtype], R)
            row[f"evict_envelope_R{R}"] = evict_envelope(dtype, R)  # the evicting cache (--cache evict)
            row[f"probe_R{R}"] = steps_frontier(dtype, R) if dtype != "float64" else None
        row["envelope_free_range"] = envelope_steps(dtype)
        if dtype in ("bfloat16", "float16"):  # searched upwards from the envelope (which must pass)
            kw = dict(limit=limit, n_machines=4 if quick else 16, seed=seed, start=row["envelope_free_range"])
            row["certified_free_range"] = certified_steps_frontier(dtype, **kw)
            kw["start"] = row["certified_free_range"] - 1  # a certified run is exact: no real failure below
            row["real_free_range"] = real_steps_frontier(dtype, **kw)
        # the evicting cache measured: real random runs at its envelope (capped at what a check can afford;
        # BB(5)'s 47M steps are benchmarks/bb5_*_evict.txt), certified step by step and equal to the reference
        cap = 1_024 if quick else 4_096
        row["evict_tested_steps"] = min(cap, evict_envelope(dtype, cap + 8))
        row["evict_certified"] = runs_certified(dtype, row["evict_tested_steps"], None, n_machines=4 if quick else 8,
                                                seed=seed, cache="evict")
        res.rows.append(row)
    Ns = [100] if quick else [10, 100, 1000, 3000]
    for N in _bar(Ns, "softmax beta", progress):
        bound = min_beta(2 * N + 20, N + 1)
        res.rows.append({"kind": "beta", "steps": N, "envelope_beta": bound, "old_envelope_beta": float(np.log(4 * (N + 1))),
                         "real_beta": beta_frontier(N, N + 8, n_machines=4, seed=seed, tol=0.1 if quick else 0.02,
                                                    guess=bound)})
    return res.rows


def _report(res, out: Path):
    """Summary and figure of check 6 from its rows."""
    exact = all(r["exact"] for r in res.rows if r["kind"] == "exactness")
    fr = [r for r in res.rows if r["kind"] == "frontier"]
    sound = all((r.get(f"probe_R{R}") is None or r[f"probe_R{R}"] > r[f"envelope_R{R}"]) for r in fr
                for R in (4, 100, 1000)) and all(
        r["envelope_free_range"] < r["certified_free_range"] <= r["real_free_range"] for r in fr if "real_free_range" in r)
    evict_sound = all(r["evict_certified"] for r in fr)
    beta_sound = all(r["real_beta"] <= r["envelope_beta"] + 0.05 for r in res.rows if r["kind"] == "beta")
    low = ", ".join(f"{r['dtype']} {r['envelope_free_range']} / {r['certified_free_range']} / {r['real_free_range']}"
                    for r in fr if "real_free_range" in r)
    limits = {r["cache"]: r["step_limit"] for r in res.rows if r["kind"] == "exactness"}
    res.summary = (f"published machines exact and certified in float32 for {limits['full']:,} steps with the full "
                   f"cache and {limits['evict']:,} with the evicting cache: {exact}; envelope < certified "
                   f"frontier <= first real failure: {sound} (steps at R = T + 8, envelope / certified / real: {low}); "
                   f"evicting cache: random runs at its envelope certified and exact in every dtype: {evict_sound} ("
                   + ", ".join(f"{r['dtype']} {r['evict_tested_steps']}" for r in fr) + " steps); "
                   f"the tight softmax bound covers every measured beta: {beta_sound}")
    betas = [r for r in res.rows if r["kind"] == "beta"]
    res.figures += figures.save_drawn(out, "transformer_frontier", lambda: plots.precision_frontier(fr, betas),
                                      inputs=[fr, betas], sources=[Path(__file__)])
    return res
