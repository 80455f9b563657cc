"""Your own setting: failure counts of any estimator written as a plain JAX function.

The contract (public and stable)::

    def f(key, n, **params) -> error

* ``key``: a typed JAX PRNG key (``jax.random.key``), the trial's only randomness;
* ``n``: the sample size, a Python ``int`` (so ``jax.random.uniform(key, (n,))`` works);
* ``params``: the keyword numbers given on the command line or to :func:`count_failures` /
  ``tm_transformer.experiments.nstar``, passed through exactly as given (never traced), minus ``eps``
  and ``delta``, which belong to the engine;
* returns the trial's error, a real scalar (shape ``()``); the trial *fails* when ``error > eps``,
  compared in float64 on the host against the ``eps`` given (a float32 error is an exact float64 number).

The engine runs ``f`` under ``jax.jit`` and ``jax.vmap`` over trials. Trial t of the stream (seed, tag)
gets the key ``fold_in(stream_base(seed, tag), t)``, exactly as the built-in settings' direct engine
(:func:`experiments.montecarlo.trial_keys`): its result depends on (seed, tag, t) only -- not on the
trials asked for, the batch it runs in, or the devices -- and the same trials serve every n (common
random numbers). Batches are sharded over the devices (:func:`experiments.devices.split`) and summed on
the host in trial order. (The arithmetic *inside* ``f`` is XLA's: a device's share of a batch has another
shape, whose compiled code may round a float32 division or sum differently by an ulp -- the failure
counts of the examples are identical on 1 and 2 devices, their mean errors equal to 1e-8; use
:func:`experiments.devices.ordered_sum` for sums. On one device results are bit-identical for any number
of trials, since every count at n runs batches of one shape.)

Compilation: ``n`` is a Python int, so ``f`` is traced -- and compiled -- once per distinct n (and
parameter values); the batch shape depends on n only (:func:`per_call`), so the trial counts of a
search, the certificate's two looks and any seed reuse it. An n* search visits 20-50 n, and a
compilation costs 0.5-5 s on a CPU, far more than the trials (:data:`COMPILATIONS` counts them). Padding
n to buckets with a mask needs ``f`` to read a traced n, which the plain contract cannot ask of a user
(``uniform(key, (n,))`` needs a concrete n); so it is an opt-in:

* **padded form** -- ``f(key, n, n_max, **params)`` (a parameter named ``n_max``): the engine passes
  ``n_max``, a Python int (the power of two >= n, at least 8), and ``n`` as a traced int32 scalar with
  n <= n_max; ``f`` draws ``n_max`` examples and uses the first n (a mask ``jnp.arange(n_max) < n``).
  One compilation per power of two: an n* search compiles 3-6 shapes. The trial's result must be that of
  n examples (the tests of :mod:`examples` compare both forms); the draws depend on n_max, so a trial's
  number at n is fixed by (seed, tag, t, n).

Bad input is a :class:`SettingError` (one line naming the problem): a parameter ``f`` does not take (or
one it needs and was not given), a function JAX cannot trace, an error of the wrong shape or type, NaN
or an infinite error.

Counts are kept in the active point store (:mod:`experiments.store`), keyed by ``f``'s source code (and
this module's), n, eps, params, trials, seed and stream tag.
"""
from __future__ import annotations

import hashlib
import inspect
import math
import textwrap
from functools import lru_cache
from typing import Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from tm_transformer.errors import ToolkitError

from . import store
from .devices import round_up, split, to_host
from .jit_cache import release_if_crowded
from .settings.base import Setting as _ProtocolSetting
from .stats import clopper_pearson
from .streams import stream_base

PER_CALL_ELEMENTS = 1 << 20  # trials per call x n stays about this (memory bounded for any n)
PER_CALL_MAX = 4096
COMPILATIONS = [0]  # traces of a user function's batch so far (one per compiled (f, n, params, size))


class SettingError(ToolkitError):
    """A user's setting breaks the contract; the message is one line naming the problem."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


@runtime_checkable
class Setting(Protocol):
    """The richer protocol: an object accepted wherever a function ``f`` is.

    * ``trial(key, n, **params) -> error`` (required): the contract's function (or its padded form, with
      a parameter ``n_max``);
    * ``validate(**params)`` (optional): raise ``ValueError`` with a one-line message on bad parameters;
    * ``exact_failure(n, eps, **params) -> float`` (optional): the exact P(error > eps) at n; with
    * ``horizon(eps, delta, **params) -> int`` (optional): an n past which failure <= delta is proven.
      With both, n* is exact (``exact`` True): the failure curve over every n' up to the horizon, as for the
      built-in coin; :func:`count_failures` still simulates (tests compare the two);
    * ``sampler(key, n, **params) -> error`` (optional): a cheaper draw of the same error (e.g. from a
      sufficient statistic), used by every count ('reduced') unless ``sampler="direct"``;
      :func:`check_sampler` holds it to ``trial`` by the two-sample test the built-in reductions use.

    The point store keys an object by its class's source and its attributes (``vars``)."""

    def trial(self, key, n, **params): ...


def is_own(setting) -> bool:
    """Whether ``setting`` is a user's setting (a function or a :class:`Setting`), not a built-in name."""
    return not isinstance(setting, str) and (callable(setting) or callable(getattr(setting, "trial", None)))


def trial_of(setting):
    """The trial function of a setting: ``setting.trial`` for a :class:`Setting`, else the function itself."""
    trial = getattr(setting, "trial", None)
    return trial if callable(trial) and not inspect.isfunction(setting) else setting


def validate(setting, params: dict) -> None:
    """The parameters bind to the trial function, and pass the setting's own ``validate`` where it has one."""
    check_params(trial_of(setting), params)
    check = getattr(setting, "validate", None)
    if callable(check) and not inspect.isfunction(setting):
        try:
            check(**params)
        except (ValueError, TypeError) as exc:
            lines = str(exc).strip().splitlines()
            why = _first_line(exc) if isinstance(exc, TypeError) or not lines else lines[0]
            raise SettingError(f"{name_of(setting)}: {why}") from None


def name_of(f) -> str:
    if not inspect.isfunction(f) and callable(getattr(f, "trial", None)):
        return type(f).__qualname__
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or type(f).__name__


@lru_cache(maxsize=None)
def engine_digest() -> str:
    """A digest of this module's source (part of every point's key: the store's code version omits it)."""
    from pathlib import Path

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def source_digest(f) -> str:
    """A digest of ``f``'s source code (its bytecode and constants where the source cannot be read); of a
    :class:`Setting`'s class source and attributes."""
    if not inspect.isfunction(f) and callable(getattr(f, "trial", None)):
        try:
            text = textwrap.dedent(inspect.getsource(type(f)))
        except (OSError, TypeError):
            text = source_digest(f.trial)
        attrs = sorted((k, repr(v)) for k, v in getattr(f, "__dict__", {}).items())
        return hashlib.sha256((text + repr(attrs)).encode()).hexdigest()[:16]
    try:
        text = textwrap.dedent(inspect.getsource(f))
    except (OSError, TypeError):
        code = getattr(f, "__code__", None)
        text = repr((code.co_code, code.co_consts, code.co_names)) if code is not None else repr(f)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_params(f, params: dict) -> None:
    """``f(key, n, **params)`` binds: every parameter given is one ``f`` takes, every one it needs is given."""
    if not callable(f):
        raise SettingError(f"expected a function f(key, n, **params) or an object with trial(key, n, **params), "
                           f"got {type(f).__name__}")
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise SettingError(f"parameter {k}={v!r}: expected a number")
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return  # a builtin or C function: its first call reports a mismatch
    names = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(names) < 2 and not any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values()):
        raise SettingError(f"{name_of(f)} takes {len(names)} positional argument(s): expected f(key, n, **params)")
    if "n_max" in params:
        raise SettingError("parameter n_max: the engine's (the padded form's buffer size), not a parameter to give")
    try:
        sig.bind(None, 1, **params, **({"n_max": 8} if "n_max" in sig.parameters else {}))
    except TypeError as exc:
        takes = [p.name for p in list(sig.parameters.values())[2:]
                 if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "n_max"]
        accepts_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        extra = [k for k in params if k not in takes and not accepts_any]
        if extra:
            raise SettingError(f"{name_of(f)} takes no parameter {extra[0]!r} "
                               f"(it takes: {', '.join(takes) or 'none'})") from None
        need = [p.name for p in list(sig.parameters.values())[2:]
                if p.default is p.empty and p.name != "n_max" and p.name not in params
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if need:
            raise SettingError(f"{name_of(f)} needs parameter {need[0]!r} (give {need[0]}=value)") from None
        raise SettingError(f"{name_of(f)} cannot be called as f(key, n, **params): {_first_line(exc)}") from None


def check_trial(f, n: int, params: dict) -> None:
    """``f`` traces at n and returns a real scalar (abstract evaluation: nothing runs)."""
    trial, returned = _call(f, n, params), []

    def probe(k):
        out = trial(k)
        ok = isinstance(out, (jax.Array, np.ndarray, np.number, int, float)) and not isinstance(out, bool)
        returned.append(None if ok else type(out).__name__)
        return jnp.asarray(out) if ok else jnp.zeros(())

    try:
        out = jax.eval_shape(probe, jax.random.key(0))
    except SettingError:
        raise
    except Exception as exc:  # noqa: BLE001 -- whatever the user's code raises, one line naming it
        raise SettingError(f"{name_of(f)} is not traceable by JAX at n={n}: {_first_line(exc)}") from None
    if returned[0] is not None:
        raise SettingError(f"{name_of(f)} returned {returned[0]} at n={n}: expected a scalar error")
    shape, dtype = out.shape, out.dtype
    if tuple(shape) != ():
        raise SettingError(f"{name_of(f)} returned an array of shape {tuple(shape)} at n={n}: expected a scalar error "
                           f"(shape ())")
    if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise SettingError(f"{name_of(f)} returned dtype {dtype} at n={n}: expected a real number")


def padded(f) -> bool:
    """Whether ``f`` takes the padded form ``f(key, n, n_max, **params)`` (a parameter named ``n_max``)."""
    try:
        return "n_max" in inspect.signature(f).parameters
    except (TypeError, ValueError):
        return False


def bucket(n: int) -> int:
    """The padded form's n_max at n: the power of two >= n, at least 8."""
    return max(8, 1 << max(0, (int(n) - 1).bit_length()))


def _call(f, n, params: dict):
    """``f``'s trial at n as the engine calls it: ``key -> error`` (the padded form with a traced n)."""
    if padded(f):
        n_max = bucket(n)
        return lambda k, m=None: f(k, jnp.int32(n) if m is None else m, n_max=n_max, **params)
    return lambda k, m=None: f(k, n, **params)


def per_call(n: int) -> int:
    """Trials per compiled call at sample size n: a power of two, 64 to PER_CALL_MAX, about
    PER_CALL_ELEMENTS / n (depends on n only, so every count at n shares one compiled shape)."""
    return max(64, min(PER_CALL_MAX, 1 << max(0, (PER_CALL_ELEMENTS // max(n, 1)).bit_length() - 1)))


_batches: dict = {}


def _batch(f, n: int, params: tuple, size: int):
    """The jitted call ``(base, start, n) -> errors (size,)`` of trials start .. start + size - 1 of the
    stream ``base``; one per (f, n, params, size), or per (f, n_max, params, size) in the padded form (n
    then traced)."""
    pad = padded(f)
    key = (f, bucket(n) if pad else n, params, size)
    fn = _batches.get(key)
    if fn is None:
        trial = _call(f, n, dict(params))

        def run(base, start, m):
            COMPILATIONS[0] += 1  # runs at trace time only
            t = split(start + jnp.arange(size, dtype=jnp.uint32))
            keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(t)
            return split(jax.vmap(lambda k: jnp.asarray(trial(k, m if pad else None)))(keys))

        fn = _batches[key] = jax.jit(run)
    return fn


def _validate(setting, n: int, trials: int, seed: int, eps: float, params: dict) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise SettingError(f"n={n!r}: expected an integer >= 1")
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise SettingError(f"trials={trials!r}: expected an integer >= 1")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise SettingError(f"seed={seed!r}: expected an integer")
    if not isinstance(eps, (int, float, np.integer, np.floating)) or not math.isfinite(eps):
        raise SettingError(f"eps={eps!r}: expected a finite number")
    validate(setting, params)


def sampler_of(setting, sampler: str = "auto"):
    """(name, function) a count runs: ``("reduced", setting.sampler)`` for 'auto' or 'reduced' where the
    setting has a cheaper sampler, else ``("direct", trial)``."""
    if sampler not in ("auto", "direct", "reduced"):
        raise SettingError(f"sampler {sampler!r}: expected 'auto', 'direct' or 'reduced'")
    cheap = getattr(setting, "sampler", None) if not inspect.isfunction(setting) else None
    if sampler == "reduced" and not callable(cheap):
        raise SettingError(f"sampler 'reduced': {name_of(setting)} has no sampler(key, n, **params) method")
    if sampler != "direct" and callable(cheap):
        return "reduced", cheap
    return "direct", trial_of(setting)


def check_sampler(setting, n: int, eps: float, trials: int = 20_000, seed: int = 0, **params) -> dict:
    """A setting's cheaper ``sampler`` against its ``trial`` at n: the exact conditional two-sample test the
    built-in reductions are held to (:func:`experiments.stats.rates_differ`, level ALPHA). Returns
    {'direct', 'reduced' (the two counts), 'agrees' (the test does not reject), 'power' (the direct rate
    lies in (0.05, 0.95), where a test can tell laws apart)}."""
    from .stats import rates_differ

    direct = count(setting, n, trials, seed, None, eps, params, sampler="direct")
    reduced = count(setting, n, trials, seed + 1, None, eps, params, sampler="reduced")
    return {"direct": direct, "reduced": reduced, "power": 0.05 < direct["rate"] < 0.95,
            "agrees": not rates_differ(direct["failures"], trials, reduced["failures"], trials)}


def count_failures(f, n: int, trials: int, seed: int = 0, tag: str | None = None, eps: float | None = None,
                   stop_above: int | None = None, progress=None, sampler: str = "auto", **params) -> dict:
    """Failures ``error > eps`` of ``trials`` seeded trials of ``f(key, n, **params)`` (of a
    :class:`Setting`'s ``sampler`` where it has one and ``sampler`` is 'auto' or 'reduced'; 'direct': its
    ``trial``).

    Returns {'failures', 'trials', 'mean_error', 'sampler' ('direct' or 'reduced'), 'rate', 'ci_lo', 'ci_hi' (the
    99% Clopper-Pearson interval), 'n', 'eps', 'params', 'function'}; with ``stop_above``, the count
    stops after the first batch whose failures exceed it ('trials' then counts the trials run, 'stopped'
    is True). ``progress(trials_done)`` is called after each batch. ``tag`` names the random stream
    (default ``own/<f's name>``)."""
    return count(f, n, trials, seed, tag, eps, params, stop_above=stop_above, progress=progress, sampler=sampler)


def count(f, n: int, trials: int, seed: int, tag: str | None, eps: float | None, params: dict,
          stop_above: int | None = None, progress=None, sampler: str = "auto") -> dict:
    """:func:`count_failures` with ``f``'s parameters as one dict (names that are its keywords: ``trials``, ``tag``)."""
    if eps is None:
        raise SettingError("eps: expected the error threshold (failure means error > eps)")
    setting = f
    used, f = sampler_of(setting, sampler)
    _validate(setting, n, trials, seed, eps, params)
    if used == "reduced":
        check_params(f, params)
    n, trials, seed, eps = int(n), int(trials), int(seed), float(eps)
    tag = tag or f"own/{name_of(setting)}"
    key = {"setting": f"own:{name_of(setting)}", "source": source_digest(setting), "engine": engine_digest(), "n": n,
           "trials": trials, "seed": seed, "tag": tag, "eps": eps, "params": dict(sorted(params.items())),
           "sampler": used}
    if stop_above is not None:
        key["stop_above"] = int(stop_above)
    out = store.memo("own-count", key, lambda: _count(f, n, trials, seed, tag, eps, stop_above, progress, params))
    out = {**out, "sampler": used}
    lo, hi = clopper_pearson(out["failures"], out["trials"])
    return {**out, "rate": out["failures"] / out["trials"], "ci_lo": lo, "ci_hi": hi, "n": n, "eps": eps,
            "params": dict(params), "function": name_of(setting)}


def _count(f, n, trials, seed, tag, eps, stop_above, progress, params) -> dict:
    release_if_crowded()
    check_trial(f, n, params)
    base = stream_base(seed, tag)
    batch = per_call(bucket(n) if padded(f) else n)
    size = round_up(batch)
    fn = _batch(f, n, tuple(sorted(params.items())), size)
    total, err_sum, done, out = 0, 0.0, 0, {}
    for start in range(0, trials, batch):
        count = min(batch, trials - start)
        try:
            err = to_host(fn(base, jnp.uint32(start), jnp.int32(n)))[:count]
        except SettingError:
            raise
        except Exception as exc:  # noqa: BLE001 -- the user's function failed to compile or run
            raise SettingError(f"{name_of(f)} failed at n={n}: {_first_line(exc)}") from None
        bad = np.nonzero(~np.isfinite(err))[0]
        if bad.size:
            what = "NaN" if np.isnan(err[bad[0]]) else "an infinite error"
            raise SettingError(f"{name_of(f)} returned {what} at n={n} (trial {start + int(bad[0])}, seed {seed}): "
                               f"expected a finite error")
        total += int((err.astype(np.float64) > eps).sum())
        err_sum += float(np.sum(err, dtype=np.float64))
        done = start + count
        if progress is not None:
            progress(count)
        if stop_above is not None and total > stop_above and done < trials:
            out.update(trials=done, stopped=True)
            break
    return {"failures": total, "trials": trials, "mean_error": err_sum / done, **out}


def load(spec: str):
    """The function named by ``path/to/file.py:f`` or ``package.module:f`` (a module found from the current
    folder or the installed packages)."""
    import importlib
    import importlib.util
    import sys
    from pathlib import Path

    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr.isidentifier():
        raise SettingError(f"{spec!r}: expected path/to/file.py:function or module:function")
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise SettingError(f"{where}: no such file")
        name = f"tmt_own_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}_{path.stem}"
        module = sys.modules.get(name)
        if module is None:
            module_spec = importlib.util.spec_from_file_location(name, path)
            if module_spec is None or module_spec.loader is None:
                raise SettingError(f"{where}: not a Python file")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            try:
                module_spec.loader.exec_module(module)
            except Exception as exc:  # noqa: BLE001 -- the user's file: one line naming what it raised
                del sys.modules[name]
                raise SettingError(f"{where}: importing it raised {_first_line(exc)}") from None
    else:
        if "" not in sys.path and "." not in sys.path:
            sys.path.insert(0, "")
        try:
            module = importlib.import_module(where)
        except Exception as exc:  # noqa: BLE001
            raise SettingError(f"{where}: importing it raised {_first_line(exc)}") from None
    f = getattr(module, attr, None)
    if f is None:
        raise SettingError(f"{where} has no function {attr!r}")
    if not is_own(f):
        raise SettingError(f"{where}:{attr} is a {type(f).__name__}, not a function or a setting with trial(key, n)")
    return f


def parse_values(items: list[str]) -> dict:
    """``name=value`` words -> numbers: an int where the value is an integer literal, else a finite float."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise SettingError(f"expected name=value, got {item!r}")
        if key in out:
            raise SettingError(f"{key} given twice")
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                raise SettingError(f"{key}={value!r}: expected a number") from None
            if not math.isfinite(out[key]):
                raise SettingError(f"{key}={value!r}: expected a finite number")
    return out


class UserSetting(_ProtocolSetting):
    """A user's function or :class:`Setting` object as an implementation of the engine's setting protocol
    (:class:`experiments.settings.base.Setting`), as the four built-in settings are: it counts itself
    (:func:`count_failures`: bucketed shapes, its checks) and its n* is :func:`experiments.nstar.own_search`."""

    counts_itself = True

    def __init__(self, f):
        self.f = f
        self.name = self.engine_name = f"own:{name_of(f)}"

    def check(self, kw: dict) -> None:
        validate(self.f, {k: v for k, v in kw.items() if k != "eps"})

    def count_failures(self, n, trials, seed, tag=None, sampler="auto", stop_above=None, **params) -> dict:
        return count_failures(self.f, n, trials, seed, tag, stop_above=stop_above, sampler=sampler, **params)

    def search(self, params, eps, delta, opts, engine):
        return engine.own_search(self.f, eps, delta, params, trials=opts.trials, seed=opts.seed,
                                 max_points=opts.max_points)

