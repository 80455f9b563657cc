"""The Monte-Carlo engine: failure counts P(error > eps) of in-context estimators, JIT-compiled and
vmapped over trials.

Trial t of a setting draws its randomness from ``fold_in(fold_in(key(seed), tag), t)``: the result of
a trial depends on (seed, setting tag, trial index) only -- not on how trials are batched or which
device runs them -- and the same trials are reused for every n (common random numbers), which keeps
the failure rate monotone in n along a search.

Settings (each returns the error of one trial):

* ``contexts``  -- m contexts, V tokens, n_c examples per context (or n examples with contexts drawn
  uniformly at random); the estimator is the induction head's empirical conditional distribution;
  error = max over contexts of TV(p_hat_c, p_c);
* ``coin``      -- one probability p from n examples; error = |p_hat - p|;
* ``sequences`` -- outputs of length l over V tokens, a distribution over the V^l sequences; error =
  TV over sequences, or the largest per-sequence probability error (L-infinity);
* ``halfspace`` -- d-dimensional standard Gaussian inputs labelled by a random homogeneous halfspace;
  learner: a consistent one (in the plane the midpoint of the version space, exact and fast; in higher
  dimension the perceptron run to zero training error) or one gradient step (linear attention);
  error = the exact disagreement angle(w_hat, w*)/pi.
"""
from __future__ import annotations

import zlib
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

TRIAL_BATCH = 4096


def trial_keys(seed: int, tag: str, start: int, count: int):
    base = jax.random.fold_in(jax.random.key(seed), zlib.crc32(tag.encode()) & 0x7FFFFFFF)
    return jax.vmap(lambda t: jax.random.fold_in(base, t))(jnp.arange(start, start + count))


# ---- per-trial errors ------------------------------------------------------------------------------
def contexts_error(key, n_c, probs, random_allocation: bool):
    """probs (m, V); n_c examples per context (or m * n_c in total with random contexts)."""
    m = probs.shape[0]
    k1, k2 = jax.random.split(key)
    if random_allocation:
        per = jax.random.multinomial(k1, (m * n_c).astype(jnp.float32), jnp.full((m,), 1.0 / m))
    else:
        per = jnp.full((m,), n_c, jnp.float32)
    counts = jax.random.multinomial(k2, per, probs)
    marginal = counts.sum(0) / jnp.maximum(counts.sum(), 1)
    p_hat = jnp.where(per[:, None] > 0, counts / jnp.maximum(per, 1)[:, None], marginal[None, :])
    return (0.5 * jnp.abs(p_hat - probs).sum(1)).max()


def coin_error(key, n, p):
    return jnp.abs(jax.random.binomial(key, n.astype(jnp.float32), p) / n - p)


def sequence_errors(key, n, probs):
    """probs (W,) over the V^l sequences -> (TV, L-infinity) errors."""
    counts = jax.random.multinomial(key, n.astype(jnp.float32), probs)
    diff = jnp.abs(counts / n - probs)
    return 0.5 * diff.sum(), diff.max()


def perceptron(X, y, mask, max_epochs: int):
    """A consistent learner: the perceptron from w = sum y_i x_i, passes until no training mistake.

    Returns (w, converged)."""
    w0 = ((y * mask)[:, None] * X).sum(0)

    def epoch(w):
        def step(w, xym):
            x, t, keep = xym
            wrong = keep & (t * (x @ w) <= 0)
            return w + jnp.where(wrong, t * x, 0.0), wrong
        return jax.lax.scan(step, w, (X, y, mask))

    def cond(s):
        return (s[1] > 0) & (s[2] < max_epochs)

    def body(s):
        w, _, e = s
        w, wrong = epoch(w)
        return w, wrong.sum(), e + 1

    w, mistakes, _ = jax.lax.while_loop(cond, body, (w0, jnp.int32(1), jnp.int32(0)))
    return w, mistakes == 0


def version_space_midpoint_2d(X, y, mask):
    """A consistent learner in the plane: the midpoint of the arc of directions w that classify every
    example correctly. Each example allows the half circle around alpha_i = angle(y_i x_i); all alpha_i
    lie within pi/2 of the target, so they sit on an arc shorter than pi, found opposite the largest gap
    between sorted angles; the version space is [max alpha - pi/2, min alpha + pi/2]."""
    z = y[:, None] * X
    alpha = jnp.arctan2(z[:, 1], z[:, 0])
    alpha = jnp.where(mask, alpha, jnp.nan)
    a = jnp.sort(alpha)  # NaNs (masked) last
    count = mask.sum()
    idx = jnp.arange(a.shape[0])
    nxt = jnp.where(idx + 1 < count, jnp.roll(a, -1), a[0] + 2 * jnp.pi)
    gaps = jnp.where(idx < count, nxt - a, -1.0)
    g = jnp.argmax(gaps)  # the arc of alphas starts after the largest gap
    start = jnp.where(g + 1 < count, a[(g + 1) % a.shape[0]], a[0])
    rel = jnp.where(mask, jnp.mod(alpha - start, 2 * jnp.pi), jnp.nan)
    lo = jnp.nanmax(rel) - jnp.pi / 2
    hi = jnp.nanmin(rel) + jnp.pi / 2
    theta = start + (lo + hi) / 2
    return jnp.stack([jnp.cos(theta), jnp.sin(theta)]), jnp.bool_(True)


def halfspace_error(key, n, d: int, n_buf: int, learner: str, max_epochs: int):
    k1, k2 = jax.random.split(key)
    w_star = jax.random.normal(k1, (d,))
    X = jax.random.normal(k2, (n_buf, d))
    y = jnp.where(X @ w_star >= 0, 1.0, -1.0)
    mask = jnp.arange(n_buf) < n
    if learner == "consistent":
        learner = "midpoint" if d == 2 else "perceptron"
    if learner == "midpoint":
        w, converged = version_space_midpoint_2d(X, y, mask)
    elif learner == "perceptron":
        w, converged = perceptron(X, y, mask, max_epochs)
    else:  # one gradient step from 0: w = sum_i y_i x_i (the linear-attention head)
        w, converged = ((y * mask)[:, None] * X).sum(0), jnp.bool_(True)
    cos = (w @ w_star) / (jnp.linalg.norm(w) * jnp.linalg.norm(w_star) + 1e-30)
    return jnp.arccos(jnp.clip(cos, -1.0, 1.0)) / jnp.pi, converged


# ---- failure counts over trials --------------------------------------------------------------------
@partial(jax.jit, static_argnames=("random_allocation",))
def _contexts_batch(keys, n_c, probs, eps, random_allocation):
    err = jax.vmap(lambda k: contexts_error(k, n_c, probs, random_allocation))(keys)
    return (err > eps).sum(), err.mean()


@jax.jit
def _coin_batch(keys, n, p, eps):
    err = jax.vmap(lambda k: coin_error(k, n, p))(keys)
    return (err > eps).sum(), err.mean()


@partial(jax.jit, static_argnames=("reading",))
def _sequence_batch(keys, n, probs, eps, reading):
    tv, linf = jax.vmap(lambda k: sequence_errors(k, n, probs))(keys)
    err = tv if reading == "tv" else linf
    return (err > eps).sum(), err.mean()


@partial(jax.jit, static_argnames=("d", "n_buf", "learner", "max_epochs"))
def _halfspace_batch(keys, n, eps, d, n_buf, learner, max_epochs):
    err, conv = jax.vmap(lambda k: halfspace_error(k, n, d, n_buf, learner, max_epochs))(keys)
    fail = (err > eps) & conv
    return fail.sum(), (~conv).sum(), err.mean()


def count_failures(setting: str, n: int, trials: int, seed: int, tag: str, **kw) -> dict:
    """Failures of ``trials`` seeded trials at sample size n; batches of trials, never a loop per trial.

    Returns {'failures', 'trials', 'mean_error'} and, for the perceptron, 'unconverged' (trials that hit
    the epoch cap; they are *not* counted as failures, so 'failures' is a lower bound and
    'failures + unconverged' an upper bound)."""
    total, unconv, err_sum = 0, 0, 0.0
    for start in range(0, trials, TRIAL_BATCH):
        count = min(TRIAL_BATCH, trials - start)
        keys = trial_keys(seed, tag, start, count)
        if setting == "contexts":
            k, e = _contexts_batch(keys, jnp.float32(n), jnp.asarray(kw["probs"], jnp.float32), kw["eps"],
                                   kw.get("random_allocation", False))
        elif setting == "coin":
            k, e = _coin_batch(keys, jnp.float32(n), jnp.float32(kw["p"]), kw["eps"])
        elif setting == "sequences":
            k, e = _sequence_batch(keys, jnp.float32(n), jnp.asarray(kw["probs"], jnp.float32), kw["eps"], kw["reading"])
        elif setting == "halfspace":
            n_buf = max(8, 1 << int(np.ceil(np.log2(max(n, 1)))))
            k, u, e = _halfspace_batch(keys, jnp.int32(n), kw["eps"], kw["d"], n_buf, kw.get("learner", "consistent"),
                                       kw.get("max_epochs", 50))
            unconv += int(u)
        else:
            raise ValueError(f"unknown setting {setting!r}")
        total += int(k)
        err_sum += float(e) * count
    out = {"failures": total, "trials": trials, "mean_error": err_sum / trials}
    if setting == "halfspace":
        out["unconverged"] = unconv
    return out
