"""experiments: in-context estimators measured against the bounds, a verdict per claim, figures.

``tmt reproduce --quick`` runs every check; :mod:`experiments.checks` holds them, the decision rule is
in :mod:`experiments.protocol`, the Monte-Carlo engine in :mod:`experiments.montecarlo`.
"""
