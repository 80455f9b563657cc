"""The Monte-Carlo engine: failure counts P(error > eps) of in-context estimators, JIT-compiled and
vmapped over trials. It knows no setting by name: a setting is a :class:`experiments.settings.Setting`
(the built-in ones in :mod:`experiments.settings`, a user's function through
:class:`experiments.user_setting.UserSetting`), looked up by name where one is given.

Trial t of a setting draws its randomness from ``fold_in(fold_in(key(seed), tag), t)``: the result of
a trial depends on (seed, setting tag, trial index) only -- not on how trials are batched or which
device runs them -- and the same trials are reused for every n (common random numbers), which keeps
the failure rate monotone in n along a search.

Float sums inside a trial are :func:`~experiments.devices.ordered_sum` (a fixed pairwise tree): XLA's own
reductions may change order with the shape of the batch around a trial, i.e. with the device count.

Settings (each returns the error of one trial; see their modules): ``contexts``
(:mod:`experiments.settings.contexts`), ``coin`` (:mod:`experiments.settings.coin`), ``sequences``
(:mod:`experiments.settings.sequences`), ``halfspace`` (:mod:`experiments.settings.halfspaces`).

Where an exact reduction exists the engine draws the trial's sufficient statistic from a counter-based
stream (:mod:`experiments.streams`) instead of the whole prompt -- same error distribution, a fraction
of the random words: the coin, the plane midpoint and the gradient step (:mod:`experiments.reduced`),
and uniform targets over a power-of-two number of outcomes, whose counts come from fair bits
(:mod:`experiments.fair_splits`). ``sampler="direct"`` forces the whole-prompt simulation (jax.random's
multinomial / binomial / normal draws; tests compare the two). Whether a trial failed is decided in
integers where the target is rational (:mod:`experiments.exact`), so ties are never rounded either way.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from . import reduced, settings, store, tree_counts, user_setting  # noqa: F401  (reduced: re-exported)
from .devices import round_up
from .jit_cache import release_if_crowded
from .sampling import TREE_NODE_COST, hybrid, trial_keys, uniform_counts  # noqa: F401  (re-exported)
from .sampling import buffer as _buffer
from .sampling import levels as _levels  # noqa: F401
from .sampling import sizes as _sizes
from .sampling import stopped as _stopped
from .sampling import sums as _sums
from .sampling import trials_per_call as _trials_per_call
from .settings import Setting
# the settings' trial functions, re-exported under their old names
from .settings.coin import _coin_batch, _coin_reduced_batch, coin_error  # noqa: F401
from .settings.contexts import contexts_decision, contexts_error  # noqa: F401
from .settings.halfspaces import (PERCEPTRON_BATCH, PERCEPTRON_CHUNK, PERCEPTRON_FIRST_CAP,  # noqa: F401
                                  PERCEPTRON_MAX_EPOCHS, PERCEPTRON_TAIL, _learner, angle_error, halfspace_error,
                                  halfspace_prompt, max_margin_2d, perceptron, perceptron_resume,
                                  version_space_midpoint_2d)
from .settings.sequences import sequence_decision, sequence_errors  # noqa: F401
from .streams import stream_base, stream_key

TRIAL_BATCH = 4096
TREE_BATCH = 8192
REDUCED_BATCH = 1 << 18  # trials per call: a reduced trial is a few words, so batches can be large


def resolve(setting) -> Setting:
    """The protocol object of ``setting``: a built-in setting's name (its n* or engine name), a
    :class:`~experiments.settings.Setting`, or a user's function / object (wrapped as
    :class:`~experiments.user_setting.UserSetting`). ``ValueError`` for an unknown name."""
    if isinstance(setting, Setting):
        return setting
    if user_setting.is_own(setting):
        return user_setting.UserSetting(setting)
    found = settings.find(setting)
    if found is None:
        raise ValueError(f"unknown setting {setting!r}")
    return found


def _find(setting) -> Setting | None:
    return setting if isinstance(setting, Setting) else settings.find(setting)


def count_failures(setting, n: int, trials: int, seed: int, tag: str | None = None, sampler: str = "auto", pad_to: int = 0,
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
    if user_setting.is_own(setting) or getattr(setting, "counts_itself", False):
        return resolve(setting).count_failures(n, trials, seed, tag, sampler=sampler, stop_above=stop_above, **kw)
    if tag is None:
        raise TypeError("count_failures() missing required argument: 'tag' (the stream's name)")
    s = resolve(setting)
    s.check(kw)
    sampler = _sampler(s, kw, sampler, n, pad_to)
    key = {"setting": s.engine_name, "n": int(n), "trials": int(trials), "seed": int(seed), "tag": tag,
           "sampler": sampler, "pad_to": int(pad_to), "kw": kw}
    if stop_above is not None:
        key["stop_above"] = int(stop_above)
    return store.memo("count", key, lambda: _count(s, n, trials, seed, tag, sampler, pad_to, stop_above, **kw))


def _count(s: Setting, n: int, trials: int, seed: int, tag: str, sampler: str, pad_to: int, stop_above=None,
           **kw) -> dict:
    release_if_crowded()
    if sampler == "tree":
        return _count_tree(s, n, trials, seed, tag, tree_plan(s, n, pad_to, kw), pad_to=pad_to,
                           stop_above=stop_above, **kw)
    if sampler == "reduced":
        return _count_reduced(s, n, trials, seed, tag, pad_to=pad_to, stop_above=stop_above, **kw)
    whole = s.direct_count(n, trials, seed, tag, pad_to, stop_above, kw)
    if whole is not None:
        return whole
    base = stream_base(seed, tag)
    batch = s.direct_batch(n, pad_to, kw)
    total, unconv, err_sum, ran = 0, 0, 0.0, {}
    for start, count, size in _sizes(trials, TRIAL_BATCH):
        k, e, *more = _sums(count, *batch(base, jnp.uint32(start), size))
        unconv += sum(more)
        total += k
        err_sum += e
        if _stopped(ran, stop_above, total + unconv, start + count, trials):  # the search counts unconverged as failures
            break
    done = ran.get("trials", trials)
    out = {"failures": total, "trials": trials, "mean_error": err_sum / done, "sampler": "direct", **ran}
    if s.reports_unconverged:
        out["unconverged"] = unconv
    return out


def _count_reduced(s: Setting, n: int, trials: int, seed: int, tag: str, pad_to: int = 0, stop_above=None,
                   **kw) -> dict:
    key = stream_key(seed, tag)
    words, batch_fn = s.reduced_batch(n, pad_to, kw)
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
        k, e = _sums(count, *batch_fn(key, jnp.uint32(start), size))
        total += k
        err_sum += e
        if _stopped(ran, stop_above, total, start + count, trials):
            break
    out = {"failures": total, "trials": trials, "mean_error": err_sum / ran.get("trials", trials), "sampler": "reduced",
           **ran}
    if s.reports_unconverged:
        out["unconverged"] = 0
    return out


def _count_tree(s: Setting, n: int, trials: int, seed: int, tag: str, plan, pad_to: int = 0, stop_above=None,
                **kw) -> dict:
    key = stream_key(seed, tag)
    words, batch_fn = s.tree_batch(n, pad_to, plan, kw)
    # at most TREE_BATCH trials a call, and every call that size (fewer trials are padded, masked out):
    # one compiled shape per plan, whatever the trials -- a batch is milliseconds, a compilation a second
    batch = _trials_per_call(words, 1 << 18, TREE_BATCH)
    size = round_up(batch)
    total, err_sum, ran = 0, 0.0, {}
    for start in range(0, trials, batch):
        count = min(batch, trials - start)
        k, e = _sums(count, *batch_fn(key, jnp.uint32(start), size))
        total += k
        err_sum += e
        if _stopped(ran, stop_above, total, start + count, trials):
            break
    return {"failures": total, "trials": trials, "mean_error": err_sum / ran.get("trials", trials), "sampler": "tree", **ran}


# ---- the sampler choice ----------------------------------------------------------------------------
def has_reduction(setting, kw: dict) -> bool:
    """Whether the setting has an exact reduction (a trial then costs a few random words): the coin, the
    plane midpoint, the gradient step, and uniform targets over a power-of-two number of outcomes (with
    random contexts, a power-of-two number of contexts too)."""
    s = _find(setting)
    return s is not None and s.has_reduction(kw)


def constant_cost(setting, kw: dict) -> bool:
    """Whether a trial costs a fixed few words whatever n (the coin's inversion, the plane midpoint)."""
    s = _find(setting)
    return s is not None and s.constant_cost(kw)


def _sampler(setting, kw: dict, sampler: str, n: int = 1, pad_to: int = 0) -> str:
    """'reduced', 'tree' or 'direct' for this count; 'auto' picks the cheapest exact sampler there is (the
    reductions, the tree where it costs fewer words, else direct; see :func:`auto_sampler`)."""
    if sampler == "auto":
        return auto_sampler(setting, kw, n, pad_to)
    name = getattr(_find(setting), "engine_name", setting)
    if sampler == "reduced" and not has_reduction(setting, kw):
        raise ValueError(f"sampler: no exact reduction for this {name!r} case (there is one for the coin, the "
                         "plane midpoint, the gradient step and uniform targets over 2^L outcomes); use 'direct' or 'auto'")
    if sampler == "tree" and tree_plan(setting, n, pad_to, kw) is None:
        raise ValueError(f"sampler: no tree plan for this {name!r} case (contexts allocated evenly or sequences, "
                         f"at most {tree_counts.MAX_TABLES} distinct split probabilities); use 'direct' or 'auto'")
    if sampler not in ("reduced", "tree", "direct"):
        raise ValueError(f"sampler: expected 'auto', 'reduced', 'tree' or 'direct', got {sampler!r}")
    return sampler


def auto_sampler(setting, kw: dict, n: int, pad_to: int = 0) -> str:
    """The sampler 'auto' picks for a count: where the setting has a tree plan (contexts allocated evenly,
    sequences) the fair splits (uniform targets over 2^L outcomes) or the tree, whichever costs less per
    trial (fair splits: L bits per padded example; tree: one word and a bisection per node, weighted as
    TREE_NODE_COST words), the tree for other targets; elsewhere the reduction where there is one, else
    direct."""
    fair = has_reduction(setting, kw)
    plan = tree_plan(setting, n, pad_to, kw)
    if plan is None:
        return "reduced" if fair else "direct"
    if not fair:
        return "tree"
    tree_cost = _uniform_rows(setting, kw) * ((1 << plan.L) - 1) * TREE_NODE_COST * plan.steps
    return "tree" if tree_cost < _hybrid(setting, kw, n, pad_to)[3] else "reduced"


def hybrid_top(setting, kw: dict, n: int, pad_to: int = 0):
    """(top, plan, words) of the cheapest uniform counts for a contexts (allocated evenly) or sequences
    count: ``top`` tree levels by inversion (its :mod:`.tree_counts` plan, None for 0), the rest by fair
    splits, ``words`` random words a trial. Cost: TREE_NODE_COST per bisection step of a node, 1 per
    fair-split word (:func:`experiments.sampling.hybrid`)."""
    return _hybrid(setting, kw, n, pad_to)[:3]


def _uniform_rows(setting, kw: dict) -> int:
    s = _find(setting)
    if s is None:  # not a setting: the AttributeError that ``None.uniform_rows`` raised
        raise AttributeError(f"setting {setting!r} is unknown: it has no uniform_rows")
    return s.uniform_rows(kw)


def _hybrid(setting, kw: dict, n: int, pad_to: int):
    return hybrid(_uniform_rows(setting, kw), np.asarray(kw["probs"]).shape[-1], n, pad_to)


def tree_plan(setting, n: int, pad_to: int, kw: dict):
    """The :mod:`.tree_counts` plan of a contexts (contexts allocated evenly) or sequences count, or None
    where there is none (random contexts, other settings, or too many distinct split probabilities)."""
    s = _find(setting)
    probs = None if s is None else s.tree_probs(kw)
    if probs is None:
        return None
    return tree_counts.plan(probs, _buffer(max(n, pad_to)))
