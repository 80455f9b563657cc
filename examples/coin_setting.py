"""The coin as a setting object (the richer protocol): a trial, a cheaper sampler (one binomial draw instead
of n tosses), parameter validation, the exact failure probability (binomial law) and a proven horizon
(Hoeffding) -- so its n* is exact.

    tmt nstar examples/coin_setting.py:coin eps=0.123 delta=0.1 p=0.3

equals the built-in ``tmt nstar coin eps=0.123 delta=0.1 p=0.3`` (n* = 41).
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import binom


class Coin:
    def validate(self, p):
        if not 0 < p < 1:
            raise ValueError(f"p={p}: expected a probability in (0, 1)")

    def trial(self, key, n, n_max, p):
        """|p_hat - p| from n tosses (padded form: n_max draws, the first n used)."""
        heads = (jax.random.uniform(key, (n_max,)) < p) & (jnp.arange(n_max) < n)
        return jnp.abs(heads.sum() / n - p)

    def sampler(self, key, n, n_max, p):
        """The same error from the sufficient statistic: the number of heads, one binomial draw."""
        heads = jax.random.binomial(key, n.astype(jnp.float32), p)
        return jnp.abs(heads / n - p)

    def exact_failure(self, n, eps, p):
        """P(|K / n - p| > eps), K ~ Binomial(n, p)."""
        k = np.arange(n + 1)
        return float(binom.pmf(k, n, p)[np.abs(k / n - p) > eps].sum())

    def horizon(self, eps, delta, p):
        """Hoeffding: past ln(2 / delta) / (2 eps^2) tosses, failure <= delta for every n."""
        return math.ceil(math.log(2 / delta) / (2 * eps ** 2))


coin = Coin()
