"""The setting protocol: what the engine (:mod:`experiments.montecarlo`), the n* search
(:mod:`experiments.nstar`) and the CLI ask of a setting, so that none of them knows a setting by name.

A setting is an estimation problem: a trial draws a prompt of n examples and returns the estimator's
error; failure means error > eps. A built-in setting implements:

* counting -- ``check(kw)`` (the count's keywords, one-line ``ValueError``); samplers: ``direct_batch``
  (whole-prompt draws from per-trial keys), and where it has one an exact ``reduced_batch`` (a sufficient
  statistic from a few counter-based words a trial) and ``tree_probs`` (rows for a :mod:`.tree_counts`
  plan); ``has_reduction``, ``constant_cost``, ``uniform_rows`` for the sampler choice;
* n* -- ``search(params, opts, engine)``: exact where an enumeration exists (``exact_failure`` curves
  over every n' up to a proven horizon), else ``engine.simulated`` (the certified scan) on its counts;
  ``learners``, ``targets`` (the named target family a worst case runs over), ``nstar_key``;
* the CLI -- ``cli_target`` (parse ``--target``), ``cli_check`` (limits of the command).

The stream tag of a count is the caller's; the tags the n* search uses are each setting's own (and must
stay byte-identical: stored results and published tables depend on them).

A user's function ``f(key, n, **params) -> error`` or object with ``trial`` is an implementation too
(:class:`experiments.user_setting.UserSetting`): it counts itself (``counts_itself``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class NStarOptions:
    """The keywords of :func:`experiments.nstar.search` besides the setting and its params."""
    learner: str | None = None
    target: object = None
    worst_case: bool = False
    trials: int | None = None
    seed: int = 0
    max_points: int | None = None
    targets: tuple | None = None
    random_allocation: bool = False
    noise: float = 0.0


class Setting:
    """Base class of the built-in settings (defaults: no reduction, no tree, nothing to check)."""

    name: str = ""               # the n* / CLI name ('halfspaces')
    engine_name: str = ""        # the count_failures name ('halfspace'): store keys and error messages
    learners: tuple = ()         # learners an n* search accepts (the first is the default)
    targets: tuple = ()          # the named target family (worst case: the largest n* over it)
    reports_unconverged = False  # counts carry 'unconverged' (the n* search counts them as failures)
    counts_itself = False        # a user's setting: the engine hands it the whole count

    # ---- counting --------------------------------------------------------------------------------
    def check(self, kw: dict) -> None:
        """Raise ``ValueError`` (one line, naming the field) on keywords the count cannot run."""

    def has_reduction(self, kw: dict) -> bool:
        """Whether an exact reduced sampler exists for these keywords."""
        return False

    def constant_cost(self, kw: dict) -> bool:
        """Whether a trial costs a fixed few words whatever n."""
        return False

    def tree_probs(self, kw: dict):
        """(R, K) probabilities of R rows to count by binomial inversion down a tree, or None."""
        return None

    def uniform_rows(self, kw: dict) -> int:
        """Rows of uniform counts a trial draws (the fair-split cost model)."""
        return 1

    def direct_count(self, n: int, trials: int, seed: int, tag: str, pad_to: int, stop_above, kw: dict):
        """A whole direct count where the batch loop does not fit (the perceptron), else None."""
        return None

    def count_failures(self, n: int, trials: int, seed: int, tag: str | None = None, sampler: str = "auto",
                       stop_above: int | None = None, **kw) -> dict:
        """The whole count of a setting that ``counts_itself`` (a user's setting); the engine's own otherwise."""
        raise NotImplementedError

    def direct_batch(self, n: int, pad_to: int, kw: dict) -> Callable:
        """``batch(base, start, size) -> (err, fail, *more)`` per-trial arrays of trials start, ...,
        start + size - 1 drawn from keys fold_in(base, t)."""
        raise NotImplementedError

    def reduced_batch(self, n: int, pad_to: int, kw: dict) -> tuple[int, Callable]:
        """(words a trial, ``batch(key, start, size) -> (err, fail)``) of the exact reduced sampler."""
        raise NotImplementedError

    def tree_batch(self, n: int, pad_to: int, plan, kw: dict) -> tuple[int, Callable]:
        """(words a trial, ``batch(key, start, size) -> (err, fail)``) of the tree sampler."""
        raise NotImplementedError

    # ---- n* --------------------------------------------------------------------------------------
    def search(self, params: dict, eps: float, delta: float, opts: NStarOptions, engine):
        """n* (:class:`experiments.nstar_result.NStar`) at ``params``; ``engine.simulated(engine_name, kw,
        delta, trials, seed, tag, ...)`` and ``engine.trials(delta, trials)`` run the certified scan."""
        raise NotImplementedError

    def nstar_key(self, args: dict) -> dict:
        """The point store's key of an n* search with these arguments."""
        return args

    # ---- the CLI ---------------------------------------------------------------------------------
    def cli_target(self, target):
        """``--target`` as the search takes it (``ValueError`` with a one-line message on bad input)."""
        return target

    def cli_check(self, params: dict) -> None:
        """``ValueError`` (one line) where ``tmt nstar`` cannot run these params."""
