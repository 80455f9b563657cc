"""Contexts: m contexts, V tokens, n_c examples per context (or m n_c examples with contexts drawn
uniformly at random); the estimator is the induction head's empirical conditional distribution; error =
max over contexts of TV(p_hat_c, p_c).

Samplers: direct (multinomial draws per trial); reduced (uniform targets over V = 2^L tokens: counts by
fair splits, the top levels by binomial inversion where cheaper; with random contexts m = 2^a, one tree of
a + L levels); tree (contexts allocated evenly: binomial inversion down a tree, any targets with a plan).
Failure is decided in integers where the targets are uniform (:mod:`experiments.exact`). n* is exact for
V <= 3 with contexts allocated evenly (every n_c up to Weissman's bound at delta / m), else simulated.
"""
from __future__ import annotations

import math
from functools import lru_cache, partial
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np

from tm_transformer.bounds.known import get

from .. import exact, fair_splits, tree_counts
from ..devices import ordered_sum, split
from ..nstar_result import DEFINITION, NStar, from_curve
from ..sampling import buffer, hybrid, keys_of, levels, tie_tolerance, trials_of, uniform_counts
from ..streams import trial_words
from .base import Setting

CONTEXT_TARGETS = ("uniform", "near-uniform", "skewed", "sparse", "dirichlet")
EXACT_V3_MAX_N = 600  # exact enumeration over V = 3 count vectors up to here (n^2 / 2 vectors each)


def contexts_decision(counts, per, probs, eps, thr=None, thr_total=None):
    """counts (m, V), per (m,) examples per context -> (error, failed). A context with no example is
    estimated by the marginal of all examples. thr (N + 1,): floor(2 eps V k), k <= N, or None."""
    V = probs.shape[1]
    counts, per = counts.astype(jnp.float32), per.astype(jnp.float32)
    marginal = counts.sum(0) / jnp.maximum(counts.sum(), 1)
    p_hat = jnp.where(per[:, None] > 0, counts / jnp.maximum(per, 1)[:, None], marginal[None, :])
    err = (0.5 * ordered_sum(jnp.abs(p_hat - probs))).max()
    if thr is None:
        return err, err > eps + tie_tolerance(V)
    if thr_total is None:  # thr comes with thr_total (a comparison with None raised this TypeError)
        raise TypeError("contexts_decision: thr without thr_total")
    c, per = counts.astype(jnp.int32), per.astype(jnp.int32)
    S = jnp.abs(V * c - per[:, None]).sum(1)
    S_marginal = jnp.abs(V * c.sum(0) - per.sum()).sum()
    fail = jnp.where(per > 0, S > thr[per], S_marginal > thr_total)
    return err, fail.any()


def contexts_error(key, n_c, probs, random_allocation: bool, eps, thr=None, thr_total=None):
    """probs (m, V); n_c examples per context (or m * n_c in total with random contexts)."""
    m = probs.shape[0]
    k1, k2 = jax.random.split(key)
    if random_allocation:
        per = jax.random.multinomial(k1, (m * n_c).astype(jnp.float32), jnp.full((m,), 1.0 / m))
    else:
        per = jnp.full((m,), n_c, jnp.float32)
    return contexts_decision(jax.random.multinomial(k2, per, probs), per, probs, eps, thr, thr_total)


@partial(jax.jit, static_argnames=("random_allocation", "size"))
def _contexts_batch(base, start, n_c, probs, eps, random_allocation, thr, thr_total, size):
    keys = keys_of(base, trials_of(start, size))
    err, fail = jax.vmap(lambda k: contexts_error(k, n_c, probs, random_allocation, eps, thr, thr_total))(keys)
    return split(err), split(fail)


@partial(jax.jit, static_argnames=("m", "levels", "random_allocation", "words", "top", "rmax", "steps", "size"))
def _contexts_reduced_batch(key, start, n_c, probs, eps, thr, thr_total, tree, m, levels, random_allocation, words,
                            top, rmax, steps, size):
    """Uniform targets over V = 2^L tokens: counts by fair splits (below ``top`` levels split by inversion);
    with random contexts (m = 2^a) the examples are uniform over the m V (context, token) pairs, one tree
    of a + L levels."""
    def one(w):
        if random_allocation:
            counts = fair_splits.split_counts(w, (m * n_c)[None], levels).reshape(m, -1)
        else:
            counts = uniform_counts(w, jnp.full((m,), n_c, jnp.int32), levels, top, tree, rmax, steps)
        return contexts_decision(counts, counts.sum(1), probs, eps, thr, thr_total)

    err, fail = jax.vmap(one)(trial_words(key, trials_of(start, size), words))
    return split(err), split(fail)


@partial(jax.jit, static_argnames=("rmax", "steps", "L", "size"))
def _contexts_tree_batch(key, start, n_c, probs, eps, thr, thr_total, qi, a, off, width, table, rmax, steps, L, size):
    """Contexts with n_c examples each: counts by binomial inversion down a tree (:mod:`.tree_counts`),
    one word per node."""
    m, V = probs.shape

    def one(w):
        counts = tree_counts.counts(w, jnp.full((m,), n_c, jnp.int32), qi, a, off, width, table, rmax, steps, L)[:, :V]
        return contexts_decision(counts, counts.sum(1), probs, eps, thr, thr_total)

    err, fail = jax.vmap(one)(trial_words(key, trials_of(start, size), m * ((1 << L) - 1)))
    return split(err), split(fail)


def _contexts_thresholds(probs, n_c: int, eps: float, random_allocation: bool, pad_to: int = 0):
    """(thr, thr_total) for the integer decision, or (None, None) when the targets are not uniform.
    thr[k] = floor(2 eps V k) for k up to the largest count a context can get, padded to a power of two
    (searches over n then reuse compiled shapes)."""
    V = exact.uniform_size(probs)
    if V is None:
        return None, None
    m = np.asarray(probs).shape[0]
    N = m * n_c if random_allocation else n_c
    ks = np.arange(buffer(max(N, m * pad_to if random_allocation else pad_to) + 1))
    thr = exact.floor_threshold(2 * exact.fraction(eps), V, np.minimum(ks, N))
    return jnp.asarray(thr), jnp.int32(exact.floor_threshold(2 * exact.fraction(eps), V, m * n_c))


def context_probs(target: str, m: int, V: int, seed: int = 0) -> np.ndarray:
    """(m, V) next-token distributions of a named family: uniform; near-uniform (1/V +- 0.02/V,
    alternating); skewed (Zipf, p_j proportional to 1/j); sparse (half on each of two tokens);
    dirichlet (Dirichlet(1) draws from ``seed``)."""
    if target == "uniform":
        row = np.full(V, 1.0 / V)
    elif target == "near-uniform":
        row = np.full(V, 1.0 / V) + np.resize([0.02, -0.02], V) / V
        row[-1] = 1.0 - row[:-1].sum()
    elif target == "skewed":
        row = 1.0 / np.arange(1, V + 1)
        row /= row.sum()
    elif target == "sparse":
        row = np.zeros(V)
        row[:2] = 0.5
    elif target == "dirichlet":
        return np.random.default_rng(seed).dirichlet(np.ones(V), size=m)
    else:
        raise ValueError(f"target {target!r}: expected one of {', '.join(CONTEXT_TARGETS)}")
    return np.tile(row, (m, 1))


def exact_contexts(probs: np.ndarray, eps: float, delta: float, target: str) -> NStar:
    """m contexts, n_c examples each (n* reported in total examples m n_c), V <= 3."""
    probs = np.asarray(probs, dtype=np.float64)
    m, V = probs.shape
    H = max(2, math.ceil(get("weissman").evaluate(V=V, eps=eps, delta=delta / m)))
    ns = np.arange(1, H + 1)
    if V == 2:
        ok = np.ones(len(ns))
        for row in probs:
            ok *= 1.0 - exact.coin_failure(ns, row[0], eps)
        fail = 1.0 - ok
    else:
        if H > EXACT_V3_MAX_N:
            raise ValueError(f"exact enumeration over V = 3 stops at n = {EXACT_V3_MAX_N} (horizon {H})")
        fail = np.array([_contexts_failure(int(k), probs.shape, probs.tobytes(), eps) for k in ns])
    n, first, f = from_curve(ns, fail, delta)
    return NStar(m * n, m * n, m * n, True, DEFINITION, target, "induction head (empirical conditional)", 0, m * H,
                 m * first, f, f"every n_c in [1, {H}] per context (Weissman at delta/m beyond)")


@lru_cache(maxsize=200_000)
def _contexts_failure(n_c: int, shape: tuple, probs: bytes, eps: float) -> float:
    """:func:`exact.contexts_failure`, kept: a grid's deltas share one failure curve per target (each delta's
    search reads it up to its own horizon)."""
    return exact.contexts_failure(n_c, np.frombuffer(probs, dtype=np.float64).reshape(shape), eps)


class Contexts(Setting):
    name = engine_name = "contexts"
    learners = ("induction",)
    targets = CONTEXT_TARGETS

    def has_reduction(self, kw):
        """Uniform targets over 2^L tokens (with random contexts, a power-of-two number of contexts too)."""
        probs = np.asarray(kw["probs"])
        if exact.uniform_size(probs) is None or levels(probs.shape[-1]) is None:
            return False
        return not (kw.get("random_allocation") and levels(2 * probs.shape[0]) is None)

    def tree_probs(self, kw):
        return None if kw.get("random_allocation", False) else np.asarray(kw["probs"], dtype=np.float64)

    def uniform_rows(self, kw):
        return np.asarray(kw["probs"]).shape[0]

    def direct_batch(self, n, pad_to, kw):
        probs, random_allocation = jnp.asarray(kw["probs"], jnp.float32), kw.get("random_allocation", False)
        thr = _contexts_thresholds(kw["probs"], n, kw["eps"], random_allocation, pad_to)
        return lambda base, start, size: _contexts_batch(base, start, jnp.float32(n), probs, kw["eps"], random_allocation,
                                                         *thr, size=size)

    def reduced_batch(self, n, pad_to, kw):
        probs = np.asarray(kw["probs"])
        m, V = probs.shape
        random_allocation = bool(kw.get("random_allocation", False))
        L_V, L_m = levels(V), levels(2 * m) if random_allocation else 1
        if L_V is None or L_m is None:  # has_reduction: powers of two (arithmetic on None raised this TypeError)
            raise TypeError(f"contexts reduced sampler: V = {V}" + (f", m = {m}" if random_allocation else "")
                            + " must be a power of two")
        L = L_V + (L_m - 1 if random_allocation else 0)
        if random_allocation:
            total_examples = buffer(m * max(n, pad_to))  # words for a padded total: one compiled shape per power of two
            words, top, plan = fair_splits.words_needed(total_examples, L), 0, None
        else:
            top, plan, words = hybrid(m, V, n, pad_to)[:3]
        thr = _contexts_thresholds(probs, n, kw["eps"], random_allocation, pad_to)
        ctx = (jnp.int32(n), jnp.asarray(probs, jnp.float32), kw["eps"], *thr, plan.arrays if plan else None)
        static = dict(m=m, levels=L, random_allocation=random_allocation, words=words, top=top,
                      rmax=plan.rmax if plan else 0, steps=plan.steps if plan else 0)
        return words, lambda key, start, size: _contexts_reduced_batch(key, start, *ctx, **static, size=size)

    def tree_batch(self, n, pad_to, plan, kw):
        probs = np.asarray(kw["probs"])
        thr = _contexts_thresholds(probs, n, kw["eps"], False, pad_to)
        args = (jnp.int32(n), jnp.asarray(probs, jnp.float32), kw["eps"], *thr, *plan.arrays)
        tabs = dict(rmax=plan.rmax, steps=plan.steps, L=plan.L)
        return (probs.shape[0] * ((1 << plan.L) - 1),
                lambda key, start, size: _contexts_tree_batch(key, start, *args, **tabs, size=size))

    def search(self, params, eps, delta, opts, engine):
        m, V = int(params.get("m", 1)), int(params["V"])
        names = cast("tuple[str, ...]",  # the contexts' targets are names
                     (opts.targets or CONTEXT_TARGETS) if opts.worst_case else (opts.target or "uniform",))
        random_allocation = opts.random_allocation
        out = []
        for name in names:
            probs = context_probs(name, m, V, opts.seed)
            if not random_allocation and V <= 3 and (
                    V == 2 or get("weissman").evaluate(V=V, eps=eps, delta=delta / m) <= EXACT_V3_MAX_N):
                out.append(exact_contexts(probs, eps, delta, name))
            else:
                out.append(engine.simulated("contexts", dict(probs=probs, eps=eps, random_allocation=random_allocation), delta,
                                            engine.trials(delta, opts.trials), opts.seed,
                                            f"nstar/contexts/{name}/{random_allocation}/{m}/{V}/{eps}/{delta}", scale=m,
                                            target=name, learner="induction head (empirical conditional)",
                                            n0=max(1, int(get("weissman").evaluate(V=V, eps=eps, delta=delta) / 8)),
                                            max_points=opts.max_points,
                                            pad=int(get("weissman").evaluate(V=V, eps=eps, delta=delta / m) *
                                                    (m if random_allocation else 1))))
        return max(out, key=lambda r: r.n_star)


SETTING = Contexts()
