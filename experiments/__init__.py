"""tm_transformer.experiments: in-context estimators measured against the bounds, a verdict per claim, figures.

``tmt reproduce --quick`` runs every check; :mod:`experiments.checks` holds them, the claims are data in
:mod:`experiments.claims`, one decision rule decides them all (:mod:`experiments.decision`; the calibrated
protocol beside it is :mod:`experiments.protocol`), the Monte-Carlo engine is :mod:`experiments.montecarlo`.
A claim of your own: ``check_claim(Claim(...))`` (:mod:`experiments.claim_check`, notebook 03).

Your own setting (:mod:`experiments.user_setting`, docs/own_setting.md): ``nstar(f, eps=..., delta=...,
**params)`` and ``count_failures(f, n, trials, seed, eps=..., **params)`` for a JAX function
``f(key, n, **params) -> error``.
"""
if __name__ == "experiments":  # the old top-level name: be the same module as tm_transformer.experiments
    from tm_transformer._layout import alias as _alias

    _alias(__name__)  # the old name (deprecated): sys.modules["experiments"] becomes tm_transformer.experiments

__all__ = ["nstar", "count_failures", "check_claim", "user_setting"]  # imported on first use (below)


def __getattr__(name):
    """``nstar`` (the module :mod:`.nstar`, callable as its function), ``count_failures`` and ``user_setting``,
    imported on first use (the package itself imports no JAX)."""
    import importlib

    if name in ("nstar", "user_setting"):
        return importlib.import_module(f"{__name__}.{name}")
    if name == "count_failures":
        return importlib.import_module(f"{__name__}.montecarlo").count_failures
    if name == "check_claim":
        return importlib.import_module(f"{__name__}.claim_check").check_claim
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
