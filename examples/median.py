"""The median of n uniforms as an estimate of 1/2.

    tmt nstar examples/median.py:median eps=0.1 delta=0.1

The (lower) median of n uniforms is their k-th smallest, k = (n + 1) // 2, whose law is Beta(k, n + 1 - k):
P(|median - 1/2| > eps) is known exactly.
"""
import jax
import jax.numpy as jnp


def median(key, n):
    """|U_(k) - 1/2|, U_(k) the k-th smallest of n uniforms, k = (n + 1) // 2."""
    u = jnp.sort(jax.random.uniform(key, (n,)))
    return jnp.abs(u[(n - 1) // 2] - 0.5)


def median_padded(key, n, n_max):
    """The same estimate in the padded form (one compilation per n_max)."""
    u = jnp.sort(jnp.where(jnp.arange(n_max) < n, jax.random.uniform(key, (n_max,)), 2.0))
    return jnp.abs(u[(n - 1) // 2] - 0.5)
