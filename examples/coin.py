"""A coin's bias from n tosses: the toolkit's built-in 'coin' setting, written by hand.

    tmt nstar examples/coin.py:coin eps=0.123 delta=0.1 p=0.3

The built-in setting computes the same n* exactly (``tmt nstar coin eps=0.123 delta=0.1 p=0.3``).
"""
import jax
import jax.numpy as jnp


def coin(key, n, p):
    """|p_hat - p| for the frequency p_hat of heads in n tosses of a p-coin."""
    return jnp.abs((jax.random.uniform(key, (n,)) < p).mean() - p)


def coin_padded(key, n, n_max, p):
    """The same estimate in the padded form (one compilation per n_max)."""
    heads = (jax.random.uniform(key, (n_max,)) < p) & (jnp.arange(n_max) < n)
    return jnp.abs(heads.sum() / n - p)
