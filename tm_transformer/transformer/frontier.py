"""Measuring where exactness really ends, to hold against the analytic envelope of :mod:`.envelope`.

Two measurements, both with the model's own functions in the dtype under test:

* :func:`probe_steps` -- the worst case of a T-step run, built directly: a query at a cell, the latest
  write to that cell (recency T - 2; the head cannot write a cell on two consecutive steps), an older
  write to it (recency T - 4), a write to a neighbouring cell (Hamming distance 1) at recency T, the
  initial-tape token and the start token. It passes when dense attention in the dtype picks the latest
  write. :func:`steps_frontier` finds the first failing T by a geometric scan and bisection.
* :func:`certified_steps_frontier` -- real runs: random machines decoded in the dtype with weights
  compiled for T steps (dense layout, envelope check off), certified step by step; the smallest T at
  which a certificate fails. A certified run that differs from the reference would be a bug in the
  certificate: it raises ``AssertionError``.
* :func:`real_steps_frontier` -- the same runs *uncertified*: the smallest T at which a trace really
  differs from the reference simulator (or the head leaves the range).

So per dtype: envelope <= certified frontier <= first real failure (the certificate is sufficient, not
necessary). For softmax, :func:`beta_frontier` finds the smallest beta at which real runs of T steps
stay exact (by bisection), to compare with the a-priori bound (about ln 4).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import PrecisionError
from ..machine import random_machine
from ..simulator import simulate
from . import model
from .compile import compile_machine
from .decode import _dtype, run
from .envelope import steps_exact


def probe_steps(dtype: str, T: int, R: int) -> bool:
    """True when dense hardmax attention in ``dtype`` reads the right key in the worst case of a T-step run."""
    jdt = _dtype(dtype)
    cm = compile_machine(random_machine(np.random.default_rng(0), 1, 2), T, R)
    L, M = cm.layout, cm.M
    params = jax.tree.map(lambda a: jnp.asarray(a, jdt), cm.params)
    h = R  # the cell with the most 1-bits in its code (index 2R): largest partial sums
    nb = h ^ 1 if -R <= (h ^ 1) <= R else h - 1
    tokens = [  # (head, write_pos, symbol, recency, is_target)
        (R, L.cell_none, 0, M * (L.D - 1), False),           # start token (blank)
        (R, h + R, 0, 0, False),                              # initial tape at h
        (R, h + R, 0, max(T - 4, 1), False),                  # an older write to h
        (R, nb + R, 0, T, False),                             # a neighbour written last
        (R, h + R, 1, max(T - 2, 2), True),                   # the latest write to h: the right key
    ]

    def kv(tok):
        x = model.embed(params, {"state": jnp.int32(0), "head": jnp.int32(tok[0]), "write_pos": jnp.int32(tok[1]),
                                 "symbol": jnp.int32(tok[2]), "recency": jnp.int32(tok[3])})
        _, k, v = model.qkv(params["layers"][0], x)
        return k, v

    keys, values = zip(*(kv(t) for t in tokens))
    xq = model.embed(params, {"state": jnp.int32(0), "head": jnp.int32(h + R), "write_pos": jnp.int32(L.cell_none),
                              "symbol": jnp.int32(0), "recency": jnp.int32(T)})
    q, _, _ = model.qkv(params["layers"][0], xq)
    with jax.default_matmul_precision("highest"):
        st = model.attend_chunk(model.empty_attn_state(1, L.k, jdt), q, jnp.stack(keys), jnp.stack(values),
                                jnp.ones(len(tokens), bool), None)
    return int(st.arg[0]) == len(tokens) - 1


def steps_frontier(dtype: str, R: int, limit: int = 2 ** 40) -> int:
    """The smallest T (up to ``limit``) at which :func:`probe_steps` fails; ``limit`` if none does."""
    return _first_failure(lambda T: probe_steps(dtype, T, R), limit)


def _random_runs(dtype, T, R, n_machines, seed, beta, certify, cache="full"):
    R = T + 8 if R is None else R
    rng = np.random.default_rng(seed)
    machines = [random_machine(rng, 4, 3, p_halt=0.0) for _ in range(n_machines)]
    tapes = [rng.integers(0, 3, size=int(rng.integers(0, 6))).tolist() for _ in machines]
    out = run(machines, T, tapes, dtype=dtype, beta=beta, head_range=R, layout="dense", check_envelope=False,
              certify=certify, cache=cache)
    return machines, tapes, out


def runs_certified(dtype: str, T: int, R: int | None = None, n_machines: int = 16, seed: int = 0,
                   beta: float | None = None, cache: str = "full") -> bool:
    """Whether real T-step dense runs in ``dtype`` of ``n_machines`` random 4-state 3-symbol machines
    certify every step (with the full or the evicting ``cache``). ``R=None`` takes the head range T + 8,
    which no run can leave."""
    try:
        machines, tapes, out = _random_runs(dtype, T, R, n_machines, seed, beta, True, cache)
    except PrecisionError:
        return False
    for m, tape, res in zip(machines, tapes, out.results):
        assert simulate(m, T, tape).trace == res.trace, f"a certified {dtype} run of {m} differs from the reference"
    return True


def runs_exact(dtype: str, T: int, R: int | None = None, n_machines: int = 16, seed: int = 0,
               beta: float | None = None) -> bool:
    """Whether the same runs, *uncertified*, all equal the reference (the head staying in range)."""
    try:
        machines, tapes, out = _random_runs(dtype, T, R, n_machines, seed, beta, False)
    except PrecisionError:
        return False  # the head left the range
    return all(simulate(m, T, tape).trace == res.trace for m, tape, res in zip(machines, tapes, out.results))


def certified_steps_frontier(dtype: str, R: int | None = None, limit: int = 4096, start: int = 1, **kw) -> int:
    """The smallest T in (start, limit] whose real runs do not all certify (see :func:`runs_certified`)."""
    return _first_failure(lambda T: runs_certified(dtype, T, R, **kw), limit, start)


def real_steps_frontier(dtype: str, R: int | None = None, limit: int = 4096, start: int = 1, **kw) -> int:
    """The smallest T in (start, limit] whose uncertified real runs are not exact (see :func:`runs_exact`)."""
    return _first_failure(lambda T: runs_exact(dtype, T, R, **kw), limit, start)


def _first_failure(ok, limit: int, start: int = 1) -> int:
    """The smallest T in (start, limit] with not ok(T) (``limit`` if none), assuming ok is monotone: a
    geometric scan from ``start`` (a T known or expected to pass, e.g. the envelope), then bisection.
    Returns ``start`` itself when it fails."""
    if not ok(start):
        return start
    lo, hi = start, 2 * start
    while hi < limit and ok(hi):
        lo, hi = hi, hi * 2
    if hi >= limit:
        return limit if ok(limit) else _bisect(ok, lo, limit)
    return _bisect(ok, lo, hi)


def _bisect(ok, lo: int, hi: int) -> int:
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return hi


def beta_frontier(T: int, R: int, dtype: str = "float32", n_machines: int = 8, seed: int = 0,
                  tol: float = 0.05, guess: float | None = None) -> float:
    """Smallest softmax beta (to ``tol``) at which real runs of T steps are exact, bisected in (0.05, 64].
    ``guess`` (e.g. the a-priori bound, which should pass): bisect in (0.05, guess] when runs at it are
    exact -- fewer runs (each a compilation), the same frontier to within ``tol`` when exactness is monotone
    in beta; when runs at ``guess`` are not exact, the search covers (guess, 64] as without one."""
    def ok(beta):
        return runs_exact(dtype, T, R, n_machines, seed, beta)

    lo, hi = 0.05, 64.0
    if guess is not None and lo + tol < guess < hi:
        lo, hi = (lo, guess) if ok(guess) else (guess, hi)
    if hi == 64.0 and not ok(hi):
        return math.inf
    while hi - lo > tol:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def envelope_steps(dtype: str, R: int | None = None) -> int:
    """T_exact at head range R; for ``R=None`` the largest T with T <= T_exact(p, T + 8)."""
    from .envelope import MANTISSA_BITS

    p = MANTISSA_BITS[dtype]
    if R is not None:
        return steps_exact(p, R)
    T = 1
    while T + 1 <= steps_exact(p, T + 9):
        T += 1 if T < 4096 else T // 64
    return T
