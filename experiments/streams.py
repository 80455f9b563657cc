"""Per-trial random streams from a counter-based hash.

Word j of trial t is Threefry-2x32, keyed by (seed, tag), applied to the counter pair (t, j // 2)
(one hash gives two 32-bit words). A trial's words therefore depend on (seed, tag, t, j) only: not on
the batch the trial runs in, nor on the device, nor on how many words other trials use. There is no
per-trial key derivation or split; a trial costs one hash per two words it uses.

Conversions keep every draw inside the open unit interval, so logarithms and inverse CDFs never see
0 or 1: ``unit(w) = (floor(w / 2^9) + 1/2) / 2^23`` (float32, 23 bits, symmetric about 1/2; with 24
bits the top value 1 - 2^-25 would round to 1 in float32).
"""
from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp
from jax.extend.random import threefry2x32_p


def stream_base(seed: int, tag: str):
    """The typed JAX key of the stream (seed, tag); the direct engine folds trial indices into it."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(tag.encode()) & 0x7FFFFFFF)


def stream_key(seed: int, tag: str) -> jnp.ndarray:
    """The (2,) uint32 Threefry key of the stream (seed, tag)."""
    return jax.random.key_data(stream_base(seed, tag)).astype(jnp.uint32)


def trial_words(key: jnp.ndarray, t: jnp.ndarray, count: int) -> jnp.ndarray:
    """(B, count) uint32 words of trials t (B,) uint32; row b is trial t[b] whatever the batch."""
    half = (count + 1) // 2
    shape = (t.shape[0], half)
    x0 = jnp.broadcast_to(t.astype(jnp.uint32)[:, None], shape)
    x1 = jnp.broadcast_to(jnp.arange(half, dtype=jnp.uint32)[None, :], shape)
    k0, k1 = (jnp.broadcast_to(k, shape) for k in (key[0], key[1]))
    y0, y1 = threefry2x32_p.bind(k0, k1, x0, x1)
    return jnp.stack([y0, y1], axis=-1).reshape(shape[0], 2 * half)[:, :count]


def unit(w: jnp.ndarray) -> jnp.ndarray:
    """uint32 words -> float32 uniforms in the open interval (0, 1)."""
    return ((w >> 9).astype(jnp.float32) + 0.5) * jnp.float32(2.0 ** -23)


def normal(w: jnp.ndarray) -> jnp.ndarray:
    """uint32 words -> standard normal float32 by the inverse CDF, one word per draw."""
    return jnp.float32(2.0 ** 0.5) * jax.lax.erf_inv(2.0 * unit(w) - 1.0)
