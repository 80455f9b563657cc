"""Sampling primitives that know no setting: per-trial keys and trial indices, batch sizes and sums,
padded buffers, early stops, and the uniform counts over 2^L outcomes the fair-split and tree samplers
share (:mod:`experiments.fair_splits`, :mod:`experiments.tree_counts`).

Trial t of a count draws its randomness from ``fold_in(fold_in(key(seed), tag), t)`` (the direct
samplers) or from words (t, 0), (t, 1), ... of the counter-based stream of (seed, tag) (the reduced and
tree samplers, :mod:`experiments.streams`): its result depends on (seed, tag, t) only. Batches are
sharded over the devices (:mod:`experiments.devices`); the host sums per-trial arrays in trial order.
"""
from __future__ import annotations

from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from . import fair_splits, tree_counts
from .devices import round_up, split, to_host
from .streams import stream_base

TREE_NODE_COST = 0.7  # a bisection step of a node, in Threefry words (measured: 0.6-0.9 on the C1 grid)


def trial_keys(seed: int, tag: str, start: int, count: int):
    """The direct samplers' keys of trials start, ..., start + count - 1: (count,) keys."""
    base = stream_base(seed, tag)
    return jax.vmap(lambda t: jax.random.fold_in(base, t))(jnp.arange(start, start + count))


def tie_tolerance(V: int) -> float:
    """In float32 an error equal to eps (a tie) computes to eps up to rounding; ties count as successes,
    so a float32 error fails only above eps + tie_tolerance(V): the rounding of a sum of V terms, with room."""
    return float(V) * 2.0 ** -21


def trials_of(start, size: int):
    """Trial indices start, ..., start + size - 1 (uint32, (size,)), split over the devices."""
    return split(start + jnp.arange(size, dtype=jnp.uint32))


def keys_of(base, t):
    """The direct samplers' per-trial keys fold_in(base, t) (same as :func:`trial_keys`)."""
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(t)


def sizes(trials: int, batch: int):
    """(start, count, size) per call: whole batches, the last one padded to a power of two (>= 64),
    every size a multiple of the device count."""
    for start in range(0, trials, batch):
        count = min(batch, trials - start)
        yield start, count, round_up(batch if count == batch else max(64, 1 << int(np.ceil(np.log2(count)))))


def sums(count: int, err, fail, *more):
    """(failures, sum of errors, *sums of more) over the first ``count`` trials of a batch."""
    out = [int(to_host(fail)[:count].sum()), float(np.sum(to_host(err)[:count], dtype=np.float64))]
    return out + [int(to_host(m)[:count].sum()) for m in more]


def stopped(out: dict, stop_above, total: int, done: int, trials: int) -> bool:
    """Whether a count stops after ``done`` trials (failures ``total`` > stop_above); marks ``out``."""
    if stop_above is None or total <= stop_above or done >= trials:
        return False
    out.update(trials=done, stopped=True)
    return True


def trials_per_call(words: int, budget: int, cap: int) -> int:
    """Trials in one call of ``words`` random words each: the largest power of two within ``budget`` words,
    at least 64, at most ``cap``."""
    return max(64, min(cap, 1 << (budget // words).bit_length() - 1))


def buffer(n: int) -> int:
    """Examples are padded to a power of two (>= 8) so that searches over n reuse compiled shapes."""
    return max(8, 1 << int(np.ceil(np.log2(max(n, 1)))))


def levels(q: int) -> int | None:
    """log2 q for a power of two q >= 2, else None."""
    return q.bit_length() - 1 if q >= 2 and q & (q - 1) == 0 else None


def uniform_counts(w, roots, levels: int, top: int, tree, rmax: int, steps: int):
    """roots (R,) -> (R, 2^levels) counts uniform over 2^levels outcomes: the first ``top`` levels of the
    tree by binomial inversion (:mod:`.tree_counts`, one word per node; ``tree``: its plan's arrays), the
    rest by fair splits of the nodes' counts (:mod:`.fair_splits`). Both are exact splits of a node's count
    into its halves, so any ``top`` gives the same law; the cheapest is used (:func:`hybrid`)."""
    if top == 0:
        return fair_splits.split_counts(w, roots, levels)
    R = roots.shape[0]
    head = R * ((1 << top) - 1)
    arrays = cast("tuple[Any, Any, Any, Any, Any]", tree)  # the plan's (qi, a, off, width, thr)
    upper = tree_counts.counts(w[:head], roots, *arrays, rmax, steps, top)  # (R, 2^top)
    if top == levels:
        return upper
    return fair_splits.split_counts(w[head:], upper.reshape(-1), levels - top).reshape(R, -1)


def hybrid(rows: int, K: int, n: int, pad_to: int = 0):
    """(top, plan, words, cost) of the cheapest uniform counts of ``rows`` roots of n examples (padded to
    ``pad_to``) over K = 2^L outcomes: ``top`` tree levels by inversion (its :mod:`.tree_counts` plan, None
    for 0), the rest by fair splits, ``words`` random words a trial. Cost: TREE_NODE_COST per bisection
    step of a node, 1 per fair-split word."""
    L = levels(K)
    total = buffer(rows * max(n, pad_to))
    if L is None:  # K not a power of two: no fair splits (words_needed raised this TypeError on None)
        raise TypeError(f"hybrid: K = {K} outcomes is not a power of two >= 2")
    best = (0, None, fair_splits.words_needed(total, L), float(fair_splits.words_needed(total, L)))
    for top in range(1, L):
        plan = tree_counts.plan(np.full((1, 1 << top), 1.0 / (1 << top)), buffer(max(n, pad_to)))
        if plan is None:
            break
        head = rows * ((1 << top) - 1)
        cost = head * plan.steps * TREE_NODE_COST + fair_splits.words_needed(total, L - top)
        if cost < best[3]:
            best = (top, plan, head + fair_splits.words_needed(total, L - top), cost)
    return best
