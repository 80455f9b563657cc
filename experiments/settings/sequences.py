"""Sequences: outputs of length l over V tokens, a distribution over the W = V^l sequences; the estimator
is the empirical distribution; error = TV over sequences, or the largest per-sequence probability error
(reading 'linf').

Samplers: direct (a multinomial draw per trial); reduced (uniform targets over W = 2^L outcomes: fair
splits, the top levels by inversion where cheaper); tree (binomial inversion down a tree). Failure is
decided in integers where the target is uniform. n* is exact where the count vectors up to the proven
horizon can be enumerated (or, for uniform targets, summed by dynamic programming), else simulated.
"""
from __future__ import annotations

import math
from functools import partial
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np

from tm_transformer.bounds.known import get

from .. import exact, tree_counts
from ..devices import ordered_sum, split
from ..nstar_result import DEFINITION, NStar, from_curve
from ..sampling import hybrid, keys_of, levels, tie_tolerance, trials_of, uniform_counts
from ..streams import trial_words
from .base import Setting

SEQUENCE_TARGETS = ("uniform", "markov", "biased", "spike")
READINGS = ("tv", "linf")
CLI_MAX_OUTCOMES = 4096  # tmt nstar sequences: V^l up to here (counts over every output)


def sequence_decision(counts, n, probs, eps, reading: str, thr=None):
    """counts (W,) over the V^l sequences -> (TV or L-infinity error, failed). thr: the integer threshold
    of sum_j |W c_j - n| (TV) or max_j |W c_j - n| (L-infinity), or None."""
    diff = jnp.abs(counts.astype(jnp.float32) / n - probs)
    err = 0.5 * ordered_sum(diff) if reading == "tv" else diff.max()
    if thr is None:
        return err, err > eps + tie_tolerance(probs.shape[0])
    dev = jnp.abs(probs.shape[0] * counts.astype(jnp.int32) - n.astype(jnp.int32))
    return err, (dev.sum() if reading == "tv" else dev.max()) > thr


def sequence_errors(key, n, probs, eps, reading: str, thr=None):
    return sequence_decision(jax.random.multinomial(key, n.astype(jnp.float32), probs), n, probs, eps, reading, thr)


@partial(jax.jit, static_argnames=("reading", "size"))
def _sequence_batch(base, start, n, probs, eps, reading, thr, size):
    err, fail = jax.vmap(lambda k: sequence_errors(k, n, probs, eps, reading, thr))(keys_of(base, trials_of(start, size)))
    return split(err), split(fail)


@partial(jax.jit, static_argnames=("reading", "levels", "words", "top", "rmax", "steps", "size"))
def _sequences_reduced_batch(key, start, n, probs, eps, thr, tree, reading, levels, words, top, rmax, steps, size):
    def one(w):
        return sequence_decision(uniform_counts(w, n[None], levels, top, tree, rmax, steps)[0], n, probs, eps, reading, thr)

    err, fail = jax.vmap(one)(trial_words(key, trials_of(start, size), words))
    return split(err), split(fail)


@partial(jax.jit, static_argnames=("reading", "rmax", "steps", "L", "size"))
def _sequences_tree_batch(key, start, n, probs, eps, thr, qi, a, off, width, table, reading, rmax, steps, L, size):
    W = probs.shape[0]

    def one(w):
        counts = tree_counts.counts(w, n[None], qi, a, off, width, table, rmax, steps, L)[0, :W]
        return sequence_decision(counts, n, probs, eps, reading, thr)

    err, fail = jax.vmap(one)(trial_words(key, trials_of(start, size), (1 << L) - 1))
    return split(err), split(fail)


def _sequence_threshold(probs, n: int, eps: float, reading: str):
    W = exact.uniform_size(probs)
    if W is None:
        return None
    return jnp.int32(exact.floor_threshold((2 if reading == "tv" else 1) * exact.fraction(eps), W, n))


def sequence_probs(target: str, V: int, l: int) -> np.ndarray:
    """(V^l,) distribution over length-l outputs of a structured source: uniform (i.i.d. uniform tokens);
    markov (first token uniform, then repeat the last token with probability 0.9); biased (i.i.d.
    tokens, token 0 with probability 0.8); spike (half the mass on the all-zero output, the rest uniform)."""
    W = V ** l
    seqs = np.array(np.unravel_index(np.arange(W), (V,) * l)).T if l else np.zeros((1, 0), int)
    if target == "uniform":
        return np.full(W, 1.0 / W)
    if target == "markov":
        stay = (seqs[:, 1:] == seqs[:, :-1]).sum(1)
        return (1.0 / V) * 0.9 ** stay * (0.1 / max(V - 1, 1)) ** (l - 1 - stay)
    if target == "biased":
        zeros = (seqs == 0).sum(1)
        return 0.8 ** zeros * (0.2 / max(V - 1, 1)) ** (l - zeros)
    if target == "spike":
        p = np.full(W, 0.5 / W)
        p[0] += 0.5
        return p
    raise ValueError(f"target {target!r}: expected one of {', '.join(SEQUENCE_TARGETS)}")


def _horizon_bound(reading: str):
    return get("seq_union" if reading == "linf" else "tv_sequences")


class Sequences(Setting):
    name = engine_name = "sequences"
    learners = ("empirical",)
    targets = SEQUENCE_TARGETS

    def has_reduction(self, kw):
        """Uniform targets over 2^L outcomes."""
        probs = np.asarray(kw["probs"])
        return exact.uniform_size(probs) is not None and levels(probs.shape[-1]) is not None

    def tree_probs(self, kw):
        return np.asarray(kw["probs"], dtype=np.float64)[None, :]

    def direct_batch(self, n, pad_to, kw):
        probs = jnp.asarray(kw["probs"], jnp.float32)
        thr = _sequence_threshold(kw["probs"], n, kw["eps"], kw["reading"])
        return lambda base, start, size: _sequence_batch(base, start, jnp.float32(n), probs, kw["eps"], kw["reading"], thr,
                                                         size=size)

    def reduced_batch(self, n, pad_to, kw):
        probs = np.asarray(kw["probs"])
        top, plan, words = hybrid(1, probs.shape[0], n, pad_to)[:3]
        seq = (jnp.int32(n), jnp.asarray(probs, jnp.float32), kw["eps"], _sequence_threshold(probs, n, kw["eps"], kw["reading"]),
               plan.arrays if plan else None)
        static = dict(levels=levels(probs.shape[0]), words=words, top=top, rmax=plan.rmax if plan else 0,
                      steps=plan.steps if plan else 0)
        return words, lambda key, start, size: _sequences_reduced_batch(key, start, *seq, reading=kw["reading"], **static,
                                                                        size=size)

    def tree_batch(self, n, pad_to, plan, kw):
        probs = np.asarray(kw["probs"])
        args = (jnp.int32(n), jnp.asarray(probs, jnp.float32), kw["eps"], _sequence_threshold(probs, n, kw["eps"], kw["reading"]),
                *plan.arrays)
        tabs = dict(rmax=plan.rmax, steps=plan.steps, L=plan.L, reading=kw["reading"])
        return (1 << plan.L) - 1, lambda key, start, size: _sequences_tree_batch(key, start, *args, **tabs, size=size)

    def search(self, params, eps, delta, opts, engine):
        V, l = int(params.get("V", 2)), int(params["l"])
        reading = str(params.get("reading", "tv"))
        if reading not in READINGS:
            raise ValueError(f"reading {reading!r}: expected 'tv' or 'linf'")
        names = cast("tuple[str, ...]",  # the sequences' targets are names
                     (opts.targets or SEQUENCE_TARGETS) if opts.worst_case else (opts.target or "uniform",))
        out = []
        for name in names:
            probs = sequence_probs(name, V, l)
            horizon = max(2, math.ceil(_horizon_bound(reading).evaluate(V=V, l=l, eps=eps, delta=delta)))
            K = probs.shape[0]
            uniform = exact.uniform_size(probs) is not None
            by_dp = uniform and K > 3 and (horizon + 1) * ((2 if reading == "tv" else 0) * eps * K * horizon + 2) \
                <= exact.DP_BUDGET
            if K <= 3 or math.comb(horizon + K, K) <= exact.ENUMERATION_BUDGET or by_dp:  # every n' up to H
                ns = np.arange(1, horizon + 1)
                fail = np.array([exact.uniform_failure(int(k), K, eps, reading) if by_dp else
                                 exact.multinomial_failure(int(k), probs, eps, reading) for k in ns])
                n, first, f = from_curve(ns, fail, delta)
                out.append(NStar(n, n, n, True, DEFINITION, name, "empirical distribution", 0, int(ns[-1]), first, f,
                                 f"every n' in [1, {int(ns[-1])}] (the proven bound beyond)"))
            else:
                bound = _horizon_bound(reading).evaluate(V=V, l=l, eps=eps, delta=delta)
                out.append(engine.simulated("sequences", dict(probs=probs, eps=eps, reading=reading), delta,
                                            engine.trials(delta, opts.trials), opts.seed,
                                            f"nstar/sequences/{reading}/{name}/{V}/{l}/{eps}/{delta}",
                                            target=name, learner="empirical distribution", max_points=opts.max_points,
                                            n0=max(4, int(bound / 8)), pad=int(bound)))
        return max(out, key=lambda r: r.n_star)

    def nstar_key(self, args):
        return {**args, "exact_enumeration": 5}  # sequences over 4+ outcomes: exact since 0.2

    def cli_check(self, params):
        if int(params.get("V", 2)) ** int(params["l"]) > CLI_MAX_OUTCOMES:
            raise ValueError("nstar sequences: V^l above 4096 outcomes is beyond this command (counts over every output)")


SETTING = Sequences()
