"""In-context learning end to end: learning procedures written as Turing machines (:mod:`.learners`),
run on a prompt of examples by the transformer and checked against the reference simulator and the
direct computation of the same estimator (:mod:`.run`); ``tmt icl`` (:mod:`.cli`).

    from tm_transformer.icl import Dataset, run_icl, random_dataset
    import numpy as np
    data = random_dataset("conditional", 20, m=2, V=2, rng=np.random.default_rng(1))
    res = run_icl("conditional", [data], m=2, V=2)[0]     # the transformer, every step certified
    res.answer, res.prediction, res.equals_reference, res.equals_direct
"""
from .learners import LEARNERS, Learner, get_learner
from .run import Dataset, ICLResult, random_dataset, run_icl

__all__ = ["LEARNERS", "Learner", "get_learner", "Dataset", "ICLResult", "random_dataset", "run_icl"]
