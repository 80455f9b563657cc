"""The Monte-Carlo engine: failure counts P(error > eps) of in-context estimators, JIT-compiled and
vmapped over trials.

Trial t of a setting draws its randomness from ``fold_in(fold_in(key(seed), tag), t)``: the result of
a trial depends on (seed, setting tag, trial index) only -- not on how trials are batched or which
device runs them -- and the same trials are reused for every n (common random numbers), which keeps
the failure rate monotone in n along a search.

Float sums inside a trial are :func:`~experiments.devices.ordered_sum` (a fixed pairwise tree): XLA's own
reductions may change order with the shape of the batch around a trial, i.e. with the device count.

Settings (each returns the error of one trial):

* ``contexts``  -- m contexts, V tokens, n_c examples per context (or n examples with contexts drawn
  uniformly at random); the estimator is the induction head's empirical conditional distribution;
  error = max over contexts of TV(p_hat_c, p_c);
* ``coin``      -- one probability p from n examples; error = |p_hat - p|;
* ``sequences`` -- outputs of length l over V tokens, a distribution over the V^l sequences; error =
  TV over sequences, or the largest per-sequence probability error (L-infinity);
* ``halfspace`` -- d-dimensional standard Gaussian inputs labelled by a random homogeneous halfspace,
  each label flipped with probability ``noise`` (0: realizable); learner: a consistent one (in the plane
  the midpoint of the version space, exact and fast; in higher dimension the perceptron run to zero
  training error; both need noise = 0) or one gradient step (linear attention); error = the exact
  disagreement angle(w_hat, w*)/pi with the target (the excess 0-1 error under noise).

Where an exact reduction exists the engine draws the trial's sufficient statistic from a counter-based
stream (:mod:`experiments.streams`) instead of the whole prompt -- same error distribution, a fraction
of the random words: the coin, the plane midpoint and the gradient step (:mod:`experiments.reduced`),
and uniform targets over a power-of-two number of outcomes, whose counts come from fair bits
(:mod:`experiments.fair_splits`). ``sampler="direct"`` forces the whole-prompt simulation (jax.random's
multinomial / binomial / normal draws; tests compare the two). Whether a trial failed is decided in
integers where the target is rational (:mod:`experiments.exact`), so ties are never rounded either way.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import exact, fair_splits, reduced, store, tree_counts, user_setting
from .devices import ordered_sum, round_up, split, to_host
from .jit_cache import release_if_crowded
from .streams import stream_base, stream_key, trial_words

TRIAL_BATCH = 4096


def trial_keys(seed: int, tag: str, start: int, count: int):
    base = stream_base(seed, tag)
    return jax.vmap(lambda t: jax.random.fold_in(base, t))(jnp.arange(start, start + count))


# ---- per-trial errors ------------------------------------------------------------------------------
# Each returns (error, failed). ``failed`` is decided in integers where the target is uniform (see
# :mod:`experiments.exact`); ``thr`` arguments are those integer thresholds, or None for float32.
# In float32 an error equal to eps (a tie, as common for a rational target like (1/2, 1/2, 0) as for a
# fair coin) computes to eps up to rounding; ties count as successes, as in the integer decisions, so a
# float32 error fails only above eps + _tie_tolerance(V): the rounding of a sum of V terms, with room.


def _tie_tolerance(V: int) -> float:
    return float(V) * 2.0 ** -21
def contexts_decision(counts, per, probs, eps, thr=None, thr_total=None):
    """counts (m, V), per (m,) examples per context -> (error, failed). A context with no example is
    estimated by the marginal of all examples. thr (N + 1,): floor(2 eps V k), k <= N, or None."""
    V = probs.shape[1]
    counts, per = counts.astype(jnp.float32), per.astype(jnp.float32)
    marginal = counts.sum(0) / jnp.maximum(counts.sum(), 1)
    p_hat = jnp.where(per[:, None] > 0, counts / jnp.maximum(per, 1)[:, None], marginal[None, :])
    err = (0.5 * ordered_sum(jnp.abs(p_hat - probs))).max()
    if thr is None:
        return err, err > eps + _tie_tolerance(V)
    c, per = counts.astype(jnp.int32), per.astype(jnp.int32)
    S = jnp.abs(V * c - per[:, None]).sum(1)
    S_marginal = jnp.abs(V * c.sum(0) - per.sum()).sum()
    fail = jnp.where(per > 0, S > thr[per], S_marginal > thr_total)
    return err, fail.any()


def contexts_error(key, n_c, probs, random_allocation: bool, eps, thr=None, thr_total=None):
    """probs (m, V); n_c examples per context (or m * n_c in total with random contexts)."""
    m = probs.shape[0]
    k1, k2 = jax.random.split(key)
    if random_allocation:
        per = jax.random.multinomial(k1, (m * n_c).astype(jnp.float32), jnp.full((m,), 1.0 / m))
    else:
        per = jnp.full((m,), n_c, jnp.float32)
    return contexts_decision(jax.random.multinomial(k2, per, probs), per, probs, eps, thr, thr_total)


def coin_error(key, n, p, k_range):
    """k_range (2,): the accepted counts [k_lo, k_hi]."""
    k = jax.random.binomial(key, n.astype(jnp.float32), p)
    return jnp.abs(k / n - p), (k < k_range[0]) | (k > k_range[1])


def sequence_decision(counts, n, probs, eps, reading: str, thr=None):
    """counts (W,) over the V^l sequences -> (TV or L-infinity error, failed). thr: the integer threshold
    of sum_j |W c_j - n| (TV) or max_j |W c_j - n| (L-infinity), or None."""
    diff = jnp.abs(counts.astype(jnp.float32) / n - probs)
    err = 0.5 * ordered_sum(diff) if reading == "tv" else diff.max()
    if thr is None:
        return err, err > eps + _tie_tolerance(probs.shape[0])
    dev = jnp.abs(probs.shape[0] * counts.astype(jnp.int32) - n.astype(jnp.int32))
    return err, (dev.sum() if reading == "tv" else dev.max()) > thr


def sequence_errors(key, n, probs, eps, reading: str, thr=None):
    return sequence_decision(jax.random.multinomial(key, n.astype(jnp.float32), probs), n, probs, eps, reading, thr)


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


# ---- failure counts over trials --------------------------------------------------------------------
# Every batch returns per-trial arrays, sharded over the devices (:mod:`experiments.devices`); the host
# sums them in trial order, so counts and mean errors do not depend on the number of devices.
def _trials(start, size: int):
    """Trial indices start, ..., start + size - 1, split over the devices."""
    return split(start + jnp.arange(size, dtype=jnp.uint32))


def _keys(base, t):
    """The direct engine's per-trial keys fold_in(base, t) (same as :func:`trial_keys`)."""
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(t)


def _sizes(trials: int, batch: int):
    """(start, count, size) per call: whole batches, the last one padded to a power of two (>= 64),
    every size a multiple of the device count."""
    for start in range(0, trials, batch):
        count = min(batch, trials - start)
        yield start, count, round_up(batch if count == batch else max(64, 1 << int(np.ceil(np.log2(count)))))


def _sums(count: int, err, fail, *more):
    """(failures, sum of errors, *sums of more) over the first ``count`` trials of a batch."""
    out = [int(to_host(fail)[:count].sum()), float(np.sum(to_host(err)[:count], dtype=np.float64))]
    return out + [int(to_host(m)[:count].sum()) for m in more]


@partial(jax.jit, static_argnames=("random_allocation", "size"))
def _contexts_batch(base, start, n_c, probs, eps, random_allocation, thr, thr_total, size):
    keys = _keys(base, _trials(start, size))
    err, fail = jax.vmap(lambda k: contexts_error(k, n_c, probs, random_allocation, eps, thr, thr_total))(keys)
    return split(err), split(fail)


@partial(jax.jit, static_argnames=("size",))
def _coin_batch(base, start, n, p, k_range, size):
    err, fail = jax.vmap(lambda k: coin_error(k, n, p, k_range))(_keys(base, _trials(start, size)))
    return split(err), split(fail)


@partial(jax.jit, static_argnames=("reading", "size"))
def _sequence_batch(base, start, n, probs, eps, reading, thr, size):
    err, fail = jax.vmap(lambda k: sequence_errors(k, n, probs, eps, reading, thr))(_keys(base, _trials(start, size)))
    return split(err), split(fail)


@partial(jax.jit, static_argnames=("d", "n_buf", "learner", "max_epochs", "noise", "size"))
def _halfspace_batch(base, start, n, eps, d, n_buf, learner, max_epochs, noise, size):
    keys = _keys(base, _trials(start, size))
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


def count_failures(setting: str, n: int, trials: int, seed: int, tag: str | None = None, sampler: str = "auto", pad_to: int = 0,
                   stop_above: int | None = None, **kw) -> dict:
    """Failures of ``trials`` seeded trials at sample size n; batches of trials, never a loop per trial.

    Returns {'failures', 'trials', 'mean_error', 'sampler'} and, for the perceptron, 'unconverged'
    (trials that hit the epoch cap; they are *not* counted as failures, so 'failures' is a lower bound
    and 'failures + unconverged' an upper bound). ``pad_to``: pad buffers as if n were at least this
    (a scan over n then compiles one shape). The fair-split samplers lay out their words by buffer size,
    so the draws, not their distribution, depend on it: compare counts at one padding (common random
    numbers along a scan). Results are stored in the active point store (:mod:`experiments.store`)
    and taken from it when the same measurement was made before.

    ``stop_above``: stop after the first batch of trials at which the failures (plus, for halfspaces, the
    unconverged trials) exceed it; 'trials', 'failures' and 'unconverged' then count the trials run, and
    'stopped' is True. A search that
    only asks whether failures <= stop_above out of ``trials`` gets the same answer.

    ``setting`` may also be a user's function ``f(key, n, **params) -> error``: ``count_failures(f, n, trials,
    seed, tag, eps=E, **params)`` is :func:`experiments.user_setting.count_failures`."""
    if user_setting.is_own(setting):
        return user_setting.count_failures(setting, n, trials, seed, tag, stop_above=stop_above, sampler=sampler, **kw)
    if tag is None:
        raise TypeError("count_failures() missing required argument: 'tag' (the stream's name)")
    if setting == "halfspace":
        _check_halfspace(kw)
    sampler = _sampler(setting, kw, sampler, n, pad_to)
    key = {"setting": setting, "n": int(n), "trials": int(trials), "seed": int(seed), "tag": tag, "sampler": sampler,
           "pad_to": int(pad_to), "kw": kw}
    if stop_above is not None:
        key["stop_above"] = int(stop_above)
    return store.memo("count", key, lambda: _count(setting, n, trials, seed, tag, sampler, pad_to, stop_above, **kw))


def _stopped(out: dict, stop_above, total: int, done: int, trials: int) -> bool:
    """Whether a count stops after ``done`` trials (failures ``total`` > stop_above); marks ``out``."""
    if stop_above is None or total <= stop_above or done >= trials:
        return False
    out.update(trials=done, stopped=True)
    return True


def _count(setting: str, n: int, trials: int, seed: int, tag: str, sampler: str, pad_to: int, stop_above=None,
           **kw) -> dict:
    release_if_crowded()
    if sampler == "tree":
        return _count_tree(setting, n, trials, seed, tag, tree_plan(setting, n, pad_to, kw), pad_to=pad_to,
                           stop_above=stop_above, **kw)
    if sampler == "reduced":
        return _count_reduced(setting, n, trials, seed, tag, pad_to=pad_to, stop_above=stop_above, **kw)
    if setting not in ("contexts", "coin", "sequences", "halfspace"):
        raise ValueError(f"unknown setting {setting!r}")
    base = stream_base(seed, tag)
    if setting == "contexts":
        probs, random_allocation = jnp.asarray(kw["probs"], jnp.float32), kw.get("random_allocation", False)
        thr = _contexts_thresholds(kw["probs"], n, kw["eps"], random_allocation, pad_to)
    elif setting == "coin":
        k_range = jnp.asarray(exact.coin_accept_range(n, kw["p"], kw["eps"]), jnp.int32)
    elif setting == "sequences":
        probs = jnp.asarray(kw["probs"], jnp.float32)
        thr = _sequence_threshold(kw["probs"], n, kw["eps"], kw["reading"])
    else:
        n_buf = _buffer(max(n, pad_to))
        learner = _learner(kw["d"], kw.get("learner", "consistent"))
        if learner == "perceptron":  # its passes scan the whole buffer: no padding past _buffer(n) (the
            # first n examples are the same for any buffer: jax.random draws are prefix-stable)
            # with stop_above, in chunks (a trial's result does not depend on the chunk it runs in)
            chunk = trials if stop_above is None else PERCEPTRON_CHUNK
            k = u = 0
            e, ran = 0.0, {}
            for first in range(0, trials, chunk):
                ck, cu, ce = _count_perceptron(n, min(chunk, trials - first), seed, tag, kw["d"], _buffer(n), kw["eps"],
                                               kw.get("max_epochs", PERCEPTRON_MAX_EPOCHS), float(kw.get("noise", 0.0)),
                                               first=first)
                k, u, e = k + ck, u + cu, e + ce
                if _stopped(ran, stop_above, k + u, first + min(chunk, trials - first), trials):
                    break
            return {"failures": k, "trials": trials, "mean_error": e / ran.get("trials", trials), "sampler": "direct",
                    "unconverged": u, **ran}
    total, unconv, err_sum, ran = 0, 0, 0.0, {}
    for start, count, size in _sizes(trials, TRIAL_BATCH):
        args = (base, jnp.uint32(start))
        if setting == "contexts":
            k, e = _sums(count, *_contexts_batch(*args, jnp.float32(n), probs, kw["eps"], random_allocation, *thr, size=size))
        elif setting == "coin":
            k, e = _sums(count, *_coin_batch(*args, jnp.float32(n), jnp.float32(kw["p"]), k_range, size=size))
        elif setting == "sequences":
            k, e = _sums(count, *_sequence_batch(*args, jnp.float32(n), probs, kw["eps"], kw["reading"], thr, size=size))
        else:
            err, fail, unc = _halfspace_batch(*args, jnp.int32(n), kw["eps"], kw["d"], n_buf, learner,
                                              kw.get("max_epochs", PERCEPTRON_MAX_EPOCHS), float(kw.get("noise", 0.0)), size=size)
            k, e, u = _sums(count, err, fail, unc)
            unconv += u
        total += k
        err_sum += e
        if _stopped(ran, stop_above, total + unconv, start + count, trials):  # the search counts unconverged as failures
            break
    done = ran.get("trials", trials)
    out = {"failures": total, "trials": trials, "mean_error": err_sum / done, "sampler": "direct", **ran}
    if setting == "halfspace":
        out["unconverged"] = unconv
    return out


# ---- reduced samplers: trial t reads words (t, 0), (t, 1), ... of its stream ------------------------
@partial(jax.jit, static_argnames=("size",))
def _coin_reduced_batch(key, start, thresholds, n, p, k_range, size):
    k = reduced.coin_counts(trial_words(key, _trials(start, size), 1)[:, 0], thresholds, n)
    fail = (k < k_range[0]) | (k > k_range[1])
    return split(jnp.abs(k / n.astype(jnp.float32) - p)), split(fail)


@partial(jax.jit, static_argnames=("d", "n_buf", "learner", "noise", "size"))
def _halfspace_reduced_batch(key, start, n, eps, d, n_buf, learner, noise, size):
    t = _trials(start, size)
    if learner == "midpoint":
        err = jax.vmap(lambda w: reduced.midpoint_error_2d(w, n))(trial_words(key, t, 2))
    else:
        words = reduced.gd_words(d, n_buf, noise)
        err = jax.vmap(lambda w: reduced.gd_error(w, n, d, n_buf, noise))(trial_words(key, t, words))
    return split(err), split(err > eps)


def uniform_counts(w, roots, levels: int, top: int, tree, rmax: int, steps: int):
    """roots (R,) -> (R, 2^levels) counts uniform over 2^levels outcomes: the first ``top`` levels of the
    tree by binomial inversion (:mod:`.tree_counts`, one word per node; ``tree``: its plan's arrays), the
    rest by fair splits of the nodes' counts (:mod:`.fair_splits`). Both are exact splits of a node's count
    into its halves, so any ``top`` gives the same law; the cheapest is used (:func:`hybrid_top`)."""
    if top == 0:
        return fair_splits.split_counts(w, roots, levels)
    R = roots.shape[0]
    head = R * ((1 << top) - 1)
    upper = tree_counts.counts(w[:head], roots, *tree, rmax, steps, top)  # (R, 2^top)
    if top == levels:
        return upper
    return fair_splits.split_counts(w[head:], upper.reshape(-1), levels - top).reshape(R, -1)


@partial(jax.jit, static_argnames=("m", "levels", "random_allocation", "words", "top", "rmax", "steps", "size"))
def _contexts_reduced_batch(key, start, n_c, probs, eps, thr, thr_total, tree, m, levels, random_allocation, words,
                            top, rmax, steps, size):
    """Uniform targets over V = 2^L tokens: counts by fair splits (below ``top`` levels split by inversion);
    with random contexts (m = 2^a) the examples are uniform over the m V (context, token) pairs, one tree
    of a + L levels."""
    def one(w):
        if random_allocation:
            counts = fair_splits.split_counts(w, (m * n_c)[None], levels).reshape(m, -1)
        else:
            counts = uniform_counts(w, jnp.full((m,), n_c, jnp.int32), levels, top, tree, rmax, steps)
        return contexts_decision(counts, counts.sum(1), probs, eps, thr, thr_total)

    err, fail = jax.vmap(one)(trial_words(key, _trials(start, size), words))
    return split(err), split(fail)


@partial(jax.jit, static_argnames=("reading", "levels", "words", "top", "rmax", "steps", "size"))
def _sequences_reduced_batch(key, start, n, probs, eps, thr, tree, reading, levels, words, top, rmax, steps, size):
    def one(w):
        return sequence_decision(uniform_counts(w, n[None], levels, top, tree, rmax, steps)[0], n, probs, eps, reading, thr)

    err, fail = jax.vmap(one)(trial_words(key, _trials(start, size), words))
    return split(err), split(fail)


@partial(jax.jit, static_argnames=("rmax", "steps", "L", "size"))
def _contexts_tree_batch(key, start, n_c, probs, eps, thr, thr_total, qi, a, off, width, table, rmax, steps, L, size):
    """Contexts with n_c examples each: counts by binomial inversion down a tree (:mod:`.tree_counts`),
    one word per node."""
    m, V = probs.shape

    def one(w):
        counts = tree_counts.counts(w, jnp.full((m,), n_c, jnp.int32), qi, a, off, width, table, rmax, steps, L)[:, :V]
        return contexts_decision(counts, counts.sum(1), probs, eps, thr, thr_total)

    err, fail = jax.vmap(one)(trial_words(key, _trials(start, size), m * ((1 << L) - 1)))
    return split(err), split(fail)


@partial(jax.jit, static_argnames=("reading", "rmax", "steps", "L", "size"))
def _sequences_tree_batch(key, start, n, probs, eps, thr, qi, a, off, width, table, reading, rmax, steps, L, size):
    W = probs.shape[0]

    def one(w):
        counts = tree_counts.counts(w, n[None], qi, a, off, width, table, rmax, steps, L)[0, :W]
        return sequence_decision(counts, n, probs, eps, reading, thr)

    err, fail = jax.vmap(one)(trial_words(key, _trials(start, size), (1 << L) - 1))
    return split(err), split(fail)


def _levels(q: int) -> int | None:
    """log2 q for a power of two q >= 2, else None."""
    return q.bit_length() - 1 if q >= 2 and q & (q - 1) == 0 else None


def _learner(d: int, learner: str) -> str:
    if learner == "consistent":
        return "midpoint" if d == 2 else "perceptron"
    return learner


def has_reduction(setting: str, kw: dict) -> bool:
    """Whether the setting has an exact reduction (a trial then costs a few random words): the coin, the
    plane midpoint, the gradient step, and uniform targets over a power-of-two number of outcomes (with
    random contexts, a power-of-two number of contexts too)."""
    if setting == "coin":
        return True
    if setting == "halfspace":
        return _learner(kw["d"], kw.get("learner", "consistent")) in ("midpoint", "gd")
    if setting in ("contexts", "sequences"):
        probs = np.asarray(kw["probs"])
        if exact.uniform_size(probs) is None or _levels(probs.shape[-1]) is None:
            return False
        return not (setting == "contexts" and kw.get("random_allocation") and _levels(2 * probs.shape[0]) is None)
    return False


def constant_cost(setting: str, kw: dict) -> bool:
    """Whether a trial costs a fixed few words whatever n (the coin's inversion, the plane midpoint)."""
    return setting == "coin" or (setting == "halfspace" and _learner(kw["d"], kw.get("learner", "consistent")) == "midpoint")


def _sampler(setting: str, kw: dict, sampler: str, n: int = 1, pad_to: int = 0) -> str:
    """'reduced', 'tree' or 'direct' for this count; 'auto' picks the cheapest exact sampler there is (the
    reductions, the tree where it costs fewer words, else direct; see :func:`auto_sampler`)."""
    if sampler == "auto":
        return auto_sampler(setting, kw, n, pad_to)
    if sampler == "reduced" and not has_reduction(setting, kw):
        raise ValueError(f"sampler: no exact reduction for this {setting!r} case (there is one for the coin, the "
                         "plane midpoint, the gradient step and uniform targets over 2^L outcomes); use 'direct' or 'auto'")
    if sampler == "tree" and tree_plan(setting, n, pad_to, kw) is None:
        raise ValueError(f"sampler: no tree plan for this {setting!r} case (contexts allocated evenly or sequences, "
                         f"at most {tree_counts.MAX_TABLES} distinct split probabilities); use 'direct' or 'auto'")
    if sampler not in ("reduced", "tree", "direct"):
        raise ValueError(f"sampler: expected 'auto', 'reduced', 'tree' or 'direct', got {sampler!r}")
    return sampler


def auto_sampler(setting: str, kw: dict, n: int, pad_to: int = 0) -> str:
    """The sampler 'auto' picks for a count: for contexts and sequences the fair splits (uniform targets
    over 2^L outcomes) or the tree, whichever costs less per trial (fair splits: L bits per padded
    example; tree: one word and a bisection per node, weighted as TREE_NODE_COST words), the tree for
    other targets where it has a plan, else direct; the reductions of the other settings."""
    fair = has_reduction(setting, kw)
    if setting not in ("contexts", "sequences") or kw.get("random_allocation", False):
        return "reduced" if fair else "direct"
    plan = tree_plan(setting, n, pad_to, kw)
    if plan is None:
        return "reduced" if fair else "direct"
    if not fair:
        return "tree"
    rows = np.asarray(kw["probs"]).shape[0] if setting == "contexts" else 1
    tree_cost = rows * ((1 << plan.L) - 1) * TREE_NODE_COST * plan.steps
    return "tree" if tree_cost < _hybrid(setting, kw, n, pad_to)[3] else "reduced"


def hybrid_top(setting: str, kw: dict, n: int, pad_to: int = 0):
    """(top, plan, words) of the cheapest uniform counts for a contexts (allocated evenly) or sequences
    count: ``top`` tree levels by inversion (its :mod:`.tree_counts` plan, None for 0), the rest by fair
    splits, ``words`` random words a trial. Cost: TREE_NODE_COST per bisection step of a node, 1 per
    fair-split word."""
    return _hybrid(setting, kw, n, pad_to)[:3]


def _hybrid(setting: str, kw: dict, n: int, pad_to: int):
    probs = np.asarray(kw["probs"])
    rows = probs.shape[0] if setting == "contexts" else 1
    L = _levels(probs.shape[-1])
    total = _buffer(rows * max(n, pad_to)) if setting == "contexts" else _buffer(max(n, pad_to))
    best = (0, None, fair_splits.words_needed(total, L), float(fair_splits.words_needed(total, L)))
    for top in range(1, L):
        plan = tree_counts.plan(np.full((1, 1 << top), 1.0 / (1 << top)), _buffer(max(n, pad_to)))
        if plan is None:
            break
        head = rows * ((1 << top) - 1)
        cost = head * plan.steps * TREE_NODE_COST + fair_splits.words_needed(total, L - top)
        if cost < best[3]:
            best = (top, plan, head + fair_splits.words_needed(total, L - top), cost)
    return best


TREE_BATCH = 8192
TREE_NODE_COST = 0.7  # a bisection step of a node, in Threefry words (measured: 0.6-0.9 on the C1 grid)


def _check_halfspace(kw: dict) -> None:
    noise = kw.get("noise", 0.0)
    if not 0 <= noise < 0.5:
        raise ValueError(f"noise: expected a flip rate in [0, 0.5), got {noise}")
    if noise > 0 and _learner(kw["d"], kw.get("learner", "consistent")) != "gd":
        raise ValueError("noise: a consistent learner needs realizable labels (noise = 0); use learner 'gd'")


REDUCED_BATCH = 1 << 18  # trials per call: a reduced trial is a few words, so batches can be large


def _count_reduced(setting: str, n: int, trials: int, seed: int, tag: str, pad_to: int = 0, stop_above=None,
                   **kw) -> dict:
    key = stream_key(seed, tag)
    n_buf = _buffer(max(n, pad_to))
    if setting == "coin":
        table = jnp.asarray(reduced.binomial_thresholds(n, kw["p"], n_buf))
        k_range = jnp.asarray(exact.coin_accept_range(n, kw["p"], kw["eps"]), jnp.int32)
        words = 1
    elif setting == "contexts":
        probs = np.asarray(kw["probs"])
        m, V = probs.shape
        random_allocation = bool(kw.get("random_allocation", False))
        levels = _levels(V) + (_levels(2 * m) - 1 if random_allocation else 0)
        if random_allocation:
            total_examples = _buffer(m * max(n, pad_to))  # words for a padded total: one compiled shape per power of two
            words, top, plan = fair_splits.words_needed(total_examples, levels), 0, None
        else:
            top, plan, words = hybrid_top(setting, kw, n, pad_to)
        thr = _contexts_thresholds(probs, n, kw["eps"], random_allocation, pad_to)
        ctx = (jnp.int32(n), jnp.asarray(probs, jnp.float32), kw["eps"], *thr, plan.arrays if plan else None)
        ctx_static = dict(m=m, levels=levels, random_allocation=random_allocation, words=words, top=top,
                          rmax=plan.rmax if plan else 0, steps=plan.steps if plan else 0)
    elif setting == "sequences":
        probs = np.asarray(kw["probs"])
        levels = _levels(probs.shape[0])
        top, plan, words = hybrid_top(setting, kw, n, pad_to)
        seq = (jnp.int32(n), jnp.asarray(probs, jnp.float32), kw["eps"], _sequence_threshold(probs, n, kw["eps"], kw["reading"]),
               plan.arrays if plan else None)
        seq_static = dict(levels=levels, words=words, top=top, rmax=plan.rmax if plan else 0,
                          steps=plan.steps if plan else 0)
    else:
        learner = _learner(kw["d"], kw.get("learner", "consistent"))
        words = 2 if learner == "midpoint" else reduced.gd_words(kw["d"], n_buf, float(kw.get("noise", 0.0)))
    total, err_sum, ran = 0, 0.0, {}
    # about 2^20 words (4 MiB) in flight: cache-sized batches are fastest, and memory stays bounded for any n
    batch = _trials_per_call(words, 1 << 20, REDUCED_BATCH)
    # two compiled shapes per count's layout, whatever the trials: counts of up to ``small`` trials (about
    # 2^18 words: the searches' and first looks' 1,000 and 2,500) are padded to it, larger ones run whole
    # batches (padding masked out). A padded call costs milliseconds; a compilation about a second
    small = _trials_per_call(words, 1 << 18, batch)
    size = round_up(batch if trials > small else small)
    for start in range(0, trials, batch):
        count = min(batch, trials - start)
        args = (key, jnp.uint32(start))
        if setting == "contexts":
            out = _contexts_reduced_batch(*args, *ctx, **ctx_static, size=size)
        elif setting == "sequences":
            out = _sequences_reduced_batch(*args, *seq, reading=kw["reading"], **seq_static, size=size)
        elif setting == "coin":
            out = _coin_reduced_batch(*args, table, jnp.int32(n), jnp.float32(kw["p"]), k_range, size=size)
        else:
            out = _halfspace_reduced_batch(*args, jnp.int32(n), kw["eps"], kw["d"], n_buf,
                                           _learner(kw["d"], kw.get("learner", "consistent")),
                                           float(kw.get("noise", 0.0)), size=size)
        k, e = _sums(count, *out)
        total += k
        err_sum += e
        if _stopped(ran, stop_above, total, start + count, trials):
            break
    out = {"failures": total, "trials": trials, "mean_error": err_sum / ran.get("trials", trials), "sampler": "reduced",
           **ran}
    if setting == "halfspace":
        out["unconverged"] = 0
    return out


def tree_plan(setting: str, n: int, pad_to: int, kw: dict):
    """The :mod:`.tree_counts` plan of a contexts (contexts allocated evenly) or sequences count, or None
    where there is none (random contexts, other settings, or too many distinct split probabilities)."""
    if setting == "contexts" and not kw.get("random_allocation", False):
        probs = np.asarray(kw["probs"], dtype=np.float64)
    elif setting == "sequences":
        probs = np.asarray(kw["probs"], dtype=np.float64)[None, :]
    else:
        return None
    return tree_counts.plan(probs, _buffer(max(n, pad_to)))


def _count_tree(setting: str, n: int, trials: int, seed: int, tag: str, plan, pad_to: int = 0, stop_above=None,
                **kw) -> dict:
    key = stream_key(seed, tag)
    probs = np.asarray(kw["probs"])
    tabs = dict(rmax=plan.rmax, steps=plan.steps, L=plan.L)
    if setting == "contexts":
        thr = _contexts_thresholds(probs, n, kw["eps"], False, pad_to)
        args = (jnp.int32(n), jnp.asarray(probs, jnp.float32), kw["eps"], *thr, *plan.arrays)
        words = probs.shape[0] * ((1 << plan.L) - 1)
    else:
        args = (jnp.int32(n), jnp.asarray(probs, jnp.float32), kw["eps"], _sequence_threshold(probs, n, kw["eps"], kw["reading"]),
                *plan.arrays)
        tabs["reading"] = kw["reading"]
        words = (1 << plan.L) - 1
    # at most TREE_BATCH trials a call, and every call that size (fewer trials are padded, masked out):
    # one compiled shape per plan, whatever the trials -- a batch is milliseconds, a compilation a second
    batch = _trials_per_call(words, 1 << 18, TREE_BATCH)
    size = round_up(batch)
    total, err_sum, ran = 0, 0.0, {}
    for start in range(0, trials, batch):
        count = min(batch, trials - start)
        fn = _contexts_tree_batch if setting == "contexts" else _sequences_tree_batch
        k, e = _sums(count, *fn(key, jnp.uint32(start), *args, **tabs, size=size))
        total += k
        err_sum += e
        if _stopped(ran, stop_above, total, start + count, trials):
            break
    return {"failures": total, "trials": trials, "mean_error": err_sum / ran.get("trials", trials), "sampler": "tree", **ran}


def _contexts_thresholds(probs, n_c: int, eps: float, random_allocation: bool, pad_to: int = 0):
    """(thr, thr_total) for the integer decision, or (None, None) when the targets are not uniform.
    thr[k] = floor(2 eps V k) for k up to the largest count a context can get, padded to a power of two
    (searches over n then reuse compiled shapes)."""
    V = exact.uniform_size(probs)
    if V is None:
        return None, None
    m = np.asarray(probs).shape[0]
    N = m * n_c if random_allocation else n_c
    ks = np.arange(_buffer(max(N, m * pad_to if random_allocation else pad_to) + 1))
    thr = exact.floor_threshold(2 * exact.fraction(eps), V, np.minimum(ks, N))
    return jnp.asarray(thr), jnp.int32(exact.floor_threshold(2 * exact.fraction(eps), V, m * n_c))


def _sequence_threshold(probs, n: int, eps: float, reading: str):
    W = exact.uniform_size(probs)
    if W is None:
        return None
    return jnp.int32(exact.floor_threshold((2 if reading == "tv" else 1) * exact.fraction(eps), W, n))


def _trials_per_call(words: int, budget: int, cap: int) -> int:
    """Trials in one call of ``words`` random words each: the largest power of two within ``budget`` words,
    at least 64, at most ``cap``."""
    return max(64, min(cap, 1 << (budget // words).bit_length() - 1))


def _buffer(n: int) -> int:
    """Examples are padded to a power of two (>= 8) so that searches over n reuse compiled shapes."""
    return max(8, 1 << int(np.ceil(np.log2(max(n, 1)))))
