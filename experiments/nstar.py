"""Sample complexity as the claims read it, with exact values where they exist.

A claim "n examples suffice" means *every* n' >= n does, so the toolkit's sample complexity is

    n*(params) = the smallest n such that P(error > eps) <= delta for every n' >= n up to a horizon H,

not the first n where the failure rate dips below delta (failure probabilities of discrete estimators
are not monotone in n: coin p = 1/2, eps = 0.2, delta = 0.1 first crosses at n = 13, is back at 0.180
at n = 14, and stays below delta only from n = 18 on).

* **Exact** (float64 sums of events decided in integers, :mod:`experiments.exact`): the coin (any p,
  n up to 10^4); m contexts of V <= 3 tokens with n_c examples each; the plane's version-space midpoint
  ((1 - 2 eps)^n, monotone). The horizon is a proven upper bound (Hoeffding; Weissman per context at
  delta/m), past which failure <= delta is a theorem, so the exact n* holds for *every* n' >= n*.
* **Simulated**: a search with one set of trials finds the first crossing; a certificate with *fresh*
  trials then evaluates every n on a scan (every integer when there are at most ``MAX_POINTS``, else a
  geometric grid) from half the first crossing to H = 1.25 ``HORIZON`` x the first crossing, with
  Clopper-Pearson intervals made simultaneous over the scan (Bonferroni, level ALPHA). n*_hi: the
  smallest scanned n from which every scanned upper bound is <= delta; n*_lo: one past the last scanned
  n whose lower bound is > delta (the true n* is at least that, with probability >= 1 - ALPHA).
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import settings, store, user_setting
from .montecarlo import count_failures, resolve
from .nstar_result import DEFINITION, NStar, from_curve
# the settings' targets and exact n*, re-exported under their old names
from .settings import NStarOptions
from .settings.coin import COIN_MAX_N, COIN_WORST_P, exact_coin  # noqa: F401
from .settings.contexts import CONTEXT_TARGETS, EXACT_V3_MAX_N, context_probs, exact_contexts  # noqa: F401
from .settings.halfspaces import exact_midpoint  # noqa: F401
from .settings.sequences import SEQUENCE_TARGETS, sequence_probs  # noqa: F401
from .stats import ALPHA, clopper_pearson, geometric_search

HORIZON = 2.0        # simulated scans reach HORIZON x the search's conservative n*
MAX_POINTS = 40      # scanned n per certificate


# ---- simulated n* ----------------------------------------------------------------------------------
LOOK_MIN_TRIALS = 8_000  # certificates of at least this many trials per point look twice (see certify)
LOOK_FRACTION = 4        # the first look reads trials / LOOK_FRACTION


def stop_bound(delta: float, trials: int) -> int:
    """The largest failure count k with ``k / trials <= delta`` -- the search's pass test, in the same float
    expression (``floor(delta * trials)`` can differ by one: delta = 0.043, trials = 10,000 gives 429,
    while 430 / 10,000 <= 0.043). A count stopped once its failures exceed this fails the pass test."""
    k = max(0, math.floor(delta * trials))
    while (k + 1) / trials <= delta:
        k += 1
    while k > 0 and k / trials > delta:
        k -= 1
    return k


def certify(failures, delta: float, n0: int, trials: int, alpha: float = ALPHA, max_points: int | None = None,
            pad: int = 0, early_stop: bool = False, info: dict | None = None) -> tuple:
    """``failures(n, trials, stream, pad_to[, stop_above])`` -> (k, T). Returns (n*, n*_lo, n*_hi, first
    crossing, failure rate at n*, horizon, scan description).

    The search's counts stop once their failures exceed delta x trials where ``early_stop`` (the callback
    takes ``stop_above``): such an n fails the search whatever the remaining trials, so the first crossing
    is the same. With ``trials >= LOOK_MIN_TRIALS`` every scanned n is looked at twice: its first
    trials / LOOK_FRACTION trials, and only if their interval leaves delta undecided (upper bound above
    delta, lower bound not) all its trials. Both looks are Clopper-Pearson intervals at level
    1 - alpha / (2 x points), so by the union bound every reported interval holds at once with probability
    >= 1 - alpha, as with one look at 1 - alpha / points; the scan's n far from n* then costs a quarter.

    With two looks the rates behind n* (the point estimate: the smallest scanned n from which every rate is
    <= delta) and the failure rate at n* come from the look that decided each n: trials / LOOK_FRACTION
    where the first look was decisive, else all trials (mixed sample sizes; n* stays in [n*_lo, n*_hi]).
    ``info`` (a dict, if given) receives ``trials_at_n_star``: the trials behind the rate at n*; ``level``;
    ``looks``: per scanned n, (n, k, T, band) of the look that decided it."""
    if early_stop:
        stop = stop_bound(delta, trials)
        first = first_crossing(lambda n: failures(n, trials, "search", pad, stop), delta, n0)
    else:
        first = first_crossing(lambda n: failures(n, trials, "search", pad), delta, n0)
    H = max(2, math.ceil(HORIZON * 1.25 * first))
    lo_scan = max(1, first // 2)
    points = max_points or MAX_POINTS
    if H - lo_scan + 1 <= points:
        scan = np.arange(lo_scan, H + 1)
    else:
        scan = np.unique(np.round(np.geomspace(lo_scan, H, points)).astype(int))
    looks = 2 if trials >= LOOK_MIN_TRIALS else 1
    level = 1 - alpha / (looks * len(scan))
    counts, bands = [], []
    for n in scan:
        pad_to = max(int(H), pad)  # one padded shape for the scan
        if looks == 2:
            k, T = failures(int(n), trials // LOOK_FRACTION, "certify", pad_to)
            band = clopper_pearson(k, T, level)
            if band[1] <= delta or band[0] > delta:
                counts.append((k, T))
                bands.append(band)
                continue
        k, T = failures(int(n), trials, "certify", pad_to)
        counts.append((k, T))
        bands.append(clopper_pearson(k, T, level))
    rate = np.array([k / T for k, T in counts])
    lo = np.array([b[0] for b in bands])
    hi = np.array([b[1] for b in bands])

    def from_end(ok):
        """Smallest scanned n from which ok holds at every later scanned n (None if not at H)."""
        if not ok[-1]:
            return None
        bad = np.nonzero(~ok)[0]
        return int(scan[bad[-1] + 1]) if bad.size else int(scan[0])

    n_point = from_end(rate <= delta)
    n_hi = from_end(hi <= delta)
    above = np.nonzero(lo > delta)[0]
    n_lo = int(scan[above[-1]]) + 1 if above.size else 1
    if n_point is None:
        n_point = H  # not reached on the scan: report the horizon, uncertified
    i = int(np.nonzero(scan == n_point)[0][0]) if n_point in scan else len(scan) - 1
    desc = (f"fresh trials at {'every n' if len(scan) == H - lo_scan + 1 else f'{len(scan)} geometric points'} "
            f"in [{lo_scan}, {H}]; simultaneous {100 * (1 - alpha):g}% Clopper-Pearson" +
            (f" over two looks per n ({trials // LOOK_FRACTION} trials, then {trials} where undecided: "
             f"{sum(T == trials for _, T in counts)} of {len(scan)} n)" if looks == 2 else ""))
    if info is not None:
        info["trials_at_n_star"] = int(counts[i][1])
        info["level"] = level
        info["looks"] = [(int(m), k, T, b) for m, (k, T), b in zip(scan, counts, bands)]  # the deciding look per n
    return n_point, min(n_lo, n_point), n_hi, first, float(rate[i]), H, desc


def first_crossing(failures, delta: float, n0: int, steps: int = 6) -> int:
    """The search: geometric growth from n0 until the failure rate is <= delta, then bisection on a log
    scale (``steps`` halvings); the certificate scans around what it finds with fresh trials."""
    def passes(n):
        k, T = failures(n)
        return k / T <= delta

    return geometric_search(passes, n0, steps, 32, 10 ** 7, delta)


def simulated(setting: str, kw: dict, delta: float, trials: int, seed: int, tag: str, n0: int = 4,
              scale: int = 1, target: str = "", learner: str = "", max_points: int | None = None, pad: int = 0) -> NStar:
    """n* of a Monte-Carlo setting (``count_failures`` keywords ``kw``); ``scale`` multiplies n into
    total examples (m contexts)."""
    upper = resolve(setting).reports_unconverged  # unconverged trials (the perceptron's) count as failures

    used = set()  # the samplers the certificate's counts ran with

    def failures(n, T, stream, pad_to=0, stop_above=None):
        r = count_failures(setting, n, T, seed, f"{tag}/{stream}", pad_to=pad_to, stop_above=stop_above, **kw)
        if stream == "certify":
            used.add(r.get("sampler", ""))
        return r["failures"] + (r.get("unconverged", 0) if upper else 0), r["trials"]

    info = {}
    n, lo, hi, first, f, H, desc = certify(failures, delta, n0, trials, max_points=max_points, pad=pad,
                                           early_stop=True, info=info)
    return NStar(scale * n, scale * lo, None if hi is None else scale * hi, False, DEFINITION, target, learner,
                 trials, scale * H, scale * first, f, desc, info["trials_at_n_star"], ",".join(sorted(used - {""})))


# ---- one entry point -----------------------------------------------------------------------------
SETTINGS = tuple(settings.SETTINGS)  # ("contexts", "sequences", "halfspaces", "coin")
LEARNERS = {name: s.learners for name, s in settings.SETTINGS.items()}
TARGETS = {name: s.targets for name, s in settings.SETTINGS.items() if s.targets}


class _Engine:
    """What a setting's n* search calls (:meth:`experiments.settings.Setting.search`): the certified scan
    on the engine's counts (looked up here at call time)."""

    @staticmethod
    def simulated(*args, **kwargs) -> NStar:
        return simulated(*args, **kwargs)

    @staticmethod
    def trials(delta: float, trials: int | None) -> int:
        return _trials(delta, trials)

    @staticmethod
    def own_search(*args, **kwargs):
        return own_search(*args, **kwargs)


def _trials(delta: float, trials: int | None) -> int:
    return int(trials) if trials else int(min(200_000, max(2_000, math.ceil(30 / delta))))


def nstar(setting: str, params: dict | None = None, learner: str | None = None, target: str | float | None = None,
          worst_case: bool = False, trials: int | None = None, seed: int = 0, max_points: int | None = None,
          targets: tuple | None = None, random_allocation: bool = False, noise: float = 0.0, **own_params) -> NStar:
    """:func:`search`, kept in the active point store (:mod:`experiments.store`): a grid point of a run.

    ``setting`` may also be a user's function ``f(key, n, **params) -> error`` (:mod:`experiments.user_setting`):
    ``nstar(f, eps=E, delta=D, name=value, ...)`` or ``nstar(f, {"eps": E, "delta": D, ...})`` -- see :func:`own`."""
    if user_setting.is_own(setting):
        extra = [k for k, v, default in (("learner", learner, None), ("target", target, None), ("worst_case", worst_case, False),
                                         ("targets", targets, None), ("random_allocation", random_allocation, False),
                                         ("noise", noise, 0.0)) if v != default]
        if extra:
            raise user_setting.SettingError(
                f"{extra[0]}: a keyword of the built-in settings; a function's own parameter of that name goes in the "
                f"params dict, nstar(f, {{'eps': ..., 'delta': ..., '{extra[0]}': ...}})")
        given = {**(params or {}), **own_params}
        return resolve(setting).search(given, given.pop("eps", None), given.pop("delta", None),
                                       NStarOptions(trials=trials, seed=seed, max_points=max_points), _Engine)
    if own_params:
        raise TypeError(f"nstar() got unexpected keyword argument(s) {', '.join(own_params)} for setting {setting!r}")
    if params is None:
        raise TypeError("nstar() missing required argument: 'params'")
    args: dict[str, Any] = dict(setting=setting, params=params, learner=learner, target=target, worst_case=worst_case,
                                trials=trials, seed=seed, max_points=max_points, targets=targets,
                                random_allocation=random_allocation, noise=noise)
    found = settings.SETTINGS.get(setting) if isinstance(setting, str) else None
    key = found.nstar_key(args) if found is not None else args  # (sequences over 4+ outcomes: exact since 0.2)
    return store.memo("nstar", key, lambda: search(**args), encode=NStar.as_dict, decode=lambda d: NStar(**d))


def search(setting: str, params: dict, learner: str | None = None, target: str | float | None = None,
           worst_case: bool = False, trials: int | None = None, seed: int = 0, max_points: int | None = None,
           targets: tuple | None = None, random_allocation: bool = False, noise: float = 0.0) -> NStar:
    """n* of one setting at ``params`` (names as in ``bounds``: eps, delta, V, m, l, d; the coin's p
    is its target). Exact where an enumeration exists, else simulated with a fresh-trial certificate.
    ``worst_case``: the largest n* over the setting's target family (or over ``targets``)."""
    eps, delta = float(params["eps"]), float(params["delta"])
    if not (0 < eps < 1 and 0 < delta < 1):
        raise ValueError(f"eps and delta must lie in (0, 1), got eps={eps:g}, delta={delta:g}")
    found = settings.SETTINGS.get(setting) if isinstance(setting, str) else None
    if found is None:
        raise ValueError(f"setting {setting!r}: expected one of {', '.join(SETTINGS)}")
    opts = NStarOptions(learner=learner, target=target, worst_case=worst_case, trials=trials, seed=seed,
                        max_points=max_points, targets=targets, random_allocation=random_allocation, noise=noise)
    return found.search(params, eps, delta, opts, _Engine)


# ---- a user's own setting (experiments.user_setting) ---------------------------------------------------
@dataclass
class OwnNStar(NStar):
    """n* of a user's function: the built-in fields (``exact`` False, ``learner`` the function's name) and
    what it was asked at."""
    eps: float = 0.0
    delta: float = 0.0
    params: dict = field(default_factory=dict)
    function: str = ""
    source: str = ""      # digest of the function's source (the point store's key)
    compilations: int = 0  # shapes compiled by this search (one per distinct n; 0 when taken from the store)


OWN_MAX_N = 1 << 20  # a user's search gives up past this n (each n a compilation, arrays of n examples a trial)


def own(f, eps: float | None = None, delta: float | None = None, trials: int | None = None, seed: int = 0,
        max_points: int | None = None, n0: int = 1, progress: bool = True, max_n: int = OWN_MAX_N,
        **params) -> OwnNStar:
    """n* of ``f(key, n, **params) -> error`` (failure: error > eps), the built-in settings' simulated
    definition: a search from ``n0`` (doubling, then bisection), then a certificate with fresh trials on a
    scan up to the horizon (:func:`certify`; simultaneous 99% Clopper-Pearson). ``trials`` per n default
    to max(2,000, 30 / delta) as for the built-in settings. Kept in the active point store, keyed by
    ``f``'s source. Raises :class:`experiments.user_setting.SettingError` (one line) on bad input.
    :func:`own_search` takes the parameters as a dict (names that are keywords here: ``trials``, ``seed``)."""
    return own_search(f, eps, delta, params, trials=trials, seed=seed, max_points=max_points, n0=n0, progress=progress,
                      max_n=max_n)


def own_search(f, eps, delta, params: dict, trials: int | None = None, seed: int = 0, max_points: int | None = None,
               n0: int = 1, progress: bool = True, max_n: int = OWN_MAX_N) -> OwnNStar:
    """:func:`own` with ``f``'s parameters as one dict."""
    from tm_transformer.progress import step_bar

    SettingError = user_setting.SettingError
    for k, v in (("eps", eps), ("delta", delta)):
        if v is None:
            raise SettingError(f"{k}: missing (give {k}=value)")
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise SettingError(f"{k}={v!r}: expected a finite number")
    eps, delta = float(eps), float(delta)
    if not 0 < delta < 1:
        raise SettingError(f"delta={delta:g}: expected a number in (0, 1)")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 100):
        raise SettingError(f"trials={trials!r}: expected an integer >= 100")
    for k, v in (("n0", n0), ("max_n", max_n)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise SettingError(f"{k}={v!r}: expected an integer >= 1")
    setting = f
    user_setting.validate(setting, params)
    user_setting.check_trial(user_setting.trial_of(setting), int(n0), params)
    used, cheap = user_setting.sampler_of(setting)
    if used == "reduced":
        user_setting.check_params(cheap, params)
        user_setting.check_trial(cheap, int(n0), params)
    T = _trials(delta, trials)
    name = user_setting.name_of(setting)
    tag = f"own/{name}/{eps}/{delta}/" + ",".join(f"{k}={v}" for k, v in sorted(params.items()))
    key: dict[str, Any] = dict(setting=f"own:{name}", source=user_setting.source_digest(setting),
                               engine=user_setting.engine_digest(), eps=eps, delta=delta,
                               params=dict(sorted(params.items())), trials=T, seed=int(seed), max_points=max_points,
                               n0=int(n0), max_n=int(max_n))
    if callable(getattr(setting, "exact_failure", None)) and callable(getattr(setting, "horizon", None)):
        return store.memo("own-nstar", {**key, "exact": True}, lambda: _own_exact(setting, eps, delta, params, key["source"]),
                          encode=OwnNStar.as_dict, decode=lambda d: OwnNStar(**d))

    def compute():
        before = user_setting.COMPILATIONS[0]
        # no total (a search's length is not known): step_bar's ``total: int`` is too narrow
        with step_bar(None, enabled=progress, unit="trial",  # pyright: ignore[reportArgumentType]
                      desc=f"n* of {name}") as bar:
            done = [0]

            def tick(count):
                done[0] += count
                bar(done[0])

            def failures(n, T, stream, pad_to=0, stop_above=None):
                if n > max_n:
                    raise SettingError(f"{name}: the search needs n = {n:,}, past max_n = {max_n:,} (the failure rate "
                                       f"stays above delta={delta:g} below it; give a larger max_n)")
                r = user_setting.count(f, n, T, seed, f"{tag}/{stream}", eps, params, stop_above=stop_above, progress=tick)
                return r["failures"], r["trials"]

            info = {}
            try:
                n, lo, hi, first, rate, H, desc = certify(failures, delta, int(n0), T, max_points=max_points,
                                                          early_stop=True, info=info)
            except RuntimeError as exc:
                raise SettingError(f"{name}: {exc}") from None
        return OwnNStar(n, lo, hi, False, DEFINITION, ", ".join(f"{k}={v}" for k, v in sorted(params.items())), name,
                        T, H, first, rate, desc, info["trials_at_n_star"], user_setting.sampler_of(setting)[0], eps, delta,
                        dict(params), name,
                        key["source"], user_setting.COMPILATIONS[0] - before)

    return store.memo("own-nstar", key, compute, encode=OwnNStar.as_dict, decode=lambda d: OwnNStar(**d))


def _own_exact(setting, eps: float, delta: float, params: dict, source: str) -> OwnNStar:
    """Exact n* of a :class:`~experiments.user_setting.Setting` with ``exact_failure`` and ``horizon``: the
    failure curve at every n' up to the horizon (past which failure <= delta is the setting's proven claim)."""
    SettingError = user_setting.SettingError
    name = user_setting.name_of(setting)
    try:
        H = int(setting.horizon(eps, delta, **params))
        if H < 1:
            raise ValueError(f"horizon {H}: expected an integer >= 1")
        ns = np.arange(1, H + 1)
        fail = np.array([float(setting.exact_failure(int(n), eps, **params)) for n in ns])
    except (ValueError, TypeError, ArithmeticError) as exc:
        lines = str(exc).strip().splitlines()
        raise SettingError(f"{name}: {type(exc).__name__}" + (f": {lines[0]}" if lines else "")) from None
    bad = np.nonzero(~np.isfinite(fail) | (fail < -1e-9) | (fail > 1 + 1e-9))[0]  # room for a float sum's rounding
    if bad.size:
        raise SettingError(f"{name}.exact_failure({int(ns[bad[0]])}) = {float(fail[bad[0]])!r}: expected a probability")
    fail = np.clip(fail, 0.0, 1.0)
    try:
        n, first, rate = from_curve(ns, fail, delta)
    except ValueError as exc:
        raise SettingError(f"{name}: {exc}") from None
    return OwnNStar(n, n, n, True, DEFINITION, ", ".join(f"{k}={v}" for k, v in sorted(params.items())), name, 0, H,
                    first, rate, f"every n' in [1, {H}] (the setting's horizon beyond)", 0, "exact", eps, delta, dict(params),
                    name, source, 0)


class _CallableModule(type(math)):
    """``tm_transformer.experiments.nstar`` is this module *and* callable: ``experiments.nstar(f, eps=...,
    delta=..., **params)`` is :func:`nstar` (the package attribute of a submodule is the module, so a
    function of that name could not live beside it)."""

    def __call__(self, *args, **kwargs):
        return nstar(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
