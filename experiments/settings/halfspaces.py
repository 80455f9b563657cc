"""Halfspaces: d-dimensional standard Gaussian inputs labelled by a random homogeneous halfspace, each
label flipped with probability ``noise`` (0: realizable); learner: a consistent one (in the plane the
midpoint of the version space, exact and fast; in higher dimension the perceptron run to zero training
error; both need noise = 0), the plane's maximum-margin halfspace, or one gradient step (linear
attention); error = the exact disagreement angle(w_hat, w*)/pi with the target (the excess 0-1 error
under noise).

Samplers: direct (the whole prompt per trial; the perceptron's stragglers run apart, see below);
reduced (the plane midpoint from two words, the gradient step from its sufficient statistic,
:mod:`experiments.reduced`). Counts report 'unconverged' (perceptron trials at the epoch cap; the n*
search counts them as failures). n* of the noiseless plane midpoint is exact ((1 - 2 eps)^n).
"""
from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import reduced
from ..devices import ordered_sum, round_up, split, to_host
from ..nstar_result import DEFINITION, NStar
from ..sampling import buffer, keys_of, stopped, trials_of
from ..streams import stream_base, trial_words
from .base import Setting


def perceptron(X, y, mask, max_epochs: int):
    """A consistent learner: the perceptron from w = sum y_i x_i, passes until no training mistake.

    Returns (w, converged)."""
    w0 = ordered_sum((y * mask)[:, None] * X, axis=0)
    w, _, mistakes = perceptron_resume(X, y, mask, w0, jnp.int32(0), jnp.int32(1), max_epochs)
    return w, mistakes == 0


def perceptron_resume(X, y, mask, w, epochs, mistakes, cap):
    """:func:`perceptron` from state (w, epochs done, mistakes in the last epoch) until no mistake or
    ``cap`` epochs: the same passes, so running to cap a and resuming to cap b gives the w of one run
    to b. Returns (w, epochs, mistakes)."""
    def epoch(w):
        def step(w, xym):
            x, t, keep = xym
            wrong = keep & (t * ordered_sum(x * w) <= 0)
            return w + jnp.where(wrong, t * x, 0.0), wrong
        return jax.lax.scan(step, w, (X, y, mask))

    def body(s):
        w, e, _ = s
        w, wrong = epoch(w)
        return w, e + 1, wrong.sum()

    return jax.lax.while_loop(lambda s: (s[2] > 0) & (s[1] < cap), body, (w, epochs, mistakes))


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


def max_margin_2d(X, y, mask, iters: int = 40):
    """The hard-margin (maximum-margin) homogeneous halfspace in the plane: with z_i = y_i x_i =
    r_i (cos a_i, sin a_i), the margin of direction theta is min_i r_i cos(theta - a_i), concave on the
    version space (each term is concave where it is positive), so golden-section search over the
    version-space arc finds its maximiser (``iters`` steps shrink the arc by 0.618^iters)."""
    z = y[:, None] * X
    r = jnp.sqrt(ordered_sum(z * z, axis=1))
    alpha = jnp.arctan2(z[:, 1], z[:, 0])
    w_mid, _ = version_space_midpoint_2d(X, y, mask)
    mid = jnp.arctan2(w_mid[1], w_mid[0])
    # the arc: directions within pi/2 of every alpha_i, i.e. mid +- half-width
    rel = jnp.where(mask, jnp.abs(jnp.mod(alpha - mid + jnp.pi, 2 * jnp.pi) - jnp.pi), 0.0)
    half = jnp.pi / 2 - rel.max()

    def margin(theta):
        return jnp.where(mask, r * jnp.cos(theta - alpha), jnp.inf).min()

    g = (jnp.sqrt(5.0) - 1) / 2

    def step(_, ab):
        a, b = ab
        c, e = b - g * (b - a), a + g * (b - a)
        left = margin(c) >= margin(e)
        return jnp.where(left, a, c), jnp.where(left, e, b)

    a, b = jax.lax.fori_loop(0, iters, step, (mid - half, mid + half))
    theta = (a + b) / 2
    return jnp.stack([jnp.cos(theta), jnp.sin(theta)]), jnp.bool_(True)


def halfspace_prompt(key, d: int, n_buf: int, noise: float = 0.0):
    """One trial's prompt: (w* (d,), X (n_buf, d), y (n_buf,)); the first n examples are the prompt's."""
    k1, k2, k3 = jax.random.split(key, 3)
    w_star = jax.random.normal(k1, (d,))
    X = jax.random.normal(k2, (n_buf, d))
    y = jnp.where(ordered_sum(X * w_star) >= 0, 1.0, -1.0)
    if noise > 0:
        y = jnp.where(jax.random.uniform(k3, (n_buf,)) < noise, -y, y)
    return w_star, X, y


def angle_error(w, w_star):
    """The disagreement probability angle(w, w*)/pi of two homogeneous halfspaces (Gaussian inputs)."""
    cos = ordered_sum(w * w_star) / (jnp.sqrt(ordered_sum(w * w)) * jnp.sqrt(ordered_sum(w_star * w_star)) + 1e-30)
    return jnp.arccos(jnp.clip(cos, -1.0, 1.0)) / jnp.pi


def halfspace_error(key, n, d: int, n_buf: int, learner: str, max_epochs: int, noise: float = 0.0):
    w_star, X, y = halfspace_prompt(key, d, n_buf, noise)
    mask = jnp.arange(n_buf) < n
    if learner == "consistent":
        learner = "midpoint" if d == 2 else "perceptron"
    if learner == "midpoint":
        w, converged = version_space_midpoint_2d(X, y, mask)
    elif learner == "max-margin":
        if d != 2:
            raise ValueError("learner 'max-margin' is implemented in the plane (d = 2)")
        w, converged = max_margin_2d(X, y, mask)
    elif learner == "perceptron":
        w, converged = perceptron(X, y, mask, max_epochs)
    else:  # one gradient step from 0: w = sum_i y_i x_i (the linear-attention head)
        w, converged = ordered_sum((y * mask)[:, None] * X, axis=0), jnp.bool_(True)
    return angle_error(w, w_star), converged


@partial(jax.jit, static_argnames=("d", "n_buf", "learner", "max_epochs", "noise", "size"))
def _halfspace_batch(base, start, n, eps, d, n_buf, learner, max_epochs, noise, size):
    keys = keys_of(base, trials_of(start, size))
    err, conv = jax.vmap(lambda k: halfspace_error(k, n, d, n_buf, learner, max_epochs, noise))(keys)
    return split(err), split((err > eps) & conv), split(~conv)


# ---- the perceptron: stragglers run apart -----------------------------------------------------------
# A vmapped while_loop runs as many epochs as its slowest trial, and the perceptron's epochs are heavy
# tailed (d = 4, n = 128: median 6, 99th percentile 25, 99.9th 77, some > 1000). So every trial first
# runs up to PERCEPTRON_FIRST_CAP epochs; the unfinished ones resume, regrouped into full batches, up to
# twice that, and so on to max_epochs. Each trial ends with the w of one uninterrupted run.
PERCEPTRON_MAX_EPOCHS = 1000  # the cap; a trial that hits it is reported as 'unconverged'
PERCEPTRON_FIRST_CAP = 4  # then doubling: 8, 16, ... up to the cap
PERCEPTRON_BATCH = 256  # a batch's prompts stay in cache (4096 trials of 256 examples in d = 4: 16 MiB do not)
PERCEPTRON_CHUNK = 8192  # trials per chunk of a count that may stop early
PERCEPTRON_TAIL = 16  # the last few stragglers run in batches this small (two compiled shapes in all)


@partial(jax.jit, static_argnames=("d", "n_buf", "noise"))
def _perceptron_phase(base, t, w, epochs, mistakes, n, cap, d, n_buf, noise):
    """Trials t (B,) resumed from (w (B, d), epochs (B,), mistakes (B,)) up to ``cap`` epochs.
    Returns (w, epochs, mistakes, error)."""
    def one(t, w, e, m):
        w_star, X, y = halfspace_prompt(jax.random.fold_in(base, t), d, n_buf, noise)
        mask = jnp.arange(n_buf) < n
        w = jnp.where(e == 0, ordered_sum((y * mask)[:, None] * X, axis=0), w)  # w0 = sum y_i x_i
        w, e, m = perceptron_resume(X, y, mask, w, e, m, cap)
        return w, e, m, angle_error(w, w_star)

    return tuple(split(x) for x in jax.vmap(one)(split(t), split(w), split(epochs), split(mistakes)))


def _count_perceptron(n: int, trials: int, seed: int, tag: str, d: int, n_buf: int, eps: float, max_epochs: int,
                      noise: float, first: int = 0):
    """(failures, unconverged, sum of errors) of the perceptron run to zero training error (at most
    ``max_epochs`` passes) on trials first, ..., first + trials - 1; the same numbers as
    :func:`halfspace_error` per trial."""
    base = stream_base(seed, tag)
    w = np.zeros((trials, d), np.float32)
    epochs, mistakes = np.zeros(trials, np.int32), np.ones(trials, np.int32)
    err = np.zeros(trials, np.float32)
    active = np.arange(trials)
    caps = [PERCEPTRON_FIRST_CAP << i for i in range(32) if PERCEPTRON_FIRST_CAP << i < max_epochs] + [max_epochs]
    for cap in caps:
        for lo in range(0, active.size, PERCEPTRON_BATCH):
            idx = active[lo:lo + PERCEPTRON_BATCH]
            count = idx.size
            size = PERCEPTRON_TAIL if count <= PERCEPTRON_TAIL else PERCEPTRON_BATCH
            pad = np.resize(idx, round_up(size))  # repeated trials fill the batch; their results are dropped
            out = _perceptron_phase(base, (first + pad).astype(np.uint32), w[pad], epochs[pad], mistakes[pad], jnp.int32(n),
                                    jnp.int32(cap), d=d, n_buf=n_buf, noise=noise)
            w[idx], epochs[idx], mistakes[idx], err[idx] = (to_host(x)[:count] for x in out)
        active = active[(mistakes[active] > 0) & (epochs[active] < max_epochs)]
        if not active.size:
            break
    converged = mistakes == 0
    fail = (err > np.float32(eps)) & converged
    return int(fail.sum()), int((~converged).sum()), float(np.sum(err, dtype=np.float64))


@partial(jax.jit, static_argnames=("d", "n_buf", "learner", "noise", "size"))
def _halfspace_reduced_batch(key, start, n, eps, d, n_buf, learner, noise, size):
    t = trials_of(start, size)
    if learner == "midpoint":
        err = jax.vmap(lambda w: reduced.midpoint_error_2d(w, n))(trial_words(key, t, 2))
    else:
        words = reduced.gd_words(d, n_buf, noise)
        err = jax.vmap(lambda w: reduced.gd_error(w, n, d, n_buf, noise))(trial_words(key, t, words))
    return split(err), split(err > eps)


def _learner(d: int, learner: str) -> str:
    if learner == "consistent":
        return "midpoint" if d == 2 else "perceptron"
    return learner


def exact_midpoint(eps: float, delta: float) -> NStar:
    n = max(1, math.ceil(math.log(delta) / math.log1p(-2 * eps)))
    while (1 - 2 * eps) ** n > delta:  # guard the float rounding of the ratio
        n += 1
    while n > 1 and (1 - 2 * eps) ** (n - 1) <= delta:
        n -= 1
    return NStar(n, n, n, True, DEFINITION, "isotropic Gaussian inputs, homogeneous target", "midpoint", 0, n, n,
                 (1 - 2 * eps) ** n, "monotone: (1 - 2 eps)^n")


LEARNERS = ("midpoint", "perceptron", "max-margin", "gd")


class Halfspaces(Setting):
    name = "halfspaces"
    engine_name = "halfspace"
    learners = LEARNERS
    targets = ("gaussian",)
    reports_unconverged = True

    def check(self, kw):
        noise = kw.get("noise", 0.0)
        if not 0 <= noise < 0.5:
            raise ValueError(f"noise: expected a flip rate in [0, 0.5), got {noise}")
        if noise > 0 and _learner(kw["d"], kw.get("learner", "consistent")) != "gd":
            raise ValueError("noise: a consistent learner needs realizable labels (noise = 0); use learner 'gd'")

    def has_reduction(self, kw):
        """The plane midpoint and the gradient step."""
        return _learner(kw["d"], kw.get("learner", "consistent")) in ("midpoint", "gd")

    def constant_cost(self, kw):
        return _learner(kw["d"], kw.get("learner", "consistent")) == "midpoint"

    def direct_count(self, n, trials, seed, tag, pad_to, stop_above, kw):
        """The perceptron: its passes scan the whole buffer, so no padding past buffer(n) (the first n
        examples are the same for any buffer: jax.random draws are prefix-stable); with stop_above, in
        chunks (a trial's result does not depend on the chunk it runs in)."""
        if _learner(kw["d"], kw.get("learner", "consistent")) != "perceptron":
            return None
        chunk = trials if stop_above is None else PERCEPTRON_CHUNK
        k = u = 0
        e, ran = 0.0, {}
        for first in range(0, trials, chunk):
            ck, cu, ce = _count_perceptron(n, min(chunk, trials - first), seed, tag, kw["d"], buffer(n), kw["eps"],
                                           kw.get("max_epochs", PERCEPTRON_MAX_EPOCHS), float(kw.get("noise", 0.0)),
                                           first=first)
            k, u, e = k + ck, u + cu, e + ce
            if stopped(ran, stop_above, k + u, first + min(chunk, trials - first), trials):
                break
        return {"failures": k, "trials": trials, "mean_error": e / ran.get("trials", trials), "sampler": "direct",
                "unconverged": u, **ran}

    def direct_batch(self, n, pad_to, kw):
        n_buf = buffer(max(n, pad_to))
        learner = _learner(kw["d"], kw.get("learner", "consistent"))
        return lambda base, start, size: _halfspace_batch(base, start, jnp.int32(n), kw["eps"], kw["d"], n_buf, learner,
                                                          kw.get("max_epochs", PERCEPTRON_MAX_EPOCHS),
                                                          float(kw.get("noise", 0.0)), size=size)

    def reduced_batch(self, n, pad_to, kw):
        n_buf = buffer(max(n, pad_to))
        learner = _learner(kw["d"], kw.get("learner", "consistent"))
        words = 2 if learner == "midpoint" else reduced.gd_words(kw["d"], n_buf, float(kw.get("noise", 0.0)))
        return words, lambda key, start, size: _halfspace_reduced_batch(key, start, jnp.int32(n), kw["eps"], kw["d"], n_buf,
                                                                        learner, float(kw.get("noise", 0.0)), size=size)

    def search(self, params, eps, delta, opts, engine):
        d = int(params.get("d", 2))
        noise = opts.noise
        learner = opts.learner or ("midpoint" if d == 2 else "perceptron")
        if learner not in LEARNERS:
            raise ValueError(f"learner {learner!r}: expected one of {', '.join(LEARNERS)}")
        if learner in ("midpoint", "max-margin") and d != 2:
            raise ValueError(f"learner {learner!r} is implemented for d = 2")
        if learner == "midpoint" and not noise:
            return exact_midpoint(eps, delta)
        kw = dict(d=d, eps=eps, learner=learner, noise=noise)
        return engine.simulated("halfspace", kw, delta, engine.trials(delta, opts.trials), opts.seed,
                                f"nstar/halfspace/{learner}/{d}/{eps}/{delta}" + (f"/noise={noise}" if noise else ""),
                                n0=max(2, d), target="isotropic Gaussian inputs, homogeneous target" +
                                (f", labels flipped at rate {noise}" if noise else ""), learner=learner,
                                max_points=opts.max_points,
                                pad=2 * d * exact_midpoint(eps, delta).n_star)  # one compiled shape for the whole search


SETTING = Halfspaces()
