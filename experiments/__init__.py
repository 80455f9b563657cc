"""tm_transformer.experiments: in-context estimators measured against the bounds, a verdict per claim, figures.

``tmt reproduce --quick`` runs every check; :mod:`experiments.checks` holds them, the decision rule is
in :mod:`experiments.protocol`, the Monte-Carlo engine in :mod:`experiments.montecarlo`.
"""
if __name__ == "experiments":  # the old top-level name: be the same module as tm_transformer.experiments
    from tm_transformer._layout import alias as _alias

    _alias(__name__)
