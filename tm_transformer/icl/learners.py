"""In-context learners written as Turing machines (with :mod:`tm_transformer.dsl`), each with its tape
encoding, the decoding of its answer, the direct (numpy) computation of the same estimator -- "the
fine-tuned model" fitted to the same examples -- and an a-priori bound on its steps.

``conditional`` (m contexts, V tokens; m, V <= 8). Examples (c_i, y_i), query context q.

    prompt  cell 0: Q_q   cell 1: '?'   cells 2, 3, ...: C_c1 Y_y1 C_c2 Y_y2 ...   (then blank)
            Q_c = 'A'+c (query), C_c = 'a'+c (context), Y_v = '0'+v (token)
    answer  counts[v] = number of cells left of cell 0 holding T_v = 'p'+v or O_v = 'P'+v;
            prediction = the token Y_v at cell 1

The machine sweeps the examples once, consuming each (written 'x'); an example whose context is q has
its token carried left and appended as a tally T_v left of the query (so counts are unary, by symbol).
Then rounds: each round crosses off (T_v -> O_v) one tally of each token v = 0..V-1 in turn and writes
the smallest token that still had one at cell 1; the first round with none left halts. The last
non-empty round holds exactly the tokens of maximal count, so cell 1 ends as the argmax, ties to the
smallest token (token 0 when no example matches). Steps are O(n^2/m + V n max_count).

``threshold`` (inputs x in 0..m-1, m <= 16; labels 0/1): the consistent 1-D threshold learner. The
learned threshold is the smallest positive example (m when there is none), the prediction 1[q >= it]
(consistent with every example when the data are labelled by a threshold; :func:`~.run.run_icl` and
``tmt icl`` refuse data no threshold labels, e.g. (2, 1), (5, 0); the machine itself would still
answer).

    prompt  cell 0: Q_q   cell 1: '?'   cell 2: '='   cells 3, ...: X_x1 L_y1 X_x2 L_y2 ...
            Q_x = 'A'+x, X_x = 'a'+x, L_y = '0'/'1'
    answer  the label L_y at cell 1 (the prediction); cell 2: the learned threshold, X_t ('+' for m)

One sweep right keeps the running minimum in the state, one sweep back writes it; O(n) steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from ..dsl import Builder, Spec
from ..dsl.library import branch, carry_to, compare_cells
from ..errors import ToolkitError

MAX_CONDITIONAL = 8   # contexts and tokens of the conditional learner (one-character symbol names)
MAX_THRESHOLD = 16    # input values of the threshold learner


def _q(c):
    return chr(ord("A") + c)


def _c(c):
    return chr(ord("a") + c)


def _y(v):
    return chr(ord("0") + v)


def _t(v):
    return chr(ord("p") + v)


def _o(v):
    return chr(ord("P") + v)


# ---- conditional --------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def conditional_spec(m: int, V: int) -> Spec:
    """The conditional learner for m contexts and V tokens (see the module docstring)."""
    Q, C, Y, T, O = ([f(i) for i in range(n)] for f, n in ((_q, m), (_c, m), (_y, V), (_t, V), (_o, V)))
    b = Builder(["_", *Q, *C, *Y, *T, *O, "x", "?"], start="start", name=f"conditional(m={m}, V={V})")
    branch(b, "start", {Q[q]: f"seek{q}" for q in range(m)})
    for q in range(m):
        seek = f"seek{q}"
        b.rule(seek, ["?", "x", *T, *Q], move="R", next=seek)      # back over consumed cells and tallies
        compare_cells(b, seek, C[q], C, equal=f"take{q}", different=f"skip{q}", write="x")
        b.rule(seek, "_", move="L", next="rewind")                  # past the last example
        b.rule(f"skip{q}", Y, move="R", next=seek, write="x")
        # take: carry the token left to the first blank and append its tally there, then seek again
        carry_to(b, f"take{q}", {Y[v]: T[v] for v in range(V)}, stop="_", then=seek, move="L", erase="x")
    b.rule("rewind", "x", move="L", next="rewind")
    b.rule("rewind", "?", move="L", next="cross0.-", write=Y[0])  # default prediction: token 0
    for v in range(V):
        for best in ["-", *range(v)]:  # the smallest token crossed off in this round so far
            cross, found = f"cross{v}.{best}", (v if best == "-" else best)
            b.rule(cross, [*Q, *[T[u] for u in range(V) if u != v], *O], move="L", next=cross)
            b.rule(cross, T[v], move="R", next=f"ret{v}.{found}", write=O[v])
            b.rule(cross, "_", move="R", next=f"ret{v}.{best}")
        for best in ["-", *range(v + 1)]:
            ret, nxt = f"ret{v}.{best}", f"next{v}.{best}"
            b.rule(ret, [*T, *O], move="R", next=ret)
            b.rule(ret, Q, move="R", next=nxt)
            if v + 1 < V:
                b.rule(nxt, Y, move="L", next=f"cross{v + 1}.{best}")
            elif best == "-":
                b.rule(nxt, Y, move="R", next="halt")                # a round with nothing left
            else:
                b.rule(nxt, Y, move="L", next="cross0.-", write=Y[best])
    return b.build()


def conditional_encode(examples: np.ndarray, query: int, m: int, V: int) -> list[str]:
    tape = [_q(query), "?"]
    for c, y in examples:
        tape += [_c(int(c)), _y(int(y))]
    return tape


def conditional_decode(spec: Spec, result, m: int, V: int):
    """(counts, prediction) from the final configuration."""
    left = _names(spec, result, result.min_head, -1)
    counts = [sum(s in (_t(v), _o(v)) for s in left) for v in range(V)]
    pred = _names(spec, result, 1, 1)[0]
    return counts, int(ord(pred) - ord("0"))


def conditional_direct(examples: np.ndarray, query: int, m: int, V: int):
    """The empirical conditional counts of tokens after context ``query`` and their argmax (ties: smallest)."""
    ex = np.asarray(examples, dtype=np.int64).reshape(-1, 2)
    counts = np.bincount(ex[ex[:, 0] == query, 1], minlength=V)
    return [int(c) for c in counts], int(np.argmax(counts))


def conditional_steps_bound(n: int, m: int, V: int) -> int:
    """Steps <= 3 n^2 + 12 n + 8 (sweep with carries) + (n + 1) V (2 n + 6) + 1 (rounds)."""
    return 3 * n * n + 12 * n + 8 + (n + 1) * V * (2 * n + 6) + 1


# ---- threshold ----------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def threshold_spec(m: int, V: int = 2) -> Spec:
    """The consistent threshold learner on inputs 0..m-1 (see the module docstring)."""
    Q, X = [_q(x) for x in range(m)], [_c(x) for x in range(m)]
    L = ["0", "1"]
    b = Builder(["_", *Q, *X, *L, "?", "=", "+"], start="start", name=f"threshold(m={m})")
    theta = X + ["+"]                                  # the threshold symbol, t = m written '+'
    b.rule("start", Q, move="R", next="skip")
    b.rules(f"""
        skip  ?  -> R skip
        skip  =  -> R min{m}          ; no positive example yet: threshold m
    """)
    for t in range(m + 1):                             # the smallest positive input so far
        branch(b, f"min{t}", {X[x]: f"label{t}.{min(t, x)}" for x in range(m)})
        b.rule(f"min{t}", "_", move="L", next=f"back{t}")
        for u in range(t + 1):                         # u = min(t, x): the minimum if the label is 1
            if u == t or u < m:
                branch(b, f"label{t}.{u}", {"0": f"min{t}", "1": f"min{u}"})
        b.rule(f"back{t}", [*X, *L], move="L", next=f"back{t}")
        b.rule(f"back{t}", "=", move="L", next=f"pass{t}", write=theta[t])
        b.rule(f"pass{t}", "?", move="L", next=f"decide{t}")
        branch(b, f"decide{t}", {Q[q]: f"say{int(q >= t)}" for q in range(m)})
    for y in (0, 1):
        b.rule(f"say{y}", "?", move="R", next="halt", write=L[y])
    return b.build()


def threshold_encode(examples: np.ndarray, query: int, m: int, V: int = 2) -> list[str]:
    tape = [_q(query), "?", "="]
    for x, y in examples:
        tape += [_c(int(x)), _y(int(y))]
    return tape


def threshold_decode(spec: Spec, result, m: int, V: int = 2):
    """(predicted label, learned threshold) from the final configuration."""
    label, theta = _names(spec, result, 1, 2)
    return int(label), (m if theta == "+" else ord(theta) - ord("a"))


def threshold_direct(examples: np.ndarray, query: int, m: int, V: int = 2):
    ex = np.asarray(examples, dtype=np.int64).reshape(-1, 2)
    pos = ex[ex[:, 1] == 1, 0]
    theta = int(pos.min()) if len(pos) else m
    return int(query >= theta), theta


def threshold_steps_bound(n: int, m: int, V: int = 2) -> int:
    """Steps <= 4 n + 12 (one sweep each way)."""
    return 4 * n + 12


# ---- the registry -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Learner:
    """A learner: its machine for (m, V), prompt encoding, answer decoding, direct computation, step bound.

    ``decode`` / ``direct`` return (answer, extra): conditional (counts, prediction), threshold (label,
    learned threshold)."""

    name: str
    spec: Callable[[int, int], Spec]
    encode: Callable
    decode: Callable
    direct: Callable
    steps_bound: Callable[[int, int, int], int]
    max_m: int
    max_V: int
    description: str

    def prediction(self, answer, extra) -> int:
        return extra if self.name == "conditional" else answer

    def check_sizes(self, m: int, V: int, m_from: str = "--m {}", V_from: str = "--V {}") -> None:
        """``m_from`` / ``V_from`` name where the sizes came from (a flag, or a field of a file), with ``{}``
        where the value goes."""
        if not (isinstance(m, (int, np.integer)) and 1 <= m <= self.max_m):
            raise ToolkitError(f"{m_from.replace('{}', str(m))}: the {self.name} learner takes 1..{self.max_m} "
                               f"{'contexts' if self.name == 'conditional' else 'input values'}")
        if not (isinstance(V, (int, np.integer)) and 2 <= V <= self.max_V):
            raise ToolkitError(f"{V_from.replace('{}', str(V))}: the {self.name} learner takes " +
                               (f"2..{self.max_V} tokens" if self.max_V > 2 else "V = 2 (labels 0 and 1)"))


LEARNERS = {
    "conditional": Learner("conditional", conditional_spec, conditional_encode, conditional_decode,
                           conditional_direct, conditional_steps_bound, MAX_CONDITIONAL, MAX_CONDITIONAL,
                           "counts of each next token after the query context (C1's induction head), argmax"),
    "threshold": Learner("threshold", threshold_spec, threshold_encode, threshold_decode, threshold_direct,
                         threshold_steps_bound, MAX_THRESHOLD, 2,
                         "consistent 1-D threshold learner: threshold = smallest positive input (C3/C4)"),
}


def get_learner(name: str) -> Learner:
    if name not in LEARNERS:
        raise ToolkitError(f"learner {name!r}: expected one of {', '.join(LEARNERS)}")
    return LEARNERS[name]


def _names(spec: Spec, result, lo: int, hi: int) -> list[str]:
    """Cells lo..hi of a final configuration by symbol name."""
    return spec.decode(result.window(lo, hi))


def decode_with(learner: Learner, spec: Spec, result, m: int, V: int):
    """Decode ``result`` of ``spec`` (the learner's machine for (m, V)): (answer, extra)."""
    if result.reason != "halted":
        raise ToolkitError(f"the {learner.name} machine did not halt ({result.reason} after {result.steps} steps): "
                           f"the prompt is not a well-formed {learner.name} prompt")
    return learner.decode(spec, result, m, V)
