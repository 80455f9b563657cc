"""The Kolmogorov-Smirnov statistic of n uniforms: how many samples until the empirical CDF is within eps
of the true one, with probability at least 1 - delta?

    tmt nstar examples/ks.py:ks eps=0.2 delta=0.1

Its law is known exactly (``scipy.stats.kstwo``): n* = 36 at eps = 0.2, delta = 0.1.
"""
import jax
import jax.numpy as jnp


def ks(key, n):
    """sup_x |F_n(x) - x| for n uniforms on (0, 1)."""
    u = jnp.sort(jax.random.uniform(key, (n,)))
    i = jnp.arange(1, n + 1)
    return jnp.maximum((i / n - u).max(), (u - (i - 1) / n).max())


def ks_padded(key, n, n_max):
    """The same statistic in the padded form: n_max draws, the first n used (one compilation per n_max)."""
    keep = jnp.arange(n_max) < n
    u = jnp.sort(jnp.where(keep, jax.random.uniform(key, (n_max,)), 2.0))  # unused draws sort last
    i = jnp.arange(1, n_max + 1)
    return jnp.where(keep, jnp.maximum(i / n - u, u - (i - 1) / n), 0.0).max()
