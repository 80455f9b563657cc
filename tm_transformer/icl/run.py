"""Running a learner in context: encode the prompt, decode it on the transformer (or the reference
simulator), read the answer off the final tape, and check it three ways.

:func:`run_icl` takes a batch of datasets for one learner and one (m, V): one machine, many prompts,
one batched transformer run (every step certified). Each :class:`ICLResult` says whether the
transformer's run equals the reference simulator's step for step (``equals_reference``) and whether
the answer equals the direct numpy computation of the same estimator (``equals_direct``).

Before a transformer run, :func:`plan` checks a-priori that the prompt fits the dtype's certified
envelope: the learner's step bound at n examples, with the head range the prompt needs, must be within
the steps the dtype keeps exact (:func:`tm_transformer.transformer.envelope.steps_exact`). The
transformer runs with the full cache (``cache="full"`` of :func:`tm_transformer.transformer.run`, every
key kept): that is the cache this envelope is for; ``tmt run``'s default, the evicting cache, has its
own envelope and is not used here. The reference simulator needs no envelope, only a step budget
(``REFERENCE_MAX_STEPS``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, cast

import numpy as np

from ..errors import PrecisionError, ToolkitError
from ..run_result import RunResult
from ..simulator import simulate
from .learners import Learner, decode_with, get_learner

ENGINES = ("transformer", "reference")
REFERENCE_MAX_STEPS = 10 ** 8  # the reference simulator's budget (a-priori step bound of the longest prompt)


@dataclass(frozen=True)
class Dataset:
    """Examples (n, 2) int64 -- (context or input, token or label) pairs -- and a query."""

    examples: np.ndarray
    query: int

    @property
    def n(self) -> int:
        return len(self.examples)


@dataclass(frozen=True)
class ICLResult:
    """One in-context prediction. ``answer``: conditional -- the counts of each token after the query
    context; threshold -- the predicted label. ``extra``: conditional -- the prediction (argmax, ties to
    the smallest token); threshold -- the learned threshold. ``prompt_length``: the transformer's prompt
    tokens (one per tape cell, plus the start token)."""

    learner: str
    m: int
    V: int
    dataset: Dataset
    answer: object
    extra: int
    steps: int
    prompt_length: int
    engine: str
    equals_reference: bool | None  # None: not compared (engine='reference', or check=False)
    equals_direct: bool

    @property
    def prediction(self) -> int:
        return self.extra if self.learner == "conditional" else cast(int, self.answer)  # threshold: the label

    def summary(self) -> dict:
        """The JSON contract of ``tmt icl --json``."""
        return {"learner": self.learner, "examples": [[int(a), int(b)] for a, b in self.dataset.examples],
                "query": int(self.dataset.query), "answer": self.answer, "prediction": self.prediction,
                "steps": self.steps, "prompt_length": self.prompt_length, "engine": self.engine,
                "equals_reference": self.equals_reference, "equals_direct": self.equals_direct}


def check_dataset(learner: Learner, data: Dataset, m: int, V: int, where: str = "",
                  names: tuple[str, str] = ("--m {}", "--V {}")) -> None:
    """Every symbol inside the learner's alphabet for (m, V); one line naming the first that is not
    (``names``: where m and V came from, ``{}`` standing for the value, e.g. ``("field 'm' = {} in FILE", "--V {}")``). Threshold data must be
    labelled by some threshold 1[x >= t] (the consistent learner's premise): otherwise refused, naming a
    positive example at or below a negative one."""
    learner.check_sizes(m, V, *names)
    nm, nV = (x.replace("{}", str(v)) for x, v in zip(names, (m, V)))
    first = "context" if learner.name == "conditional" else "input"
    second = "token" if learner.name == "conditional" else "label"
    ex = np.asarray(data.examples)
    if ex.ndim != 2 or ex.shape[1] != 2:
        raise ToolkitError(f"{where}examples: expected pairs ({first}, {second}), got shape {ex.shape}")
    for i, (a, b) in enumerate(ex):
        if not 0 <= a < m:
            raise ToolkitError(f"{where}example {i} ({a}, {b}): {first} {a} is outside 0..{m - 1} ({nm})")
        if not 0 <= b < V:
            raise ToolkitError(f"{where}example {i} ({a}, {b}): {second} {b} is outside 0..{V - 1} ({nV})")
    if not 0 <= data.query < m:
        raise ToolkitError(f"{where}query {data.query}: outside 0..{m - 1} ({nm})")
    if learner.name == "threshold" and len(ex):
        pos, neg = np.flatnonzero(ex[:, 1] == 1), np.flatnonzero(ex[:, 1] == 0)
        if len(pos) and len(neg) and ex[pos, 0].min() <= ex[neg, 0].max():
            i, j = pos[np.argmin(ex[pos, 0])], neg[np.argmax(ex[neg, 0])]
            raise ToolkitError(f"{where}examples {i} ({ex[i, 0]}, 1) and {j} ({ex[j, 0]}, 0): no threshold 1[x >= t] "
                               f"labels both (the threshold learner takes data labelled by a threshold)")


@dataclass(frozen=True)
class Plan:
    tapes: list        # symbol indices per prompt
    head_range: int
    steps_bound: int   # a-priori bound on the steps of the longest prompt
    limit: int         # steps the dtype keeps exact at that head range


def plan(learner: Learner, datasets: Sequence[Dataset], m: int, V: int, dtype: str = "float32",
         engine: str = "transformer") -> Plan:
    """Encode the prompts and check a-priori that they fit the dtype's certified envelope (the
    transformer), or the reference simulator's step budget ``REFERENCE_MAX_STEPS`` (the reference)."""
    from ..transformer.envelope import MANTISSA_BITS, steps_exact

    spec = learner.spec(m, V)
    tapes = [spec.encode(learner.encode(d.examples, d.query, m, V)) for d in datasets]
    n = max(d.n for d in datasets)
    # the head stays within cells -(n + 1) .. len(tape): tallies go left, the sweep ends past the prompt
    R = max(len(t) for t in tapes) + n + 4
    bound = learner.steps_bound(n, m, V)
    if dtype not in MANTISSA_BITS:
        raise ToolkitError(f"dtype {dtype!r}: expected one of {', '.join(MANTISSA_BITS)}")
    if engine == "reference":
        if bound > REFERENCE_MAX_STEPS:
            raise ToolkitError(
                f"a {learner.name} prompt of {n} examples may need up to {bound:,} steps, beyond the reference "
                f"simulator's budget of {REFERENCE_MAX_STEPS:,} steps: use fewer examples")
        return Plan(tapes, R, bound, bound)
    limit = steps_exact(MANTISSA_BITS[dtype], R)
    if bound > limit:
        raise PrecisionError(
            f"a {learner.name} prompt of {n} examples ({max(len(t) for t in tapes) + 1} tokens) may need up to "
            f"{bound:,} steps, beyond the {limit:,} steps {dtype} certifies at head range {R}: use fewer examples")
    return Plan(tapes, R, bound, limit)


def run_icl(learner: str | Learner, datasets: Sequence[Dataset], m: int, V: int, engine: str = "transformer",
            dtype: str = "float32", check: bool = True) -> list[ICLResult]:
    """One prediction per dataset, all with one machine (the learner's for (m, V)) in one batched run.

    ``engine='transformer'``: certified decoding to the halt (raises :class:`PrecisionError` at the first
    uncertified step); ``check`` also runs the reference simulator and compares the traces step by step
    (``check=False``: ``equals_reference`` is None). The transformer runs with the full cache (see the
    module docstring). ``engine='reference'``: the reference simulator only, no precision envelope, a step
    budget instead; ``equals_reference`` is None (nothing compared: the run *is* the reference).
    """
    learner = get_learner(learner) if isinstance(learner, str) else learner
    if engine not in ENGINES:
        raise ToolkitError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    datasets = list(datasets)
    if not datasets:
        raise ToolkitError("no datasets: expected at least one")
    for i, d in enumerate(datasets):
        check_dataset(learner, d, m, V, where=f"dataset {i}: " if len(datasets) > 1 else "")
    spec = learner.spec(m, V)
    p = plan(learner, datasets, m, V, dtype, engine)
    refs = None
    if engine == "reference" or check:
        refs = [simulate(spec.machine, p.steps_bound + 1, t) for t in p.tapes]
    if engine == "transformer":
        from ..transformer.decode import run

        results = run([spec.machine] * len(datasets), None, p.tapes, dtype=dtype, head_range=p.head_range,
                      trace=check, cache="full").results
    else:
        results = cast(list[RunResult], refs)  # engine == "reference": computed above
    out = []
    for i, (d, res) in enumerate(zip(datasets, results)):
        answer, extra = decode_with(learner, spec, res, m, V)
        direct = learner.direct(d.examples, d.query, m, V)
        if refs is None or engine == "reference":
            same_ref = None
        else:
            ref = refs[i]
            same_ref = bool(res.trace == ref.trace and res.steps == ref.steps and res.reason == ref.reason
                            and np.array_equal(res.window(ref.min_head, ref.max_head),
                                               ref.window(ref.min_head, ref.max_head)))
        out.append(ICLResult(learner.name, m, V, d, answer, extra, res.steps, len(p.tapes[i]) + 1, engine,
                             same_ref, (answer, extra) == tuple(direct)))
    return out


def random_dataset(learner: str | Learner, n: int, m: int, V: int, rng: np.random.Generator) -> Dataset:
    """conditional: next-token distributions p(. | c) ~ Dirichlet(1) per context, contexts and the query
    uniform; threshold: target threshold uniform in 0..m, inputs and the query uniform, labels
    1[x >= threshold]."""
    learner = get_learner(learner) if isinstance(learner, str) else learner
    learner.check_sizes(m, V)
    if learner.name == "conditional":
        probs = rng.dirichlet(np.ones(V), size=m)
        ctx = rng.integers(m, size=n)
        cdf = np.cumsum(probs, axis=1)
        tok = np.minimum((rng.random(n)[:, None] >= cdf[ctx]).sum(1), V - 1)  # inverse-CDF draws
        return Dataset(np.stack([ctx, tok], 1).astype(np.int64).reshape(-1, 2), int(rng.integers(m)))
    theta = int(rng.integers(m + 1))
    x = rng.integers(m, size=n)
    return Dataset(np.stack([x, (x >= theta).astype(np.int64)], 1).reshape(-1, 2), int(rng.integers(m)))
