"""Multinomial counts over 2^L equally likely outcomes, from fair bits.

An example's outcome is L fair bits; bit ``lev`` sends it left or right at level ``lev`` of a binary
tree. Given the counts r_i of the 2^lev nodes of a level, their left counts are independent
Binomial(r_i, 1/2): the number of ones among r_i fresh fair bits. Lay the nodes' bits end to end in one
stream of N = sum_i r_i bits (N, the number of examples, does not change from level to level): node i
owns bits [b_i, b_i + r_i), b the prefix sums of r, and its left count is P(b_i + r_i) - P(b_i), P the
prefix popcount of the stream. A level costs N fresh bits and O(nodes) work, so counts over 2^L
outcomes cost L ceil(N / 32) words -- exact, with no binomial sampler at all.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def words_needed(total: int, levels: int) -> int:
    return levels * max(1, math.ceil(total / 32))


def prefix_sums(x: jnp.ndarray) -> jnp.ndarray:
    """Inclusive prefix sums along the last axis, as a log-depth associative scan: the same integers as
    ``jnp.cumsum``, which XLA's CPU backend computes as a reduce-window, quadratic in the length."""
    return jax.lax.associative_scan(jnp.add, x, axis=x.ndim - 1)


def split_counts(words: jnp.ndarray, roots: jnp.ndarray, levels: int) -> jnp.ndarray:
    """words (levels * W,) uint32 with 32 W >= sum(roots); roots (R,) int32 -> (R, 2^levels) int32 counts,
    each row Multinomial(roots[r], uniform over 2^levels)."""
    W = words.shape[0] // levels
    counts = roots.astype(jnp.int32)[:, None]
    for lev in range(levels):
        w = jnp.concatenate([words[lev * W:(lev + 1) * W], jnp.zeros((1,), jnp.uint32)])
        cum = jnp.concatenate([jnp.zeros((1,), jnp.int32),
                               prefix_sums(jax.lax.population_count(w[:-1]).astype(jnp.int32))])
        r = counts.reshape(-1)
        b = jnp.concatenate([jnp.zeros((1,), jnp.int32), prefix_sums(r)])
        # one gather for both the word holding bit b and the ones before that word
        both = jnp.stack([jax.lax.bitcast_convert_type(w, jnp.int32), cum], -1)[b >> 5]
        word = jax.lax.bitcast_convert_type(both[:, 0], jnp.uint32)
        below = word & ((jnp.uint32(1) << (b & 31).astype(jnp.uint32)) - jnp.uint32(1))
        ones_before = both[:, 1] + jax.lax.population_count(below).astype(jnp.int32)
        left = ones_before[1:] - ones_before[:-1]
        counts = jnp.stack([left, r - left], -1).reshape(counts.shape[0], -1)
    return counts
